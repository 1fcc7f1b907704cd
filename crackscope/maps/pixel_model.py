"""Pixel-model inference: a small fully convolutional network's per-pixel crack probability, and masks from it.

A pixel model is trained by :mod:`crackscope.maps.selftrain` (on pseudo-labels, never on masks) and saved as a
folder with ``pixel_model.safetensors`` and ``pixel_model.json`` (its training settings and, under ``mask``,
the mask settings to map with). This module loads such folders, runs them on photos of any size (in tiles, so
memory stays bounded), averages several (:class:`PixelEnsemble`) and turns their probability into a mask
(:func:`refine_with_pixel_model`).

The network is written here because torchvision does not work on this machine's torch build.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import cv2
import numpy as np
from scipy.special import expit

from crackscope.errors import BadInputError
from crackscope.maps.postprocess import remove_small
from crackscope.maps.refine import RefineOptions, hysteresis_mask, keep_elongated, support_region
from crackscope.models.speed import bf16_supported, inference_copy

MODEL_FILE = "pixel_model.safetensors"
CONFIG_FILE = "pixel_model.json"


class PixelPredictor(Protocol):
    """What maps need of a pixel model: its settings and its per-pixel crack probability."""

    config: dict[str, Any]
    source: str | None

    def predict(self, image: np.ndarray) -> np.ndarray: ...


def _block(cin: int, cout: int) -> Any:
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def halve_by_max(x: Any) -> Any:
    """2x2 max pooling (stride 2) of an N x C x H x W tensor: the values of ``F.max_pool2d(x, 2)``.

    Without gradients and with H and W even it takes the maximum of the four strided views instead: the same values
    (a maximum is exact in any dtype), faster than torch's kernel, which also computes the indices a backward pass
    needs (on this CPU in bf16 channels_last, 2 x 12 x 1152 x 1152: 70.8 -> 12.7 ms, ``benchmarks/bench_pooling.py``).
    Training keeps torch's pooling, whose gradient goes to one element of a tie.
    """
    import torch
    from torch.nn import functional as F

    if torch.is_grad_enabled() or x.shape[-2] % 2 or x.shape[-1] % 2:
        return F.max_pool2d(x, 2)
    rows = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])
    return torch.maximum(rows[..., 0::2], rows[..., 1::2])


def make_pixel_net(width: int = 16) -> Any:
    """A tiny U-Net (3 poolings, ``width``-2w-4w-4w channels): RGB 0..255 -> crack logits 1xHxW (H, W divisible
    by 8)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class PixelNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w1, w2, w3 = width, 2 * width, 4 * width
            self.e1, self.e2, self.e3, self.mid = _block(3, w1), _block(w1, w2), _block(w2, w3), _block(w3, w3)
            self.d3, self.d2, self.d1 = _block(w3 + w3, w2), _block(w2 + w2, w1), _block(w1 + w1, w1)
            self.head = nn.Conv2d(w1, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x / 127.5 - 1.0
            e1 = self.e1(x)
            e2 = self.e2(halve_by_max(e1))
            e3 = self.e3(halve_by_max(e2))
            m = self.mid(halve_by_max(e3))
            d3 = self.d3(torch.cat([F.interpolate(m, scale_factor=2.0), e3], 1))
            d2 = self.d2(torch.cat([F.interpolate(d3, scale_factor=2.0), e2], 1))
            d1 = self.d1(torch.cat([F.interpolate(d2, scale_factor=2.0), e1], 1))
            logits: torch.Tensor = self.head(d1)
            return logits

    return PixelNet()


#: inference tiles (px) and the context margin around each: on a 13 MP photo 1024-px tiles with a 64-px margin run
#: about 2.5x faster than 512/32 (less overlap, fewer calls) and agree more closely with one whole-photo pass
#: (the network's receptive field is about 100 px, so a 32-px margin changed probabilities by up to 0.3)
PREDICT_TILE = 1024
PREDICT_MARGIN = 64


class PixelModel:
    """A trained pixel classifier: ``predict(image) -> float32 HxW crack probability``.

    ``predict`` runs a folded and fused copy of ``net`` (:func:`crackscope.models.speed.inference_copy`), made on
    the first call and kept with this object: train ``net`` further and build a new ``PixelModel`` to predict with
    the new weights."""

    def __init__(self, net: Any, config: dict[str, Any], source: str | None = None) -> None:
        self.net = net.eval()
        self.config = config
        self.source = source
        self._fast: Any = None

    def to(self, device: Any) -> PixelModel:
        """Move the network (and its fused copy) to ``device``; returns self."""
        self.net = self.net.to(device)
        self._fast = None
        return self

    def predict(self, image: np.ndarray, *, tile: int = PREDICT_TILE, margin: int = PREDICT_MARGIN) -> np.ndarray:
        """Crack probability per pixel, computed in overlapping tiles of ``tile`` px (bounded memory).

        Raises
        ------
        ValueError
            If ``image`` is not HxWx3 uint8, or ``tile`` is not a multiple of 8 larger than ``2 * margin``.
        """
        import torch

        if self._fast is None:
            self._fast = inference_copy(self.net)
        net = self._fast
        device = next(net.parameters()).device
        # bf16 autocast where the device runs it natively: 2.4x faster than float32 channels_last on this CPU for
        # a 1024-px tile; masks at the 0.4 threshold differ on 0.3 % of their pixels (measured on DeepCrack)
        bf16 = bf16_supported(device.type)

        def logits(crops: np.ndarray) -> np.ndarray:
            # N x H x W x 3 uint8 seen as N x 3 x H x W is already channels_last: one conversion, on the device
            t = torch.from_numpy(crops).permute(0, 3, 1, 2).to(device).float()
            t = t.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                out: np.ndarray = net(t).float()[:, 0].cpu().numpy()
            return out

        return tiled_probability(image, logits, tile=tile, margin=margin)


def tiled_probability(
    image: np.ndarray,
    logits: Callable[[np.ndarray], np.ndarray],
    *,
    tile: int = PREDICT_TILE,
    margin: int = PREDICT_MARGIN,
    batch_size: int = 1,
) -> np.ndarray:
    """Per-pixel crack probability of a photo of any size from a fully convolutional ``logits`` function, in crops.

    The photo is cut into equal cores (:func:`_even_cores`) with up to ``margin`` px of context on each side; every
    crop of a photo is reflection-padded to one shape (so a backend's plan for the first crop is reused) and
    ``batch_size`` crops go to ``logits`` at a time (an N x H x W x 3 uint8 array in, N x H x W logits out). Each
    pixel's probability comes from the crop whose core holds it. Torch models (:class:`PixelModel`) and exported
    ones (``crackscope.export``) share this function, so both tile alike.

    Raises
    ------
    ValueError
        If ``image`` is not HxWx3 uint8, ``tile`` is not a multiple of 8 larger than ``2 * margin``, or
        ``batch_size`` is not positive.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
    if tile % 8 or tile <= 2 * margin:
        raise ValueError(f"tile must be a multiple of 8 larger than 2 x margin, got {tile}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    h, w = image.shape[:2]
    out = np.zeros((h, w), np.float32)
    ys, th = _even_cores(h, tile, margin)
    xs, tw = _even_cores(w, tile, margin)
    jobs = [(y, ye, x, xe) for y, ye in ys for x, xe in xs]
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start : start + batch_size]
        crops, origins = [], []
        for y, _, x, _ in chunk:
            y0, x0 = max(0, y - margin), max(0, x - margin)
            crop = image[y0 : min(h, y0 + th), x0 : min(w, x0 + tw)]
            ch, cw = crop.shape[:2]
            if (ch, cw) != (th, tw):
                crop = cv2.copyMakeBorder(crop, 0, th - ch, 0, tw - cw, cv2.BORDER_REFLECT_101)
            crops.append(crop)
            origins.append((y0, x0))
        scores = np.asarray(logits(np.stack(crops)), np.float32)
        for (y, ye, x, xe), (y0, x0), score in zip(chunk, origins, scores, strict=True):
            expit(score[y - y0 : ye - y0, x - x0 : xe - x0], out=out[y:ye, x:xe])  # the core only, in one pass
    return out


def _even_cores(length: int, tile: int, margin: int) -> tuple[list[tuple[int, int]], int]:
    """Split ``length`` px into equal cores of at most ``tile - 2 * margin`` px; returns the cores' (start, end)
    and the crop size (core + both margins, a multiple of 8, at most ``tile``; the length itself rounded up to
    8 when one crop covers it). Equal cores waste less than fixed steps: a 3072-px side takes 4 crops of 896 px
    instead of 4 of 1024."""
    if length <= tile:
        return [(0, length)], length + (-length % 8)
    n = -(-length // (tile - 2 * margin))
    core = -(-length // n)
    size = min(tile, core + 2 * margin + (-(core + 2 * margin) % 8))
    return [(i * core, min(length, (i + 1) * core)) for i in range(n) if i * core < length], size


def save_pixel_model(model: PixelModel, out: str | Path) -> Path:
    """Write ``pixel_model.safetensors`` and ``pixel_model.json`` into the folder ``out``."""
    from safetensors.torch import save_file

    from crackscope.io import atomic_path, write_json_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / MODEL_FILE) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}, str(tmp))
    write_json_atomic(out / CONFIG_FILE, model.config)
    return out


P = TypeVar("P", bound=PixelPredictor)


class MeanPrediction(Generic[P]):
    """Several pixel predictors as one: ``predict`` is the mean of their probabilities; ``config`` is the first's,
    ``source`` their sources joined by commas. Torch models (:class:`PixelEnsemble`) and exported ones
    (``crackscope.export.OnnxPixelEnsemble``) average alike.

    Raises
    ------
    ValueError
        If ``models`` is empty.
    """

    def __init__(self, models: Sequence[P]) -> None:
        if not models:
            raise ValueError("an ensemble needs at least one pixel model")
        self.models: list[P] = list(models)
        self.config = self.models[0].config
        self.source: str | None = ",".join(str(m.source) for m in self.models)

    def predict(self, image: np.ndarray) -> np.ndarray:
        total = self.models[0].predict(image)
        for m in self.models[1:]:
            total += m.predict(image)
        return total / np.float32(len(self.models))


class PixelEnsemble(MeanPrediction[PixelModel]):
    """Several torch pixel models as one (:class:`MeanPrediction`), movable to a device."""

    def to(self, device: Any) -> PixelEnsemble:
        """Move every model to ``device``; returns self."""
        for m in self.models:
            m.to(device)
        return self


def pixel_model_refine_options(model: PixelPredictor | dict[str, Any]) -> RefineOptions | None:
    """The mask settings stored with a model (or in its config): ``mask`` (``selftrain --mask-options``), else
    the refinement settings its pseudo-labels were made with (None if neither is recorded)."""
    config = model if isinstance(model, dict) else model.config
    d = config.get("mask", config.get("refine"))
    return RefineOptions.from_dict(d) if isinstance(d, dict) else None


def load_pixel_models(paths: str | Path | Sequence[str | Path]) -> PixelModel | PixelEnsemble:
    """One pixel-model folder, or several (an ensemble: their mean probability)."""
    if isinstance(paths, (str, Path)):
        return load_pixel_model(paths)
    models = [load_pixel_model(p) for p in paths]
    return models[0] if len(models) == 1 else PixelEnsemble(models)


def read_pixel_model_config(path: str | Path) -> dict[str, Any]:
    """The ``pixel_model.json`` of a pixel-model folder.

    Raises
    ------
    BadInputError
        If the folder is not a pixel-model folder or its config is not a JSON object.
    """
    path = Path(path)
    if not (path / MODEL_FILE).is_file() or not (path / CONFIG_FILE).is_file():
        raise BadInputError(path, f"not a pixel-model folder (needs {MODEL_FILE} and {CONFIG_FILE})")
    from crackscope.io import read_json_object

    return read_json_object(path / CONFIG_FILE)


def load_pixel_model(path: str | Path) -> PixelModel:
    """Load a model saved by :func:`~crackscope.maps.selftrain.train_pixel_model` (a pixel-model folder).

    Raises
    ------
    BadInputError
        If the folder is not a pixel-model folder.
    """
    from safetensors.torch import load_file

    path = Path(path)
    config = read_pixel_model_config(path)
    net = make_pixel_net(int(config.get("width", 16)))
    net.load_state_dict(load_file(str(path / MODEL_FILE)))
    return PixelModel(net, config, source=str(path))


def refine_with_pixel_model(
    image: np.ndarray,
    cam: np.ndarray,
    model: PixelPredictor | None,
    *,
    options: RefineOptions | None = None,
    probability: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(soft, mask)``: the pixel model's probability inside the map's region, thresholded at
    ``options.pixel_threshold`` (with ``options.hysteresis``, pixels down to that fraction of it join where they
    connect to pixels at it, :func:`~crackscope.maps.refine.hysteresis_mask`); with ``options.half_max`` the mask
    keeps only pixels whose dark-line response reaches that fraction of its local maximum (the model says *where*,
    the image's line profile says *how wide*); then cleanup (``min_size``, ``max_fill``, ``min_length``). With
    ``options.width_rule_last`` the cleanup comes first and the width rule last (then pieces below
    ``options.trimmed_min_size`` px are dropped), and a joined piece the cleanup drops leaves its pixels at the
    threshold to be judged on their own (joining never loses a crack)."""
    opts = options or RefineOptions()
    cam = np.asarray(cam, np.float32)
    if cam.shape != image.shape[:2]:
        raise ValueError(f"map size {cam.shape} differs from image size {image.shape[:2]}")
    if probability is None:
        if model is None:
            raise ValueError("give a pixel model or its probability map")
        probability = model.predict(image)
    prob = probability
    region = support_region(cam, level=opts.region_level, dilation=opts.region_dilation, floor=opts.region_floor)
    soft = np.where(region, prob, np.float32(0.0)).astype(np.float32)
    mask = soft >= opts.pixel_threshold
    if opts.hysteresis is not None:  # a crack's fainter stretches are kept where they join a stretch at the threshold
        mask = _joined(soft, mask, opts)
    elif opts.width_rule_last:  # pieces are judged before the width rule can split a faint crack into short ones
        mask = _cleanup(mask, opts)
    if opts.half_max is not None:
        mask &= opts.within_width(image)
    if not opts.width_rule_last:
        mask = _cleanup(mask, opts)
    elif opts.trimmed_min_size:
        mask = remove_small(mask, min_size=opts.trimmed_min_size)
    return soft, mask


def _joined(soft: np.ndarray, plain: np.ndarray, opts: RefineOptions) -> np.ndarray:
    """``plain`` (the pixels at the threshold) with the fainter pixels that join them (``opts.hysteresis``). With
    ``opts.width_rule_last`` the pieces are judged here by the cleanup rules, and joining never loses a crack: a
    grown piece the rules drop (joined to the texture around it, it is no longer line-like) leaves its pixels at the
    threshold to be judged on their own."""
    assert opts.hysteresis is not None
    grown = hysteresis_mask(soft, low=opts.hysteresis * opts.pixel_threshold, high=opts.pixel_threshold)
    if not opts.width_rule_last:
        return grown
    kept = _cleanup(grown, opts)
    lost = plain & ~kept  # the threshold's pixels are seeds, so all lie in ``grown``
    if lost.any():
        kept |= _cleanup(lost, opts)
    return kept


def _cleanup(mask: np.ndarray, opts: RefineOptions) -> np.ndarray:
    """``mask`` less its pieces below ``min_size`` and (``max_fill``, ``min_length``) its blob-like or short ones."""
    if opts.min_size:
        mask = remove_small(mask, min_size=opts.min_size)
    if opts.max_fill is not None or opts.min_length:
        mask = keep_elongated(mask, max_fill=opts.max_fill, min_length=opts.min_length)
    return mask
