"""Small image helpers shared by the HTML report and the web app: PNG encoding, data URLs, overlays."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image


def png_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 (HxW or HxWx3) or bool array as PNG bytes."""
    arr = np.asarray(array)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        raise ValueError(f"png_bytes needs uint8 or bool, got {arr.dtype}")
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def data_url(png: bytes, mime: str = "image/png") -> str:
    """A ``data:`` URL for embedding bytes in HTML or JSON."""
    return f"data:{mime};base64,{base64.b64encode(png).decode('ascii')}"


def array_data_url(array: np.ndarray) -> str:
    """An array as a base64 PNG data URL."""
    return data_url(png_bytes(array))


def file_data_url(path: str | Path) -> str:
    """A PNG/JPEG file on disk as a data URL (PNG re-encoded when the file is another format)."""
    path = Path(path)
    raw = path.read_bytes()
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return data_url(raw, "image/png")
    if raw.startswith(b"\xff\xd8\xff"):
        return data_url(raw, "image/jpeg")
    from crackscope.io import read_image

    return array_data_url(read_image(path))


def thumbnail(image: np.ndarray, *, max_side: int = 256) -> np.ndarray:
    """Shrink an image (or mask) so its longer side is at most ``max_side``; never enlarges."""
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    h, w = arr.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return arr
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(arr).resize(size, Image.Resampling.LANCZOS))


def upscale_nearest(image: np.ndarray, *, min_side: int = 128) -> np.ndarray:
    """Enlarge small images with nearest-neighbour so pixels stay visible (never shrinks)."""
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    h, w = arr.shape[:2]
    factor = int(np.ceil(min_side / max(h, w)))
    if factor <= 1:
        return arr
    return np.repeat(np.repeat(arr, factor, axis=0), factor, axis=1)


def heatmap_overlay(
    image: np.ndarray, heat: np.ndarray, *, alpha: float = 0.45, flags: tuple[str, ...] | list[str] = ()
) -> np.ndarray:
    """A [0, 1] map blended over an RGB image (the CAM area's overlay: RGB colormap, flagged maps noted)."""
    from crackscope.cam.overlay import overlay

    return overlay(np.asarray(image, dtype=np.uint8), np.asarray(heat, dtype=np.float32), alpha=alpha, flags=flags)


def display_image(image: np.ndarray, *, max_side: int | None = None, min_side: int = 0) -> np.ndarray:
    """An image (or mask, as 0/255) shrunk to ``max_side`` and small ones enlarged to ``min_side`` (nearest
    neighbour, whole factors): the size the page and the report show."""
    arr = thumbnail(image, max_side=max_side) if max_side else np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    return upscale_nearest(arr, min_side=min_side) if min_side else arr


def numbered_overlay(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    min_side: int = 384,
    max_side: int | None = None,
    ids: list[int] | None = None,
) -> np.ndarray:
    """Cracks outlined and numbered (ids as in the measurements), drawn at display size.

    The image is first brought to its display size (:func:`display_image`: shrunk to ``max_side``, small
    images enlarged to ``min_side``); outlines and numbers are then drawn at that size, so the numbers are as
    legible on a 12-megapixel photo as on a small one. The crack ids come from the full-size ``mask``
    (``label_cracks`` with ``CRACK_LINK_PX``, as :func:`crackscope.maps.measure.measure_cracks`); ``ids`` limits
    the numbering.
    """
    from crackscope.maps.measure import CRACK_LINK_PX
    from crackscope.maps.overlay import crack_anchors, draw_numbers, draw_outline
    from crackscope.maps.postprocess import label_cracks

    image = np.asarray(image, dtype=np.uint8)
    mask = np.asarray(mask, dtype=bool)
    labels, _ = label_cracks(mask, connectivity=2, link=CRACK_LINK_PX)
    anchors = crack_anchors(labels, ids)
    shown = display_image(image, max_side=max_side, min_side=min_side)
    fy, fx = shown.shape[0] / image.shape[0], shown.shape[1] / image.shape[1]
    shown_mask = resize_mask(mask, shown.shape[:2])
    outlined = draw_outline(shown, shown_mask)
    scaled = [(k, int(y * fy + fy / 2), int(x * fx + fx / 2)) for k, y, x in anchors]
    return draw_numbers(outlined, scaled, keep_off=shown_mask)


def resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a bool mask to (H, W) for display, keeping thin cracks (a shrunk pixel is set if any source pixel was)."""
    import cv2

    m = np.asarray(mask, dtype=bool)
    if m.shape == tuple(shape):
        return m
    shrinking = shape[0] * shape[1] < m.shape[0] * m.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_NEAREST
    return cv2.resize(m.astype(np.uint8) * 255, (int(shape[1]), int(shape[0])), interpolation=interp) > 0
