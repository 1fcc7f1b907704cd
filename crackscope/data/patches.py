"""Labelled patches cut from segmentation photos (image + crack mask).

The labelling rule, for a box (y, x, h, w) of a mask:

- cracked (1) when at least ``min_crack_pixels`` crack pixels lie inside the box;
- uncracked (0) only when no crack pixel lies inside the box or within ``margin`` pixels around it
  (the box grown by ``margin`` on every side, clipped to the image);
- otherwise ambiguous (None): a few crack pixels inside, or a crack just outside; such patches are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from crackscope.errors import BadInputError

Box = tuple[int, int, int, int]  # y, x, h, w


@dataclass(frozen=True)
class Patch:
    """A labelled patch: where it was cut from, its label, and its image and mask crops."""

    source: str
    box: Box
    label: int
    image: np.ndarray
    mask: np.ndarray

    @property
    def key(self) -> str:
        y, x, h, w = self.box
        return f"{self.source}#{y},{x},{h},{w}"


def _check_rule(min_crack_pixels: int, margin: int) -> None:
    if int(min_crack_pixels) != min_crack_pixels or min_crack_pixels < 1:
        raise ValueError(f"min_crack_pixels must be a whole number >= 1, got {min_crack_pixels!r}")
    if int(margin) != margin or margin < 0:
        raise ValueError(f"margin must be a whole number >= 0, got {margin!r}")


def _integral(mask: np.ndarray) -> np.ndarray:
    """Summed-area table with a zero first row and column: count in [y0,y1)x[x0,x1) in O(1).

    OpenCV's ``integral`` is about 10x faster here than two numpy cumsums.
    """
    return cv2.integral(np.ascontiguousarray(mask, dtype=np.uint8))


def _counts(table: np.ndarray, y0: np.ndarray, x0: np.ndarray, y1: np.ndarray, x1: np.ndarray) -> list[int]:
    """Crack pixels in each [y0,y1) x [x0,x1) rectangle."""
    counts: list[int] = (table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]).tolist()
    return counts


def label_boxes(mask: np.ndarray, boxes: list[Box], *, min_crack_pixels: int, margin: int) -> list[int | None]:
    """The label (1, 0 or None = ambiguous) of each box, by the module's rule (vectorised over boxes)."""
    _check_rule(min_crack_pixels, margin)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be HxW, got shape {mask.shape}")
    if len(boxes) == 0:
        return []
    height, width = mask.shape
    b = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    y, x, h, w = b.T
    bad = (h < 1) | (w < 1) | (y < 0) | (x < 0) | (y + h > height) | (x + w > width)
    if bad.any():
        raise ValueError(f"box {tuple(int(v) for v in b[bad.argmax()])} is not inside a {height}x{width} mask")
    table = _integral(mask != 0)
    inside = _counts(table, y, x, y + h, x + w)
    near = _counts(
        table,
        np.maximum(y - margin, 0),
        np.maximum(x - margin, 0),
        np.minimum(y + h + margin, height),
        np.minimum(x + w + margin, width),
    )
    return [
        1 if n_in >= min_crack_pixels else (0 if n_near == 0 else None)
        for n_in, n_near in zip(inside, near, strict=False)
    ]


def label_patch(mask: np.ndarray, box: Box, *, min_crack_pixels: int, margin: int) -> int | None:
    """1 (cracked), 0 (uncracked) or None (ambiguous) for one box (y, x, h, w) of a crack mask."""
    y, x, h, w = (int(v) for v in box)
    return label_boxes(mask, [(y, x, h, w)], min_crack_pixels=min_crack_pixels, margin=margin)[0]


def _starts(length: int, size: int, stride: int, cover_edges: bool) -> list[int]:
    if length < size:
        return []
    starts = list(range(0, length - size + 1, stride))
    if cover_edges and starts[-1] + size < length:
        starts.append(length - size)
    return starts


def patch_boxes(height: int, width: int, *, size: int, stride: int, cover_edges: bool = True) -> list[Box]:
    """Square boxes (y, x, size, size) in raster order; with ``cover_edges`` a last row/column is added flush
    with the bottom/right edge when the stride would leave a strip uncovered. Empty if the image is smaller."""
    if int(size) != size or size < 1:
        raise ValueError(f"patch size must be a whole number >= 1, got {size!r}")
    if int(stride) != stride or stride < 1:
        raise ValueError(f"stride must be a whole number >= 1, got {stride!r}")
    ys = _starts(height, size, stride, cover_edges)
    xs = _starts(width, size, stride, cover_edges)
    return [(y, x, size, size) for y in ys for x in xs]


def cut_patches(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    size: int,
    stride: int,
    min_crack_pixels: int,
    margin: int,
    source: str = "",
    cover_edges: bool = True,
) -> list[Patch]:
    """Cut an image and its mask into labelled square patches; ambiguous patches are dropped.

    Each patch keeps its image crop (HxWx3 uint8, a copy) and mask crop (bool), so maps can be scored later.
    """
    image = np.asarray(image)
    mask = np.asarray(mask) != 0
    if image.shape[:2] != mask.shape:
        raise BadInputError(
            source or None,
            f"mask size {mask.shape[1]}x{mask.shape[0]} differs from its image size {image.shape[1]}x{image.shape[0]}",
        )
    boxes = patch_boxes(*mask.shape, size=size, stride=stride, cover_edges=cover_edges)
    labels = label_boxes(mask, boxes, min_crack_pixels=min_crack_pixels, margin=margin)
    patches = []
    for (y, x, h, w), label in zip(boxes, labels, strict=False):
        if label is None:
            continue
        crop = (slice(y, y + h), slice(x, x + w))
        patches.append(
            Patch(source=source, box=(y, x, h, w), label=label, image=image[crop].copy(), mask=mask[crop].copy())
        )
    return patches
