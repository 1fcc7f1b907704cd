"""Checkerboard corruption: six masks that each remove half the pixels (UP-CrackNet's training input)."""

from __future__ import annotations

import numpy as np
import torch

#: Square sides as fractions of the image side (1/2, 1/4, 1/8), each in two complementary phases.
SQUARE_FRACTIONS = (2, 4, 8)


def checkerboard_masks(size: int) -> np.ndarray:
    """The six masks for a ``size`` x ``size`` image as float32 (6, size, size): 1 = kept, 0 = removed.

    Order: (1/2, phase 0), (1/2, phase 1), (1/4, phase 0), (1/4, phase 1), (1/8, phase 0), (1/8, phase 1).
    Each pair sums to 1 everywhere; when ``size`` is a multiple of 16 each mask removes exactly half.
    """
    if size < 8:
        raise ValueError(f"checkerboard masks need an image side of at least 8 px, got {size}")
    idx = np.arange(size)
    masks = []
    for frac in SQUARE_FRACTIONS:
        side = size // frac
        cells = (idx[:, None] // side + idx[None, :] // side) % 2
        for phase in (0, 1):
            masks.append((cells == phase).astype(np.float32))
    return np.stack(masks)


def corrupt(images: torch.Tensor, masks: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """Blank the removed pixels of ``images`` (Nx3xHxW in [-1, 1]) to black (-1) with masks[choice[i]].

    The paper multiplies the uint8 image by the mask, so removed pixels become 0 = -1 after scaling.
    """
    m = masks[choice].unsqueeze(1).to(images.dtype)
    return images * m - (1.0 - m)


def random_choice(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """One of the six masks per image, uniformly at random."""
    return torch.randint(0, len(SQUARE_FRACTIONS) * 2, (n,), generator=generator)
