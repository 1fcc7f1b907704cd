"""Reading images and masks, listing inputs, and writing results atomically with a manifest."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from crackscope.errors import BadInputError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def is_image_file(path: str | Path) -> bool:
    """True when the name has an image extension (content is checked on reading)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _open(path: Path) -> Image.Image:
    if not path.exists():
        raise BadInputError(path, "file not found")
    if path.is_dir():
        raise BadInputError(path, "is a folder, not an image")
    if path.stat().st_size == 0:
        raise BadInputError(path, "empty file")
    try:
        img = Image.open(path)
        img.load()
    except UnidentifiedImageError:
        raise BadInputError(path, "not an image (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadInputError(path, f"corrupt or truncated image ({exc})") from None
    return img


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale 16-bit / float arrays to 8 bits; leave uint8 as is."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):
        maxval = 65535 if arr.max(initial=0) > 255 else 255
        return (arr.astype(np.float64) * (255.0 / maxval)).round().clip(0, 255).astype(np.uint8)
    arr = arr.astype(np.float64)
    hi = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
    return (arr * (255.0 / hi)).round().clip(0, 255).astype(np.uint8)


def pil_to_rgb(img: Image.Image) -> np.ndarray:
    """Any PIL image (grayscale, RGBA, palette, 16-bit) as an HxWx3 uint8 RGB array."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        gray = _to_uint8(np.asarray(img))
        return np.repeat(gray[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def read_image(path: str | Path) -> np.ndarray:
    """Read any supported image as HxWx3 uint8 RGB; raise BadInputError naming the file otherwise."""
    path = Path(path)
    img = _open(path)
    if img.width < 1 or img.height < 1:
        raise BadInputError(path, "image has no pixels")
    return pil_to_rgb(img)


def read_mask(path: str | Path, *, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a crack mask (any 8-bit, 16-bit or 1-bit format) as a bool HxW array: crack = nonzero.

    With ``shape`` (H, W) the mask must match it, else BadInputError names the file and both sizes.
    """
    path = Path(path)
    img = _open(path)
    arr = np.asarray(img)
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=2) if arr.shape[2] >= 3 else arr[..., 0]
    mask: np.ndarray = arr != 0
    if shape is not None and mask.shape != tuple(shape):
        raise BadInputError(
            path, f"mask size {mask.shape[1]}x{mask.shape[0]} differs from its image size {shape[1]}x{shape[0]}"
        )
    return mask


def list_images(inputs: Iterable[str | Path], *, recursive: bool = True) -> list[Path]:
    """Expand files, folders and glob patterns into a sorted list of image paths.

    A named input that does not exist raises BadInputError; folders contribute their image files.
    """
    found: list[Path] = []
    for item in inputs:
        text = str(item)
        p = Path(text)
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            found.extend(q for q in sorted(p.glob(pattern)) if q.is_file() and is_image_file(q))
        elif p.is_file():
            found.append(p)
        elif any(ch in text for ch in "*?["):
            matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
            found.extend(m for m in matches if m.is_file() and is_image_file(m))
        else:
            raise BadInputError(p, "no such file or folder")
    seen: set[Path] = set()
    unique = []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def read_json_object(path: str | Path) -> dict[str, Any]:
    """A JSON file holding one object, as a dict.

    Raises
    ------
    BadInputError
        If the file cannot be read, is not valid JSON, or holds something else than an object.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"unreadable ({exc})") from None
    except json.JSONDecodeError as exc:
        raise BadInputError(path, f"invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadInputError(path, "not a JSON object")
    return data


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_image_atomic(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 (HxW, HxWx3) or bool array as an image; format from the extension."""
    arr = np.asarray(array)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        raise ValueError(f"write_image_atomic needs uint8 or bool, got {arr.dtype}")
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format=_pil_format(path))
    return path


def _pil_format(path: Path) -> str:
    ext = path.suffix.lower()
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}.get(
        ext, "PNG"
    )


def versions() -> dict[str, str]:
    """Versions of Python, the platform and the main libraries, for manifests (read without importing them)."""
    from importlib import metadata

    import crackscope

    out = {"crackscope": crackscope.__version__, "python": sys.version.split()[0], "platform": platform.platform()}
    for dist in ("torch", "numpy", "scikit-image", "scipy", "opencv-python-headless", "pillow", "matplotlib"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def manifest(
    *, command: str, inputs: Iterable[str | Path] = (), settings: dict[str, Any] | None = None
) -> dict[str, object]:
    """A manifest describing how a result was made: command, inputs, settings, versions, time."""
    return {
        "command": command,
        "inputs": [str(p) for p in inputs],
        "settings": settings or {},
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
