"""Helpers for the data tests: tiny image files written on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    """Save an array as an image file (format from the extension); creates parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(array, mode=mode) if mode else Image.fromarray(array)
    img.save(path)
    return path


def gray_image(value: int, size: int = 16) -> np.ndarray:
    return np.full((size, size, 3), value, np.uint8)


def make_folders(root: Path, spec: dict[str, int], *, ext: str = ".png", size: int = 16) -> Path:
    """``root/<folder>/img_NNN<ext>`` tiny images, ``spec[folder]`` of them per folder."""
    for folder, n in spec.items():
        for i in range(n):
            write_image(root / folder / f"img_{i:03d}{ext}", gray_image(40 + 10 * i, size))
    return root
