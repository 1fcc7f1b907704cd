"""Checking uploaded images: size limit, type by content (magic bytes), then crackscope's one reading gate.

After the upload-only checks (the byte limit and the type sniffed from the content, never from the name),
the bytes are decoded by ``crackscope.io.decode_image``, the gate every image of the CLI goes through too:
the same pixel limit check from the header (the API's own limit, ``max_pixels``), the same minimum side
(``crackscope.io.MIN_SIDE``), EXIF orientation, value rule and NaN/negative refusal. So the API and the CLI
give the same answer for the same file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crackscope.errors import BadInputError, TooManyPixelsError
from crackscope.io import MIN_SIDE, decode_image

DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000

# (prefix, offset, format name); checked on the first bytes, never on the file name.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"BM", 0, "BMP"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"WEBP", 8, "WEBP"),
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
)
SUPPORTED = "PNG, JPEG, BMP, TIFF, WebP or GIF"


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
    """Decode uploaded bytes to upright HxWx3 uint8 RGB, or raise UploadError with a clear message.

    413: above ``max_bytes`` or ``max_pixels``; 415: not an image type we read; 422: anything else the
    reading gate refuses (corrupt, truncated, smaller than ``MIN_SIDE``, NaN or negative values, ...).
    """
    name = filename or "upload"
    if not data:
        raise UploadError(422, f"{name}: empty file")
    if len(data) > max_bytes:
        raise UploadError(413, f"{name}: file is {format_mb(len(data))}, above the {format_mb(max_bytes)} limit")
    kind = sniff_format(data)
    if kind is None:
        raise UploadError(415, f"{name}: not a supported image (expected {SUPPORTED}; the content says otherwise)")
    try:
        return decode_image(data, name=name, max_pixels=max_pixels, min_side=MIN_SIDE)
    except TooManyPixelsError as exc:
        raise UploadError(413, f"{name}: {exc.problem}") from None
    except BadInputError as exc:
        raise UploadError(422, f"{name}: {exc.problem}") from None


def format_mb(n_bytes: int) -> str:
    """Bytes as MB (MiB, 1024 x 1024 bytes), the unit of the limits."""
    return f"{n_bytes / 1048576:.1f} MB"
