"""The CAM engine: one forward pass gives predictions and the target layer's activations (and gradients).

A method is a subclass of :class:`CamMethod` that writes one weight function (``weights``) or, for methods that
are not "weighted sum of channels", one map function (``layer_map``). Everything else lives here:

* hooks are registered in a context manager (:func:`capture`) and always removed, also on an exception; every
  module's train/eval flag is restored;
* gradients come from ``torch.autograd.grad(target_sum, activation)``: only the activation's gradient is asked
  for, never a parameter gradient, and no graph is kept. The forward runs under ``no_grad`` up to the target
  layer; the hook turns gradient recording on from the hooked activation onwards, so autograd only records the
  (small) part of the network after the target layer. The input batch needs no ``requires_grad``.

Why the target is the crack *logit* and why no map is ever flipped
------------------------------------------------------------------
The Keras study explained "the predicted class" through a sigmoid output and normalised each map by its own
min and max. For an image predicted below 0.5 the class explained was the *no-crack* side, and the gradient of a
saturated probability (``p(1-p)`` tiny) is close to zero or dominated by noise; the per-image min-max then
stretched whatever sign pattern was left to 0..1, so cracks came out blue on some images. The study patched this
by flipping every map whose mean was below 0.27. The root causes are the choice of class and the sign/scale of
the target, so here: the target is always the crack logit (``target="crack"``; ``"no-crack"`` explicitly
explains the negated logit), maps keep only positive evidence (ReLU), and normalisation never flips.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crackscope.cam.explanation import NON_FINITE, NORMALISE, Explanation, flag_maps, normalise_maps
from crackscope.cam.layers import auto_layer, eval_mode, resolve_layer

TARGETS = ("crack", "no-crack")
PRECISIONS = ("fp32", "bf16")


@dataclass
class _Store:
    activation: Tensor | None = None


@contextlib.contextmanager
def capture(model: nn.Module, module: nn.Module, *, differentiable: bool) -> Iterator[_Store]:
    """Hook ``module``'s output for the duration of the block; model in eval mode, all state restored after.

    With ``differentiable`` the hook replaces the output by a fresh leaf that requires grad and switches gradient
    recording on for the rest of the forward pass (run the forward under ``torch.no_grad()``).
    """
    store = _Store()

    def hook(_module: nn.Module, _inputs: tuple[object, ...], output: object) -> Tensor | None:
        if not isinstance(output, Tensor) or output.ndim != 4:
            raise ValueError(
                f"target layer must output an N x C x H x W tensor, got {type(output).__name__}"
                + (f" of shape {tuple(output.shape)}" if isinstance(output, Tensor) else "")
            )
        if not differentiable:
            store.activation = output
            return None
        leaf = output.detach().requires_grad_(True)
        store.activation = leaf
        torch.set_grad_enabled(True)  # record only from here on; the caller's no_grad() restores the mode
        return leaf.clone()  # a non-leaf copy so later in-place ops (ReLU(inplace=True)) are allowed

    handle = module.register_forward_hook(hook)
    try:
        with eval_mode(model):
            yield store
    finally:
        handle.remove()
        store.activation = None


def target_scores(output: Tensor, target: str | int) -> Tensor:
    """(N,) scores to explain: the crack logit of an N x 1 output (negated for ``"no-crack"``), or a column."""
    if isinstance(target, int):
        if output.ndim != 2 or not 0 <= target < output.shape[1]:
            raise ValueError(f"target index {target} does not fit model output of shape {tuple(output.shape)}")
        return output[:, target]
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS} or a column index, got {target!r}")
    if output.ndim == 2 and output.shape[1] == 1:
        logit = output[:, 0]
    elif output.ndim == 1:
        logit = output
    elif output.ndim == 2 and output.shape[1] == 2:
        logit = output[:, 1] - output[:, 0]  # two-class head: crack-vs-no-crack log-odds
    else:
        raise ValueError(f"expected crack logits N x 1, got model output of shape {tuple(output.shape)}")
    return logit if target == "crack" else -logit


@dataclass
class CamInputs:
    """What a method may use: float32 activations A (N,C,h,w), gradients dS/dA (or None), the batch, scores."""

    activations: Tensor
    gradients: Tensor | None
    scores: Tensor  # (N,) explained scores, float32
    output: Tensor  # full model output, float32
    model: nn.Module
    batch: Tensor
    score_fn: Callable[[Tensor], Tensor]  # batch -> (N,) explained scores (eval mode, no grad)
    chunk_size: int
    target: str | int = "crack"


METHODS: dict[str, type[CamMethod]] = {}


class CamMethod:
    """Base class: ``map = ReLU(sum_k w_k * A_k)``; subclasses give ``weights`` (N,C) or (N,C,h,w).

    Adding a method is one subclass with a ``name`` and one ``weights`` (or ``layer_map``) function: it registers
    itself in ``METHODS`` and is then available to ``explain``, ``create_cam`` and ``crackscope explain``.
    """

    name: ClassVar[str] = ""
    needs_grad: ClassVar[bool] = True
    #: minimum map size for the automatic layer choice (None: the extractor's min_size)
    auto_min_size: ClassVar[int | None] = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            METHODS[cls.name] = cls

    def weights(self, inputs: CamInputs) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define weights() or layer_map()")

    def layer_map(self, inputs: CamInputs) -> Tensor:
        """(N, h, w) map at the target layer's resolution."""
        w = self.weights(inputs)
        if w.ndim == 2:  # channel weights: a batched matrix product, no N x C x h x w temporary
            return torch.relu(torch.einsum("nc,nchw->nhw", w, inputs.activations))
        return torch.relu((w * inputs.activations).sum(1))


class CamExtractor:
    """A method bound to a model and a target layer (chosen per input size when not named)."""

    def __init__(
        self, method: CamMethod, model: nn.Module, *, layer: str | None = None, min_size: int = 8, chunk_size: int = 64
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        if layer is not None:
            resolve_layer(model, layer)
        self.method = method
        self.model = model
        self.layer = layer
        self.min_size = min_size
        self.chunk_size = chunk_size
        self._auto: dict[tuple[int, int], str] = {}

    def layer_for(self, size: tuple[int, int]) -> str:
        """The target layer's name for inputs of ``size`` (H, W)."""
        if self.layer is not None:
            return self.layer
        if size not in self._auto:
            min_size = self.method.auto_min_size or self.min_size
            self._auto[size] = auto_layer(self.model, size, min_size=min_size)
        return self._auto[size]

    def __call__(
        self, batch: Tensor, *, target: str | int = "crack", normalise: str = "image", precision: str = "fp32"
    ) -> Explanation:
        if not isinstance(batch, Tensor) or batch.ndim != 4:
            raise ValueError("batch must be a float tensor N x 3 x H x W (pixel values 0..255)")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if isinstance(target, str) and target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        if normalise not in NORMALISE:
            raise ValueError(f"normalise must be one of {NORMALISE}, got {normalise!r}")
        size = (int(batch.shape[2]), int(batch.shape[3]))
        layer_name = self.layer_for(size)
        module = resolve_layer(self.model, layer_name)
        batch = batch.float().to(_model_device(self.model))  # a run loaded on a GPU explains there
        with capture(self.model, module, differentiable=self.method.needs_grad) as store:
            output, acts, grads = self._forward(batch, store, target, precision)
            scores = target_scores(output, target)

            def score_fn(x: Tensor) -> Tensor:
                with torch.no_grad(), _autocast(precision, x.device):
                    return target_scores(self.model(x).float(), target).float()

            inputs = CamInputs(acts, grads, scores, output, self.model, batch, score_fn, self.chunk_size, target)
            with torch.no_grad():
                low = self.method.layer_map(inputs).float()
        with torch.no_grad():
            # flags on the layer-resolution maps: bilinear upsampling keeps "all <= 0" and "has NaN/inf" as they are
            flags = flag_maps(low)
            maps = F.interpolate(low[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
            normalised = normalise_maps(
                maps, how=normalise, finite=not any(NON_FINITE in f for f in flags), nonnegative=bool(low.min() >= 0)
            )
            logits = target_scores(output, "crack") if not isinstance(target, int) else scores
        return Explanation(
            maps=maps.cpu().numpy(),
            normalised=normalised.cpu().numpy(),
            logits=logits.detach().cpu().numpy().astype("float32"),
            probabilities=torch.sigmoid(logits).detach().cpu().numpy().astype("float32"),
            method=self.method.name,
            layer=layer_name,
            flags=flags,
            target=str(target),
            normalise=normalise,
            layer_maps=low.cpu().numpy(),
        )

    def _forward(
        self, batch: Tensor, store: _Store, target: str | int, precision: str
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        if not self.method.needs_grad:
            with torch.no_grad(), _autocast(precision, batch.device):
                output = self.model(batch)
            acts = _take(store)
            return output.float(), acts.float(), None
        with torch.no_grad():  # the hook switches recording on from the target layer onwards
            with _autocast(precision, batch.device):
                output = self.model(batch)
            acts = _take(store)
            if not output.requires_grad:
                raise ValueError("the model output does not depend on the target layer's output")
            scores = target_scores(output.float(), target)
            (grads,) = torch.autograd.grad(scores.sum(), acts)
        return output.detach().float(), acts.detach().float(), grads.float()


def _model_device(model: nn.Module) -> torch.device:
    from crackscope.devices import module_device

    return module_device(model)


def _take(store: _Store) -> Tensor:
    if store.activation is None:
        raise ValueError("the target layer was not run in the forward pass")
    acts = store.activation
    store.activation = None
    return acts


def _autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[object]:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
