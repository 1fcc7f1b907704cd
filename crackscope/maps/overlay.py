"""Overlays: each crack outlined on the photo in a clear colour and numbered with its id (as in cracks.csv)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

OUTLINE_RGB = (255, 0, 255)  # magenta: rare in concrete, asphalt and masonry
TEXT_RGB = (255, 255, 0)
SHADOW_RGB = (0, 0, 0)


def _sizes(shape: tuple[int, int]) -> tuple[int, float, int]:
    side = min(shape)
    thickness = max(1, round(side / 400))
    font_scale = max(0.35, side / 900)
    return thickness, font_scale, max(1, round(font_scale * 2))


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
    out = np.ascontiguousarray(image.copy())
    if not mask.any():
        return out
    thickness, font_scale, text_thickness = _sizes(image.shape[:2])
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, OUTLINE_RGB, thickness, lineType=cv2.LINE_8)
    h, w = mask.shape
    from scipy import ndimage

    boxes = ndimage.find_objects(labels)
    wanted = range(1, len(boxes) + 1) if ids is None else ids
    for k in wanted:
        if k < 1 or k > len(boxes) or boxes[k - 1] is None:
            continue
        sy, sx = boxes[k - 1]
        ys, xs = np.nonzero(labels[sy, sx] == k)
        y, x = int(ys[0]) + sy.start, int(xs[0]) + sx.start  # topmost pixel of the crack
        text = str(k)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, text_thickness)
        tx = int(np.clip(x + 3 * thickness, 0, max(0, w - tw)))
        ty = int(np.clip(y - 3 * thickness, th, max(th, h - base)))
        for colour, extra in ((SHADOW_RGB, 2 * text_thickness), (TEXT_RGB, text_thickness)):
            cv2.putText(out, text, (tx, ty), cv2.FONT_HERSHEY_SIMPLEX, font_scale, colour, extra, cv2.LINE_AA)
    return out
