"""Does a crack mask sit on its photo? A check for masks turned or mirrored against their photos.

A crack is darker than the surface around it, so the pixels a mask marks should be darker than their
neighbourhood. :func:`mask_alignment` measures that *line depth* (the local mean grey level minus the pixel's,
averaged over the mask's pixels) for the mask as given and for the mask turned 180 degrees, mirrored left to right
and flipped top to bottom: the errors an export or annotation tool makes without changing the mask's size. A mask
is called misaligned when one of those fits the photo clearly better (:data:`MISALIGNED_RULE`).

Found this way: 7 of CRACK500's 377 masks in ``crack500-379`` fit their photo only turned 180 degrees (by 11-62
grey levels of depth), and none of DeepCrack's 300 training masks does. The thresholds (5 grey levels and twice
the depth) were set after looking at those two sets; the check warns, it never changes anybody's data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

#: the mask transformations tried, by the words a report uses for them
TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "turned 180 degrees": lambda m: m[::-1, ::-1],
    "mirrored left to right": lambda m: m[:, ::-1],
    "flipped top to bottom": lambda m: m[::-1, :],
}
#: side of the square window whose mean grey level is a pixel's neighbourhood
WINDOW = 31
#: grey levels by which a transformed mask must fit deeper, and the factor over the depth as given
MIN_GAIN = 5.0
MIN_RATIO = 2.0
MISALIGNED_RULE = (
    f"misaligned when the mask turned 180 degrees, mirrored or flipped sits on lines at least {MIN_GAIN:g} grey "
    f"levels and {MIN_RATIO:g}x deeper (local {WINDOW} px mean minus the pixel, averaged over the mask) than as given"
)
_GRAY = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class MaskAlignment:
    """How well a mask sits on its photo.

    ``depth``: the mask's mean line depth as given (grey levels; about 0 where it marks nothing dark);
    ``best``: the transformation that fits best (None: the mask as given), with ``best_depth``;
    ``misaligned``: whether ``best`` fits clearly better, by :data:`MISALIGNED_RULE`.
    """

    depth: float
    best: str | None
    best_depth: float
    misaligned: bool


def mask_alignment(image: np.ndarray, mask: np.ndarray, *, window: int = WINDOW) -> MaskAlignment:
    """Line depth of ``mask`` on ``image`` as given and turned or mirrored (:data:`TRANSFORMS`), and the verdict.

    Raises
    ------
    ValueError
        If the image and mask differ in size, the mask is empty, or ``window`` is not an odd number >= 3.

    Examples
    --------
    >>> image = np.full((20, 20), 100, np.uint8)
    >>> image[3, :10] = 40  # a dark line at the top left
    >>> mask = np.zeros((20, 20), bool)
    >>> mask[16, :10] = True  # the mask marks the bottom left: it fits only flipped
    >>> result = mask_alignment(image, mask, window=5)
    >>> result.best, result.misaligned
    ('flipped top to bottom', True)
    """
    mask = np.asarray(mask, bool)
    below = _below(image, mask, window)
    depth = float(below[mask].mean())
    best, best_depth = None, depth
    for name, turn in TRANSFORMS.items():
        there = float(below[turn(mask)].mean())
        if there > best_depth:
            best, best_depth = name, there
    misaligned = best is not None and best_depth - depth >= MIN_GAIN and best_depth >= MIN_RATIO * max(depth, 0.0)
    return MaskAlignment(round(depth, 2), best, round(best_depth, 2), bool(misaligned))


def _below(image: np.ndarray, mask: np.ndarray, window: int) -> np.ndarray:
    """How far each pixel lies below the mean grey level of its ``window`` x ``window`` neighbourhood."""
    image = np.asarray(image)
    gray = (image[..., :3].astype(np.float32) @ _GRAY) if image.ndim == 3 else image.astype(np.float32)
    _check(gray, mask, window)
    return cv2.blur(gray, (window, window), borderType=cv2.BORDER_REFLECT) - gray


def _check(gray: np.ndarray, mask: np.ndarray, window: int) -> None:
    if gray.shape != mask.shape:
        raise ValueError(f"image {gray.shape} and mask {mask.shape} differ in size")
    if not mask.any():
        raise ValueError("the mask marks no pixel")
    if window < 3 or window % 2 == 0:
        raise ValueError(f"window must be an odd number >= 3, got {window}")
