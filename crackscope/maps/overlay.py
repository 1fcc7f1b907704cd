"""Overlays: each crack outlined on the photo in a clear colour and numbered with its id (as in cracks.csv).

Numbers are sized to the image (digits about 2.5 % of its longer side, at least 14 px) and written in yellow
with a black outline on a darkened box, so they stay readable on grey concrete, asphalt and masonry.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

OUTLINE_RGB = (255, 0, 255)  # magenta: rare in concrete, asphalt and masonry
TEXT_RGB = (255, 255, 0)
SHADOW_RGB = (0, 0, 0)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_DIGIT_PX_AT_SCALE_1 = 22.0  # height of a digit of FONT_HERSHEY_SIMPLEX at font scale 1
_BOX_DARKEN = 0.35  # the box behind a number keeps this share of the photo's brightness

Anchor = tuple[int, int, int]  # (crack id, y, x): where the number is written


def _outline_thickness(shape: tuple[int, ...]) -> int:
    return max(1, round(min(shape[:2]) / 400))


def _font(shape: tuple[int, ...]) -> tuple[float, int]:
    digit_px = max(14.0, 0.025 * max(shape[:2]))
    font_scale = digit_px / _DIGIT_PX_AT_SCALE_1
    return font_scale, max(1, round(font_scale * 2))


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


def draw_numbers(image: np.ndarray, anchors: Sequence[Anchor]) -> np.ndarray:
    """A copy of the HxWx3 uint8 ``image`` with each anchor's crack id written beside it (up and right),
    kept inside the image: yellow digits, black outline, on a darkened box."""
    out = np.ascontiguousarray(np.asarray(image, dtype=np.uint8).copy())
    h, w = out.shape[:2]
    font_scale, thick = _font(out.shape)
    gap = 3 * _outline_thickness(out.shape)
    pad = max(2, thick)
    for k, y, x in anchors:
        text = str(k)
        (tw, th), base = cv2.getTextSize(text, _FONT, font_scale, thick)
        tx = int(np.clip(x + gap, pad, max(pad, w - tw - pad)))
        ty = int(np.clip(y - gap, th + pad, max(th + pad, h - base - pad)))
        y0, y1 = max(0, ty - th - pad), min(h, ty + base + pad)
        x0, x1 = max(0, tx - pad), min(w, tx + tw + pad)
        out[y0:y1, x0:x1] = (out[y0:y1, x0:x1] * _BOX_DARKEN).astype(np.uint8)
        cv2.putText(out, text, (tx, ty), _FONT, font_scale, SHADOW_RGB, thick + max(2, thick), cv2.LINE_AA)
        cv2.putText(out, text, (tx, ty), _FONT, font_scale, TEXT_RGB, thick, cv2.LINE_AA)
    return out


def draw_overlay(
    image: np.ndarray, mask: np.ndarray, labels: np.ndarray, ids: Sequence[int] | None = None
) -> np.ndarray:
    """The photo with the outline of ``mask`` drawn and each crack ``id`` of ``labels`` written beside it.

    ``labels`` must be ``crackscope.maps.postprocess.label_cracks(mask)``'s labels, so the numbers match the
    measurement ids; ``ids`` limits the numbering to those cracks (default: all).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
    if mask.shape != image.shape[:2] or labels.shape != image.shape[:2]:
        raise ValueError("mask, labels and image must have the same size")
    if not mask.any():
        return np.ascontiguousarray(image.copy())
    return draw_numbers(draw_outline(image, mask), crack_anchors(labels, ids))
