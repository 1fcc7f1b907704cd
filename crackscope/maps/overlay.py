"""Overlays: each crack outlined on the photo in a clear colour and numbered with its id (as in cracks.csv).

Numbers are sized to the image (digits about 2.5 % of its longer side, at least 14 px) and to the space each
crack has (smaller when many cracks share the photo), and written in yellow with a black outline on a darkened
box, so they stay readable on grey concrete, asphalt and masonry. Each number is placed next to its crack where
its box covers no crack and no other number (nearest free place first; a thin leader line joins a number set
further away to its crack), so the numbers of a photo with hundreds of cracks do not hide the outlines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

OUTLINE_RGB = (255, 0, 255)  # magenta: rare in concrete, asphalt and masonry
TEXT_RGB = (255, 255, 0)
SHADOW_RGB = (0, 0, 0)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_DIGIT_PX_AT_SCALE_1 = 22.0  # height of a digit of FONT_HERSHEY_SIMPLEX at font scale 1
_BOX_DARKEN = 0.35  # the box behind a number keeps this share of the photo's brightness
_SPACING_SHARE = 0.15  # digits at most this share of the side of the square each crack has on average
#: where a number may go about its anchor, in order of preference: up-right first, then the other corners, sides
_DIRECTIONS = ((1, -1), (-1, -1), (1, 1), (-1, 1), (1, 0), (-1, 0), (0, -1), (0, 1))
_RINGS = 4  # distances tried: the gap, then 1, 2, 3 box heights further out
_COVER_PENALTY = 1000  # a pixel of another number (its box or leader line) costs as much as this many crack pixels

Anchor = tuple[int, int, int]  # (crack id, y, x): where the number is written


def _outline_thickness(shape: tuple[int, ...]) -> int:
    return max(1, round(min(shape[:2]) / 400))


def _font(shape: tuple[int, ...], n_numbers: int = 1) -> tuple[float, int]:
    """(font scale, thickness): digits 2.5 % of the longer side, smaller when many cracks share the area."""
    spacing = math.sqrt(shape[0] * shape[1] / max(1, n_numbers))
    digit_px = max(14.0, min(0.025 * max(shape[:2]), _SPACING_SHARE * spacing))
    font_scale = digit_px / _DIGIT_PX_AT_SCALE_1
    return font_scale, max(1, round(font_scale * 2))


Box = tuple[int, int, int, int]  # (y0, x0, y1, x1), end exclusive


def _candidate(y: int, x: int, direction: tuple[int, int], distance: int, size: tuple[int, int]) -> Box:
    """The box of ``size`` (h, w) set ``distance`` px from (y, x) in ``direction`` (dx, dy)."""
    (dx, dy), (bh, bw) = direction, size
    x0 = x + distance if dx > 0 else x - distance - bw if dx < 0 else x - bw // 2
    y0 = y + distance if dy > 0 else y - distance - bh if dy < 0 else y - bh // 2
    return y0, x0, y0 + bh, x0 + bw


def _inside(box: Box, shape: tuple[int, int]) -> Box:
    """``box`` shifted to lie inside an image of ``shape`` (cut where it is larger than the image)."""
    y0, x0, y1, x1 = box
    y0 = min(max(0, y0), max(0, shape[0] - (y1 - y0)))
    x0 = min(max(0, x0), max(0, shape[1] - (x1 - x0)))
    return y0, x0, min(shape[0], y0 + box[2] - box[0]), min(shape[1], x0 + box[3] - box[1])


def _nearest(y: int, x: int, box: Box) -> tuple[int, int]:
    """The point of ``box`` nearest to (y, x)."""
    return min(max(y, box[0]), box[2] - 1), min(max(x, box[1]), box[3] - 1)


def _line_cost(y: int, x: int, box: Box, *, gap: int, keep_off: np.ndarray | None, taken: np.ndarray) -> int:
    """What a leader line from (y, x) to ``box`` would cross: crack pixels beyond ``gap`` of its anchor, and
    (weighted) pixels of the numbers written so far."""
    ny, nx = _nearest(y, x, box)
    n = max(abs(ny - y), abs(nx - x)) + 1
    ys = np.rint(np.linspace(y, ny, n)).astype(np.intp)
    xs = np.rint(np.linspace(x, nx, n)).astype(np.intp)
    far = np.hypot(ys - y, xs - x) > gap
    cost = _COVER_PENALTY * int(np.count_nonzero(taken[ys, xs]))
    if keep_off is not None:
        cost += int(np.count_nonzero(keep_off[ys[far], xs[far]]))
    return cost


def _place(
    y: int,
    x: int,
    size: tuple[int, int],
    *,
    shape: tuple[int, int],
    gap: int,
    keep_off: np.ndarray | None,
    taken: np.ndarray,
) -> tuple[Box, bool]:
    """Where a number's box goes: the first candidate whose box covers no crack (within ``gap``) and no pixel
    ``taken`` by an earlier number, and whose leader line (beyond the first ring) crosses neither; else the
    one covering least. Returns the box and whether it is away from the anchor (beyond the first ring)."""
    best: tuple[int, Box, bool] | None = None
    for ring in range(_RINGS):
        distance = gap + ring * size[0]
        for direction in _DIRECTIONS if ring else _DIRECTIONS[:4]:
            box = _inside(_candidate(y, x, direction, distance, size), shape)
            y0, x0, y1, x1 = box
            cost = _COVER_PENALTY * int(np.count_nonzero(taken[y0:y1, x0:x1]))
            if keep_off is not None:
                cost += int(np.count_nonzero(keep_off[max(0, y0 - gap) : y1 + gap, max(0, x0 - gap) : x1 + gap]))
            if ring and (best is None or cost < best[0]):
                cost += _line_cost(y, x, box, gap=gap, keep_off=keep_off, taken=taken)
            if best is None or cost < best[0]:
                best = (cost, box, ring > 0)
            if cost == 0:
                return box, ring > 0
    assert best is not None  # the first ring always gives a candidate
    return best[1], best[2]


def crack_anchors(labels: np.ndarray, ids: Sequence[int] | None = None) -> list[Anchor]:
    """Where each crack's number goes: its topmost pixel (first in raster order), as ``(id, y, x)``.

    ``labels`` are :func:`crackscope.maps.postprocess.label_cracks` labels; ``ids`` limits the list to those
    cracks (default: all); ids without pixels are left out.
    """
    from scipy import ndimage

    boxes = ndimage.find_objects(labels)
    wanted = range(1, len(boxes) + 1) if ids is None else ids
    out: list[Anchor] = []
    for k in wanted:
        if k < 1 or k > len(boxes) or boxes[k - 1] is None:
            continue
        sy, sx = boxes[k - 1]
        ys, xs = np.nonzero(labels[sy, sx] == k)
        out.append((int(k), int(ys[0]) + sy.start, int(xs[0]) + sx.start))
    return out


def draw_outline(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A copy of the HxWx3 uint8 ``image`` with the outline of ``mask`` drawn in :data:`OUTLINE_RGB`."""
    out = np.ascontiguousarray(np.asarray(image, dtype=np.uint8).copy())
    if mask.any():
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, OUTLINE_RGB, _outline_thickness(out.shape), lineType=cv2.LINE_8)
    return out


def draw_numbers(image: np.ndarray, anchors: Sequence[Anchor], *, keep_off: np.ndarray | None = None) -> np.ndarray:
    """A copy of the HxWx3 uint8 ``image`` with each anchor's crack id written beside it, inside the image:
    yellow digits, black outline, on a darkened box.

    A number goes up and to the right of its anchor unless its box would cover a pixel of ``keep_off`` (an HxW
    bool mask, the cracks; None: anything may be covered) or an earlier number; then the next free place of
    the other corners and sides, further out ring by ring, is taken (the least covered one when none is free),
    and a number set beyond the first ring gets a thin leader line to its anchor.

    Raises
    ------
    ValueError
        If ``keep_off`` is not the image's height and width.
    """
    out = np.ascontiguousarray(np.asarray(image, dtype=np.uint8).copy())
    h, w = out.shape[:2]
    if keep_off is not None and keep_off.shape != (h, w):
        raise ValueError(f"keep_off must be {h}x{w} like the image, got {keep_off.shape}")
    font_scale, thick = _font(out.shape, len(anchors))
    gap = 3 * _outline_thickness(out.shape)
    pad = max(2, thick)
    taken = np.zeros((h, w), np.uint8)  # the boxes and leader lines of the numbers written so far (1)
    for k, y, x in anchors:
        text = str(k)
        (tw, th), base = cv2.getTextSize(text, _FONT, font_scale, thick)
        box, away = _place(
            y, x, (th + base + 2 * pad, tw + 2 * pad), shape=(h, w), gap=gap, keep_off=keep_off, taken=taken
        )
        y0, x0, y1, x1 = box
        taken[y0:y1, x0:x1] = 1
        if away:  # a leader line from the anchor to the box's nearest point
            ny, nx = _nearest(y, x, box)
            cv2.line(out, (x, y), (nx, ny), SHADOW_RGB, thick + 2, cv2.LINE_AA)
            cv2.line(out, (x, y), (nx, ny), TEXT_RGB, max(1, thick // 2), cv2.LINE_AA)
            cv2.line(taken, (x, y), (nx, ny), 1, thick + 2)  # later numbers keep off it
        out[y0:y1, x0:x1] = (out[y0:y1, x0:x1] * _BOX_DARKEN).astype(np.uint8)
        origin = (x0 + pad, y0 + pad + th)
        cv2.putText(out, text, origin, _FONT, font_scale, SHADOW_RGB, thick + max(2, thick), cv2.LINE_AA)
        cv2.putText(out, text, origin, _FONT, font_scale, TEXT_RGB, thick, cv2.LINE_AA)
    return out


def draw_overlay(
    image: np.ndarray, mask: np.ndarray, labels: np.ndarray, ids: Sequence[int] | None = None
) -> np.ndarray:
    """The photo with the outline of ``mask`` drawn and each crack ``id`` of ``labels`` written beside it.

    ``labels`` must be ``crackscope.maps.postprocess.label_cracks(mask, link=CRACK_LINK_PX)``'s labels (those of
    :func:`crackscope.maps.measure.measure_cracks`), so the numbers match the measurement ids; ``ids`` limits the
    numbering to those cracks (default: all).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
    if mask.shape != image.shape[:2] or labels.shape != image.shape[:2]:
        raise ValueError("mask, labels and image must have the same size")
    if not mask.any():
        return np.ascontiguousarray(image.copy())
    return draw_numbers(draw_outline(image, mask), crack_anchors(labels, ids), keep_off=mask)
