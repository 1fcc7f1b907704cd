"""Augmentation presets applied alike to an image and its crack mask (the mask stays binary).

- ``none``: unchanged copies.
- ``rot90-flip``: a random one of the 8 rotations/flips of the square (k x 90 degrees, then an optional
  horizontal flip; a vertical flip is one of these too). ``expand_rot90_flip`` instead doubles a training
  list deterministically: every item once as it is and once turned/flipped.
- ``keras-v3``: the Keras recipe ``RandomContrast(0.02)``, ``RandomFlip("horizontal_and_vertical")``,
  ``RandomRotation(0.1)`` (up to 36 degrees), ``RandomZoom(0.1)``, ``RandomTranslation(0.1, 0.1)`` and
  ``GaussianNoise(0.01)`` on the 0..1 scale. The geometric steps are composed into one affine warp
  (OpenCV, reflected borders as in Keras; bilinear for the image, nearest for the mask); contrast and
  noise touch only the image.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import cv2
import numpy as np

from crackscope.data.splits import SplitItem

PRESETS = ("none", "rot90-flip", "keras-v3")

KERAS_V3 = {
    "contrast": 0.02,
    "rotation_degrees": 36.0,
    "zoom": 0.1,
    "translation": 0.1,
    "noise_std": 0.01,
}


def dihedral(array: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """Rotate by ``k`` x 90 degrees counter-clockwise, then flip left-right if ``flip`` (a copy)."""
    out = np.rot90(array, k % 4, axes=(0, 1))
    if flip:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def _check(image: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8, got {image.shape} {image.dtype}")
    if mask is not None:
        mask = np.asarray(mask) != 0
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask shape {mask.shape} differs from image shape {image.shape[:2]}")
    return image, mask


def _affine(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Keras-v3 geometry as one 2x3 matrix: flips, rotation, zoom and translation about the centre."""
    p = KERAS_V3
    fx = -1.0 if rng.random() < 0.5 else 1.0
    fy = -1.0 if rng.random() < 0.5 else 1.0
    angle = np.deg2rad(rng.uniform(-p["rotation_degrees"], p["rotation_degrees"]))
    zoom = 1.0 + rng.uniform(-p["zoom"], p["zoom"])  # Keras: >1 zooms out, i.e. content shrinks
    tx = rng.uniform(-p["translation"], p["translation"]) * width
    ty = rng.uniform(-p["translation"], p["translation"]) * height
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.diag([fx, fy])
    centre = np.array([cx, cy])
    offset = centre + np.array([tx, ty]) - linear @ centre
    return np.hstack([linear, offset[:, None]])


def _keras_v3(
    image: np.ndarray, mask: np.ndarray | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    height, width = image.shape[:2]
    matrix = _affine(height, width, rng)
    size = (width, height)
    out: np.ndarray = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if mask is not None:
        warped = cv2.warpAffine(
            mask.astype(np.uint8), matrix, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT
        )
        mask = warped != 0
    factor = np.float32(1.0 + rng.uniform(-KERAS_V3["contrast"], KERAS_V3["contrast"]))
    mean = np.asarray(cv2.mean(out)[:3], np.float32)  # per-channel mean, much faster than ndarray.mean here
    # (x - mean) * factor + mean + noise, in float32 and in place
    pixels = rng.standard_normal(size=out.shape, dtype=np.float32)
    pixels *= np.float32(KERAS_V3["noise_std"] * 255.0)
    pixels += out * factor
    pixels += mean * (np.float32(1.0) - factor)
    np.rint(pixels, out=pixels)
    np.clip(pixels, 0, 255, out=pixels)
    return pixels.astype(np.uint8), mask


def augment_pair(
    image: np.ndarray, mask: np.ndarray | None, *, preset: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """Augment an HxWx3 uint8 image and its HxW mask (or None) with one preset; returns new arrays."""
    if preset not in PRESETS:
        raise ValueError(f"unknown augmentation preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
    image, mask = _check(image, mask)
    if preset == "none":
        return image.copy(), None if mask is None else mask.copy()
    if preset == "rot90-flip":
        k, flip = int(rng.integers(4)), bool(rng.random() < 0.5)
        return dihedral(image, k, flip), None if mask is None else dihedral(mask, k, flip)
    return _keras_v3(image, mask, rng)


class Item(SplitItem, Protocol):
    """What ``TransformedItem`` and ``expand_rot90_flip`` need of an item (``LabelledItem`` has it): what a
    split needs, its file and its pixels."""

    @property
    def path(self) -> Path: ...

    def load(self) -> np.ndarray: ...

    def load_mask(self) -> np.ndarray | None: ...


ItemT = TypeVar("ItemT", bound=Item)


@dataclass(frozen=True)
class TransformedItem:
    """An item seen through a fixed rotation/flip; same group and label, key ``<key>@r<k>[f]``."""

    item: Item
    k: int
    flip: bool

    @property
    def key(self) -> str:
        return f"{self.item.key}@r{self.k}{'f' if self.flip else ''}"

    @property
    def group(self) -> str:
        return self.item.group

    @property
    def label(self) -> int:
        return self.item.label

    @property
    def path(self) -> Path:
        return self.item.path

    def load(self) -> np.ndarray:
        return dihedral(self.item.load(), self.k, self.flip)

    def load_mask(self) -> np.ndarray | None:
        mask = self.item.load_mask()
        return None if mask is None else dihedral(mask, self.k, self.flip)


def expand_rot90_flip(items: Iterable[ItemT], *, seed: int = 0) -> list[ItemT | TransformedItem]:
    """Double a training list: each item as it is, followed by a copy under one of the 7 non-identity
    rotations/flips, chosen from ``seed``. Use on the training split only."""
    rng = np.random.default_rng(seed)
    out: list[ItemT | TransformedItem] = []
    for item in items:
        choice = int(rng.integers(1, 8))  # 1..7: skip the identity
        out.append(item)
        out.append(TransformedItem(item, choice % 4, choice >= 4))
    return out
