"""Inference: tiled restoration of whole photos and UP-CrackNet's error map (soft map + Otsu mask).

The error map follows the paper's code (``save_error_maps_gray`` + ``img_bilater_Otsu``): grayscale of
the input and of its restoration, each min-max normalised; their absolute difference, min-max normalised
to 0..255; a bilateral filter (d 25, sigmaColor 450, sigmaSpace 15); Otsu's threshold. The filtered map
/ 255 is kept as the soft map (for ODS/OIS).

BatchNorm at inference: like pix2pix's ``test.py`` (which calls ``model.eval()`` only with ``--eval``), the
default ``normalization="batch"`` normalises with the statistics of the tiles being restored, not the
running averages. Measured on the CPU run (benchmarks/results/upcracknet.md): with running averages the
restoration is almost the identity and the error map is tone noise (held-out exact F1 0.081, ODS 2 px 0.094);
with batch statistics the cracks stand out (0.137, ODS 2 px 0.437). Dropout stays off, so a photo's result is
deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# Tiling is shared with the CAM route (crackscope.maps.tiling): same grid, padding and Hann window.
from typing import TYPE_CHECKING

import cv2
import numpy as np

from crackscope.maps.tiling import BlendAccumulator, balanced_chunks, pad_to_tile, tile_grid
from crackscope.unsupervised.config import NORMALIZATIONS

if TYPE_CHECKING:
    import torch


@contextmanager
def normalization_mode(generator: torch.nn.Module, normalization: str = "batch") -> Iterator[None]:
    """Put ``generator`` in inference mode for the block: dropout off; BatchNorm with the statistics of each
    batch (``"batch"``, pix2pix's test default) or its running averages (``"running"``). The running averages
    and the module's train/eval state are restored afterwards, whatever happens in the block."""
    import torch

    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    was_training = generator.training
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [{k: v.clone() for k, v in m.state_dict().items()} for m in norms]
    generator.eval()
    if normalization == "batch":
        for m in norms:
            m.train()
    try:
        yield
    finally:
        for m, state in zip(norms, saved, strict=False):
            m.load_state_dict(state)
        generator.train(was_training)


def restore_image(
    generator: torch.nn.Module,
    image: np.ndarray,
    *,
    tile: int,
    overlap: float = 0.25,
    batch_size: int = 32,
    normalization: str = "batch",
    edge_context: int = 0,
) -> np.ndarray:
    """Restore a whole HxWx3 uint8 photo with overlapping ``tile`` px tiles, Hann-blended; returns uint8.

    ``batch_size`` caps the tiles per forward pass; with ``normalization="batch"`` the tiles are split into
    equal chunks and each chunk is normalised with its own statistics. The tiles run on the generator's device
    (in float32); blending is done on the CPU. ``edge_context`` > 0 mirrors the photo that many px beyond each
    edge before it is tiled, so its border pixels lie inside tiles, where the generator sees around them, instead
    of on the tiles' edges. Off by default: with a quarter tile it lowered ``restorer-thin``'s exact F1 on the
    DeepCrack tune photos from 0.742 to 0.730 (``benchmarks/bench_restorer.py edges``).

    Raises
    ------
    ValueError
        If ``image`` is not an HxWx3 uint8 image with pixels, ``normalization`` is unknown or ``edge_context``
        is negative.
    """
    import torch

    from crackscope.devices import module_device
    from crackscope.unsupervised.data import to_tensor

    image = _check_image(image)
    margin = int(edge_context)
    if margin < 0:
        raise ValueError(f"edge_context must be >= 0, got {edge_context}")
    h, w = image.shape[:2]
    if margin:  # np.pad copies even with nothing to add: the default path keeps the photo as it is
        image = np.pad(image, ((margin, margin), (margin, margin), (0, 0)), mode="symmetric")
    padded = pad_to_tile(image, tile)
    ph, pw = padded.shape[:2]
    blend = BlendAccumulator(ph, pw, tile, channels=3)
    starts = tile_grid(ph, pw, tile=tile, overlap=overlap)
    device = module_device(generator)
    with normalization_mode(generator, normalization), torch.no_grad():
        for chunk in balanced_chunks(list(starts), batch_size):
            x = to_tensor([padded[y : y + tile, x0 : x0 + tile] for y, x0 in chunk]).to(device)
            restored = generator(x).float().permute(0, 2, 3, 1).cpu().numpy()
            for (y, x0), r in zip(chunk, restored, strict=False):
                blend.add(y, x0, r)
    out = np.clip((blend.result() + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out[margin : margin + h, margin : margin + w])


def _minmax(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    if hi - lo < 1e-12:
        return np.zeros_like(a, dtype=np.float32)
    return ((a - lo) / (hi - lo)).astype(np.float32)


def error_map(
    image: np.ndarray, restored: np.ndarray, *, bilateral: tuple[int, float, float] = (25, 450.0, 15.0)
) -> tuple[np.ndarray, np.ndarray]:
    """(soft float32 HxW in [0, 1], mask bool HxW) from a photo and its restoration (both uint8 RGB)."""
    gray_in = _minmax(cv2.cvtColor(image.astype(np.float32) / 127.5 - 1.0, cv2.COLOR_RGB2GRAY))
    gray_out = _minmax(cv2.cvtColor(restored.astype(np.float32) / 127.5 - 1.0, cv2.COLOR_RGB2GRAY))
    err = _minmax(np.abs(gray_in - gray_out))
    err8 = (err * 255).astype(np.uint8)
    d, sigma_color, sigma_space = bilateral
    filtered = cv2.bilateralFilter(err8, int(d), float(sigma_color), float(sigma_space)) if d else err8
    if int(filtered.max()) == int(filtered.min()):
        return filtered.astype(np.float32) * 0.0, np.zeros(filtered.shape, bool)
    _, otsu = cv2.threshold(filtered, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return filtered.astype(np.float32) / 255.0, otsu > 0


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.dtype} {image.shape}")
    if min(image.shape[:2]) < 1:
        raise ValueError("image has no pixels")
    return image
