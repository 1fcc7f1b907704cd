"""The CAM methods: each is one weight function (or one map function) on :class:`CamMethod`.

Notation: A = target-layer activations (N,C,h,w), g = dS/dA with S the explained score (crack logit by
default). Every map is ReLU'd (positive evidence only) by the base class unless a method says otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crackscope.cam.base import METHODS, CamExtractor, CamInputs, CamMethod, target_scores
from crackscope.cam.explanation import Explanation

__all__ = [
    "METHODS",
    "ClassicCAM",
    "EigenCAM",
    "GradCAM",
    "GradCAMPlusPlus",
    "HiResCAM",
    "LayerCAM",
    "ScoreCAM",
    "XGradCAM",
    "create_cam",
    "explain",
]

EPS = 1e-7


def _gradients(inputs: CamInputs) -> Tensor:
    """dS/dA; a gradient method always has them (``needs_grad``)."""
    if inputs.gradients is None:
        raise RuntimeError("this CAM method needs the target layer's gradients, and none were computed")
    return inputs.gradients


class GradCAM(CamMethod):
    """Grad-CAM (Selvaraju et al. 2017): w_k = mean over positions of g_k."""

    name = "gradcam"

    def weights(self, inputs: CamInputs) -> Tensor:
        return _gradients(inputs).mean((2, 3))


class GradCAMPlusPlus(CamMethod):
    """Grad-CAM++ (Chattopadhay et al. 2018), closed form with exponential scores:
    w_k = sum_ij alpha_kij ReLU(g_kij), alpha = g^2 / (2 g^2 + sum_ab A_kab g^3) where g != 0.

    Written here as alpha * ReLU(g) = ReLU(g) / (2 + sum_ab A_kab * ReLU(g)) (the same value wherever g != 0),
    which avoids the underflow of g^2 and g^3 in float32 for small gradients and needs few passes over memory.
    """

    name = "gradcam++"

    def weights(self, inputs: CamInputs) -> Tensor:
        r = torch.relu(_gradients(inputs))  # only g > 0 contributes; alpha * ReLU(g) = r / (2 + S r)
        s = inputs.activations.sum((2, 3), keepdim=True)
        denom = r * s + 2.0
        if bool(s.min() < 0):  # activations that can be negative (a pre-ReLU layer): guard 2 + S r = 0
            denom = torch.where(denom.abs() > EPS, denom, torch.full_like(denom, float("inf")))
        return (r / denom).sum((2, 3))


class XGradCAM(CamMethod):
    """XGrad-CAM (Fu et al. 2020): w_k = sum_ij g_kij A_kij / sum_ij A_kij."""

    name = "xgradcam"

    def weights(self, inputs: CamInputs) -> Tensor:
        a = inputs.activations
        return (_gradients(inputs) * a).sum((2, 3)) / (a.sum((2, 3)) + EPS)


class LayerCAM(CamMethod):
    """LayerCAM (Jiang et al. 2021): per-position weights w_kij = ReLU(g_kij)."""

    name = "layercam"

    def weights(self, inputs: CamInputs) -> Tensor:
        return torch.relu(_gradients(inputs))


class HiResCAM(CamMethod):
    """HiResCAM (Draelos & Carin 2020): per-position weights w_kij = g_kij (element-wise gradient x activation);
    faithful to the score for any head, equal to Grad-CAM for a global-average-pooling + linear head."""

    name = "hirescam"

    def weights(self, inputs: CamInputs) -> Tensor:
        return _gradients(inputs)


class ClassicCAM(CamMethod):
    """CAM (Zhou et al. 2016) for heads of global average pooling + one Linear: w_k = the Linear's weight for
    the explained output. The head is checked numerically on the batch: the final Linear applied to the spatial
    mean of A must give the model output, otherwise a ValueError says to use a gradient method."""

    name = "cam"
    needs_grad = False
    auto_min_size = 1  # the layer feeding the pooling, whatever its size

    def weights(self, inputs: CamInputs) -> Tensor:
        linear = _final_linear(inputs.model)
        a = inputs.activations
        c = a.shape[1]
        if linear is None or linear.in_features != c:
            raise ValueError(
                f"classic CAM needs a head of global average pooling + one Linear over the {c} channels of the "
                "target layer; this model has none: use gradcam or gradcam++"
            )
        w = linear.weight.detach().float()
        b = linear.bias.detach().float() if linear.bias is not None else torch.zeros(w.shape[0], device=w.device)
        predicted = a.mean((2, 3)) @ w.T + b
        out = inputs.output.reshape(a.shape[0], -1)
        if predicted.shape != out.shape or not torch.allclose(predicted, out, rtol=2e-2, atol=2e-2):
            raise ValueError(
                "classic CAM needs the model output to be Linear(global-average-pool(target layer)); it is not "
                "for this model/layer: use gradcam or gradcam++ (or name the layer that feeds the pooling)"
            )
        # d(score)/d(pooled features): the Linear's weight row, signed like the explained score.
        pooled = a.mean((2, 3)).detach().requires_grad_(True)
        with torch.enable_grad():
            score = target_scores(pooled @ w.T + b, inputs.target)
            (weight,) = torch.autograd.grad(score.sum(), pooled)
        return weight


def _final_linear(model: nn.Module) -> nn.Linear | None:
    last = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            last = module
    return last


class ScoreCAM(CamMethod):
    """Score-CAM (Wang et al. 2020): each channel, min-max scaled and upsampled, masks the input; w_k = softmax
    over channels of (score(X * M_k) - score(X)). The N*C masked images run in batches of ``chunk_size`` to bound
    memory. (Same definition as torchcam's ScoreCAM.)"""

    name = "scorecam"
    needs_grad = False

    def weights(self, inputs: CamInputs) -> Tensor:
        a, x = inputs.activations, inputs.batch
        n, c = a.shape[:2]
        flat = a.flatten(2)
        lo, hi = flat.amin(2, keepdim=True), flat.amax(2, keepdim=True)
        masks = ((flat - lo) / (hi - lo + 1e-8)).view_as(a)  # (N,C,h,w) in [0,1]
        deltas = torch.empty(n * c, device=a.device)
        sample = torch.arange(n, device=a.device).repeat_interleave(c)
        channels = masks.flatten(0, 1)[:, None]  # (N*C,1,h,w)
        for start in range(0, n * c, inputs.chunk_size):
            stop = min(start + inputs.chunk_size, n * c)
            up = F.interpolate(channels[start:stop], size=x.shape[2:], mode="bilinear", align_corners=False)
            idx = sample[start:stop]
            deltas[start:stop] = inputs.score_fn(x[idx] * up) - inputs.scores[idx]
        return torch.softmax(deltas.view(n, c), dim=1)


class EigenCAM(CamMethod):
    """Eigen-CAM (Muhammad & Yeasin 2020): projection of the (centred) activations on their first principal
    component. A principal component has no sign of its own; it is oriented towards the mean activation (more
    activation = more evidence), so the map is never flipped at random. Class-agnostic: the target is ignored."""

    name = "eigencam"
    needs_grad = False

    def layer_map(self, inputs: CamInputs) -> Tensor:
        a = inputs.activations
        n, _, h, w = a.shape
        x = a.flatten(2).transpose(1, 2)  # (N, hw, C)
        centred = x - x.mean(1, keepdim=True)
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)
        v = vh[:, 0, :]  # (N, C)
        sign = torch.sign((v * x.mean(1)).sum(1, keepdim=True))
        v = v * torch.where(sign == 0, torch.ones_like(sign), sign)
        projection = (centred @ v[:, :, None])[..., 0]
        return torch.relu(projection).view(n, h, w)


# Every CamMethod subclass with a name is in METHODS (registered by CamMethod.__init_subclass__).


def create_cam(
    name: str, model: nn.Module, *, layer: str | None = None, min_size: int = 8, chunk_size: int = 64
) -> CamExtractor:
    """An extractor for method ``name`` on ``model``; call it on batches: ``create_cam("gradcam", m)(x)``.

    Parameters
    ----------
    name : str
        A method of :data:`METHODS`.
    model : nn.Module
        The classifier (crack logits N x 1, or two-class N x 2).
    layer : str or None
        The target layer's name (``crackscope layers RUN`` lists them); None: chosen per input size.
    min_size : int
        Smallest map side for the automatic layer choice.
    chunk_size : int
        Masked images per forward pass (Score-CAM).

    Returns
    -------
    CamExtractor
        The method bound to the model.

    Raises
    ------
    ValueError
        If ``name`` is no known method, ``layer`` no layer of the model or ``chunk_size`` below 1.
    """
    try:
        method = METHODS[name]()
    except KeyError:
        raise ValueError(f"unknown CAM method {name!r}; known: {', '.join(METHODS)}") from None
    return CamExtractor(method, model, layer=layer, min_size=min_size, chunk_size=chunk_size)


def explain(
    model: nn.Module,
    batch: Tensor,
    *,
    method: str = "gradcam++",
    target: str | int = "crack",
    layer: str | None = None,
    normalise: str = "image",
    precision: str = "fp32",
    chunk_size: int = 64,
) -> Explanation:
    """Explain a batch in one forward pass.

    For repeated batches, or another ``min_size`` of the automatic layer choice, make the extractor once with
    :func:`create_cam` and call it on each batch.

    Parameters
    ----------
    model : nn.Module
        The classifier (crack logits N x 1, or two-class N x 2).
    batch : Tensor
        N x 3 x H x W, pixel values 0..255.
    method : str
        A method of :data:`METHODS`.
    target : str or int
        ``"crack"`` (the crack logit), ``"no-crack"`` (its negation) or a column of the model output.
    layer : str or None
        The target layer's name; None: the automatic choice for the input size.
    normalise : str
        ``"image"``, ``"batch"`` or ``"none"`` (:data:`~crackscope.cam.explanation.NORMALISE`), for
        ``Explanation.normalised``.
    precision : str
        ``"fp32"`` or ``"bf16"`` (autocast forward; maps in float32).
    chunk_size : int
        Masked images per forward pass (Score-CAM).

    Returns
    -------
    Explanation
        Raw and normalised maps, logits, probabilities and flags of the batch.

    Raises
    ------
    ValueError
        If an argument is not one of its allowed values, the layer is not in the model, or the batch is not
        N x 3 x H x W.
    """
    extractor = create_cam(method, model, layer=layer, chunk_size=chunk_size)
    return extractor(batch, target=target, normalise=normalise, precision=precision)
