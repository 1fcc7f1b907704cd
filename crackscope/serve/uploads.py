"""Checking uploaded images: size limit, type by content (magic bytes), pixel limit, corrupt data."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from crackscope.io import pil_to_rgb

DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000
MIN_SIDE = 8

# (prefix, offset, format name); checked on the first bytes, never on the file name.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"BM", 0, "BMP"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"WEBP", 8, "WEBP"),
)
SUPPORTED = "PNG, JPEG, BMP, TIFF or WebP"


@dataclass
class UploadError(Exception):
    """A bad upload: an HTTP status (413, 415, 422) and a message for the user."""

    status_code: int
    message: str

    def __str__(self) -> str:
        return self.message


def sniff_format(data: bytes) -> str | None:
    """The image format the content's magic bytes announce, or None."""
    for magic, offset, name in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if name == "WEBP" and not data.startswith(b"RIFF"):
                continue
            return name
    return None


def decode_upload(
    data: bytes,
    *,
    filename: str = "upload",
    max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decode uploaded bytes to HxWx3 uint8 RGB, or raise UploadError with a clear message."""
    name = filename or "upload"
    if not data:
        raise UploadError(422, f"{name}: empty file")
    if len(data) > max_bytes:
        raise UploadError(413, f"{name}: file is {format_mb(len(data))}, above the {format_mb(max_bytes)} limit")
    kind = sniff_format(data)
    if kind is None:
        raise UploadError(415, f"{name}: not a supported image (expected {SUPPORTED}; the content says otherwise)")
    try:
        with warnings.catch_warnings():
            # We enforce our own pixel limit below, before any pixel is decoded.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise UploadError(
                    413,
                    f"{name}: image is {width}x{height} = {width * height / 1e6:.1f} MP, "
                    f"above the {max_pixels / 1e6:.1f} MP limit",
                )
            if min(width, height) < MIN_SIDE:
                raise UploadError(422, f"{name}: image is {width}x{height}, smaller than {MIN_SIDE} px on a side")
            img.load()
            # Phone photos store their rotation in EXIF: show and measure them upright.
            img = ImageOps.exif_transpose(img) or img
    except UploadError:
        raise
    except Image.DecompressionBombError as exc:
        raise UploadError(413, f"{name}: image has too many pixels ({exc})") from None
    except UnidentifiedImageError:
        raise UploadError(422, f"{name}: looks like {kind} but cannot be read (corrupt header)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UploadError(422, f"{name}: corrupt or truncated {kind} image ({exc})") from None
    try:
        return pil_to_rgb(img)
    except (OSError, ValueError) as exc:
        raise UploadError(422, f"{name}: cannot convert {kind} image to RGB ({exc})") from None


def format_mb(n_bytes: int) -> str:
    """Bytes as MB (MiB, 1024 x 1024 bytes), the unit of the limits."""
    return f"{n_bytes / 1048576:.1f} MB"
