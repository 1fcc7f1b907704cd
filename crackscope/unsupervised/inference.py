"""Inference: tiled restoration of whole photos and UP-CrackNet's error map (soft map + Otsu mask).

The error map follows the paper's code (``save_error_maps_gray`` + ``img_bilater_Otsu``): grayscale of
the input and of its restoration, each min-max normalised; their absolute difference, min-max normalised
to 0..255; a bilateral filter (d 25, sigmaColor 450, sigmaSpace 15); Otsu's threshold. The filtered map
/ 255 is kept as the soft map (for ODS/OIS).
"""

from __future__ import annotations

import cv2
import numpy as np

# Tiling is shared with the CAM route (crackscope.maps.tiling): same grid, padding and Hann window.
from crackscope.maps.tiling import batched, hann_window, pad_to_tile, tile_grid


def restore_image(generator, image: np.ndarray, *, tile: int, overlap: float = 0.25, batch_size: int = 8) -> np.ndarray:
    """Restore a whole HxWx3 uint8 photo with overlapping ``tile`` px tiles, Hann-blended; returns uint8."""
    import torch

    from crackscope.unsupervised.data import to_tensor

    image = _check_image(image)
    h, w = image.shape[:2]
    padded = pad_to_tile(image, tile)
    ph, pw = padded.shape[:2]
    window = hann_window(tile)[..., None]
    total = np.zeros((ph, pw, 3), np.float32)
    weight = np.zeros((ph, pw, 1), np.float32)
    starts = tile_grid(ph, pw, tile=tile, overlap=overlap)
    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad():
            for chunk in batched(starts, batch_size):
                x = to_tensor([padded[y : y + tile, x0 : x0 + tile] for y, x0 in chunk])
                restored = generator(x).permute(0, 2, 3, 1).numpy()
                for (y, x0), r in zip(chunk, restored):
                    total[y : y + tile, x0 : x0 + tile] += window * r
                    weight[y : y + tile, x0 : x0 + tile] += window
    finally:
        generator.train(was_training)
    blended = total / np.maximum(weight, 1e-8)
    out = np.clip((blended + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out[:h, :w])


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
