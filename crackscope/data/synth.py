"""Synthetic concrete-like images with cracks and exact masks (first version; to be made realistic)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from scipy import ndimage


def generate_pair(rng: np.random.Generator, size: int = 256, *, cracked: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One image (size x size x 3 uint8 RGB) and its exact crack mask (size x size bool)."""
    base = rng.uniform(110, 170)
    noise = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), 1.0) * 12
    img = np.full((size, size), base) + noise
    mask = np.zeros((size, size), bool)
    if cracked:
        yy, xx = np.mgrid[:size, :size]
        y, x = rng.uniform(0, size), 0.0
        angle = rng.uniform(-0.6, 0.6)
        width = rng.uniform(1, 4)
        while 0 <= x < size and 0 <= y < size:
            r = max(width / 2, 0.5)
            sl = (slice(max(int(y - r - 1), 0), int(y + r + 2)), slice(max(int(x - r - 1), 0), int(x + r + 2)))
            mask[sl] |= (yy[sl] - y) ** 2 + (xx[sl] - x) ** 2 <= r * r
            angle += rng.normal(0, 0.25)
            width = float(np.clip(width + rng.normal(0, 0.3), 1, 8))
            x += np.cos(angle)
            y += np.sin(angle)
        img = np.where(mask, img * 0.35, img)
    rgb = np.clip(np.stack([img, img * 0.98, img * 0.95], axis=2), 0, 255).astype(np.uint8)
    return rgb, mask


def synthesize(out: str | Path, *, n: int, size: int = 256, seed: int = 0) -> Path:
    """Write ``n`` images to OUT/images, exact 0/255 masks to OUT/masks and OUT/labels.csv."""
    from crackscope.io import write_image_atomic

    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        cracked = i % 2 == 0
        img, mask = generate_pair(rng, size, cracked=cracked)
        name = f"synth_{i:05d}.png"
        write_image_atomic(out / "images" / name, img)
        write_image_atomic(out / "masks" / name, mask)
        rows.append((name, "cracked" if mask.any() else "uncracked"))
    with open(out / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["filename", "class"])
        w.writerows(rows)
    return out
