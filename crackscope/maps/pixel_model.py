"""Pixel-model inference: a small fully convolutional network's per-pixel crack probability, and masks from it.

A pixel model is trained by :mod:`crackscope.maps.selftrain` (on pseudo-labels, never on masks) and saved as a
folder with ``pixel_model.safetensors`` and ``pixel_model.json`` (its training settings and, under ``mask``,
the mask settings to map with). This module loads such folders, runs them on photos of any size (in tiles, so
memory stays bounded), averages several (:class:`PixelEnsemble`) and turns their probability into a mask
(:func:`refine_with_pixel_model`).

The network is written here because torchvision does not work on this machine's torch build.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from crackscope.errors import BadInputError
from crackscope.maps.postprocess import remove_small
from crackscope.maps.refine import RefineOptions, keep_elongated, support_region

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
            e2 = self.e2(F.max_pool2d(e1, 2))
            e3 = self.e3(F.max_pool2d(e2, 2))
            m = self.mid(F.max_pool2d(e3, 2))
            d3 = self.d3(torch.cat([F.interpolate(m, scale_factor=2.0), e3], 1))
            d2 = self.d2(torch.cat([F.interpolate(d3, scale_factor=2.0), e2], 1))
            d1 = self.d1(torch.cat([F.interpolate(d2, scale_factor=2.0), e1], 1))
            logits: torch.Tensor = self.head(d1)
            return logits

    return PixelNet()


class PixelModel:
    """A trained pixel classifier: ``predict(image) -> float32 HxW crack probability``."""

    def __init__(self, net: Any, config: dict[str, Any], source: str | None = None) -> None:
        self.net = net.eval()
        self.config = config
        self.source = source

    def predict(self, image: np.ndarray, *, tile: int = 512, margin: int = 32) -> np.ndarray:
        """Crack probability per pixel, computed in overlapping tiles of ``tile`` px (bounded memory)."""
        import torch

        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
        if tile % 8 or tile <= 2 * margin:
            raise ValueError(f"tile must be a multiple of 8 larger than 2 x margin, got {tile}")
        h, w = image.shape[:2]
        out = np.zeros((h, w), np.float32)
        step = tile - 2 * margin
        with torch.inference_mode():
            for y in range(0, h, step):
                for x in range(0, w, step):
                    y0, x0 = max(0, y - margin), max(0, x - margin)
                    y1, x1 = min(h, y + step + margin), min(w, x + step + margin)
                    crop = image[y0:y1, x0:x1]
                    ch, cw = crop.shape[:2]
                    ph, pw = -ch % 8, -cw % 8
                    if ph or pw:
                        crop = cv2.copyMakeBorder(crop, 0, ph, 0, pw, cv2.BORDER_REFLECT_101)
                    t = torch.from_numpy(np.ascontiguousarray(crop, np.float32)).permute(2, 0, 1)[None]
                    prob = torch.sigmoid(self.net(t))[0, 0, :ch, :cw].numpy()
                    ys, xs = y - y0, x - x0
                    ye, xe = min(h, y + step) - y0, min(w, x + step) - x0
                    out[y : y + (ye - ys), x : x + (xe - xs)] = prob[ys:ye, xs:xe]
        return out


def save_pixel_model(model: PixelModel, out: str | Path) -> Path:
    """Write ``pixel_model.safetensors`` and ``pixel_model.json`` into the folder ``out``."""
    from safetensors.torch import save_file

    from crackscope.io import atomic_path, write_json_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / MODEL_FILE) as tmp:
        save_file({k: v.contiguous() for k, v in model.net.state_dict().items()}, str(tmp))
    write_json_atomic(out / CONFIG_FILE, model.config)
    return out


class PixelEnsemble:
    """Several pixel models as one: ``predict`` is the mean of their probabilities; ``config`` is the first's."""

    def __init__(self, models: Sequence[PixelModel]) -> None:
        if not models:
            raise ValueError("an ensemble needs at least one pixel model")
        self.models = list(models)
        self.config = self.models[0].config
        self.source: str | None = ",".join(str(m.source) for m in self.models)

    def predict(self, image: np.ndarray) -> np.ndarray:
        total = self.models[0].predict(image)
        for m in self.models[1:]:
            total += m.predict(image)
        return total / np.float32(len(self.models))


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
    ``options.pixel_threshold``; with ``options.half_max`` the mask keeps only pixels whose dark-line response
    reaches that fraction of its local maximum (the model says *where*, the image's line profile says *how
    wide*); then cleanup (``min_size``, ``max_fill``, ``min_length``)."""
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
    if opts.half_max is not None:
        response = opts.response(image)
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * opts.half_max_radius + 1,) * 2)
        mask &= response >= opts.half_max * cv2.dilate(response, k)
        del response
    if opts.min_size:
        mask = remove_small(mask, min_size=opts.min_size)
    if opts.max_fill is not None or opts.min_length:
        mask = keep_elongated(mask, max_fill=opts.max_fill, min_length=opts.min_length)
    return soft, mask
