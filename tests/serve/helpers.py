"""Helpers of the serve tests: photos encoded as upload bytes, a free local port."""

from __future__ import annotations

import io
import socket

import numpy as np
from PIL import Image


def encode(array: np.ndarray, fmt: str = "PNG", **options: object) -> bytes:
    """An image array as the bytes of a PNG (or ``fmt``) file."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **options)
    return buf.getvalue()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
