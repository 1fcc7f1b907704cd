"""Reading images and masks, listing inputs, and writing results atomically with a manifest.

Reading rules: one gate for every image crackscope reads
--------------------------------------------------------
The CLI, the web API's upload decoder, training and scoring all read pixels through ``read_image``,
``read_mask`` (or ``read_mask_and_warnings``), ``decode_image`` and ``image_shape`` here, so the same file
gives the same pixels, or the same refusal (a ``BadInputError`` naming the file and saying why), everywhere.

1. **Checked from the header, before any pixel is decoded.** A file is refused when it is missing, a folder,
   not a regular file (a FIFO, a socket, a device), empty, or declares more than ``max_pixels`` pixels
   (keyword parameter; default ``DEFAULT_MAX_PIXELS`` = 100 megapixels; the web API passes its own limit):
   ``TooManyPixelsError`` (a ``BadInputError``), "... megapixels, above the limit of ... megapixels". A
   file Pillow itself calls a decompression bomb is refused the same way; Pillow's
   ``DecompressionBombWarning`` never escapes (the limit above decides). Images with a side shorter than
   ``MIN_SIDE`` (8 px, the web API's minimum too) are refused; masks only need one pixel.
2. **Upright.** The EXIF orientation is applied (``PIL.ImageOps.exif_transpose``) to images and masks alike,
   so sizes, masks and maps are those of the upright picture (``image_shape`` reports the upright size too).
3. **Pixel values, one rule** (``pil_to_rgb``): images become HxWx3 uint8 RGB.

   - 8-bit grey and RGB are kept; 1-bit becomes 0/255; a palette image takes its colours;
   - alpha (RGBA, LA, PA, a palette or grey/RGB image with a transparent colour) is composited on white;
   - CMYK, YCbCr, LAB and HSV go through Pillow's conversion to RGB;
   - integer grey images (16- or 32-bit) are kept when no value exceeds 255, otherwise scaled from 16 bits
     (x 255 / 65535, rounded; values above 65535 clipped to 255);
   - float grey images are read as 0..1 when no value exceeds 1 (x 255, rounded), otherwise as 0..255 with
     values above 255 clipped;
   - NaN or infinite values are refused, and so are **negative** values (float or integer): they are not
     brightness, and clipping them would turn measurements into a black photo that still gets a prediction.
4. **Masks, one rule** (``read_mask``): a bool HxW array, crack = a nonzero value (the largest colour channel
   of RGB masks, palette masks by their colours, alpha ignored; the value checks of rule 3 apply). For lossy
   formats (JPEG, WebP) compression noise is not crack: crack = value >= 128, with a ``CrackscopeWarning``
   naming the file. A mask that is crack everywhere is read but warned about (inverted or blank?).

Listing inputs (``list_images``): named files are taken whatever their extension (the content decides);
folders contribute their files with an image extension (``IMAGE_EXTENSIONS``), never following symbolic links
to folders (no loops); a FIFO or other special file, a symbolic link loop or a broken link named on the
command line is a ``BadInputError`` saying so.

Writing (``atomic_path``): results are written to a temporary file in the same folder, named
``TEMP_PREFIX`` + 8 random characters + the final extension (short, so it fits wherever the final name
fits), then renamed over the final name; ``remove_stale_temporary_files`` deletes the ones a killed run
left behind.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import io
import json
import os
import platform
import re
import stat
import struct
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from crackscope.errors import BadInputError, CrackscopeWarning, TooManyPixelsError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")
DEFAULT_MAX_PIXELS = 100_000_000
"""The pixel limit of ``read_image``/``read_mask``/``image_shape`` (100 megapixels), checked from the header."""
MIN_SIDE = 8
"""The shortest side, in pixels, of an image crackscope classifies or maps (the web API's minimum too)."""
LOSSY_FORMATS = frozenset({"JPEG", "MPO", "WEBP"})
LOSSY_MASK_THRESHOLD = 128
"""Crack threshold of masks in a lossy format: value >= 128 (other masks: any nonzero value)."""
TEMP_PREFIX = ".crackscope-tmp-"
"""Name prefix of the temporary files of ``atomic_path`` (see ``remove_stale_temporary_files``)."""

_MAX_TEMP_SUFFIX = 12  # longest final extension kept on a temporary file name
_STARTED = time.time()  # when this process imported crackscope.io: "the current run" for stale temporary files
_READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")
_GRAY_DEEP_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_MASK_NATIVE_MODES = ("1", "L", "LA", "La", "RGB", "RGBA", "RGBa", "RGBX", *_GRAY_DEEP_MODES)
_ORIENTATION_TAG = 0x0112


def is_image_file(path: str | Path) -> bool:
    """True when the name has an image extension (content is checked on reading)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _megapixels(n: float) -> str:
    mp = n / 1e6
    return f"{mp:.1f}" if mp >= 0.1 else f"{mp:.2g}"


_SPECIAL_FILES = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _file_kind(mode: int) -> str:
    return next((kind for test, kind in _SPECIAL_FILES if test(mode)), "a special file")


def _stat_problem(path: Path, exc: OSError) -> BadInputError:
    """The BadInputError for a path that ``os.stat`` cannot follow."""
    if exc.errno == errno.ELOOP:
        return BadInputError(path, "symbolic link loop (following its links never reaches a file)")
    if exc.errno == errno.ENAMETOOLONG:
        return BadInputError(path, "file name too long")
    if isinstance(exc, FileNotFoundError) and os.path.islink(path):
        return BadInputError(path, f"broken symbolic link (to {os.readlink(path)}, which does not exist)")
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return BadInputError(path, "file not found")
    return BadInputError(path, f"cannot be read ({exc.strerror or exc})")


def _check_file(path: Path) -> None:
    """Refuse what cannot be an image file before opening it (opening a FIFO would wait forever)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _stat_problem(path, exc) from None
    if stat.S_ISDIR(st.st_mode):
        raise BadInputError(path, "is a folder, not an image")
    if not stat.S_ISREG(st.st_mode):
        raise BadInputError(path, f"not a regular file ({_file_kind(st.st_mode)})")
    if st.st_size == 0:
        raise BadInputError(path, "empty file")


def _check_limit(max_pixels: int) -> None:
    if int(max_pixels) != max_pixels or max_pixels < 1:
        raise ValueError(f"max_pixels must be a whole number >= 1, got {max_pixels!r}")


def _too_many(label: str | Path, width: int, height: int, max_pixels: int) -> TooManyPixelsError:
    return TooManyPixelsError(
        label,
        f"image is {width}x{height} = {_megapixels(width * height)} megapixels, "
        f"above the limit of {_megapixels(max_pixels)} megapixels",
    )


def _bomb(label: str | Path, exc: Exception, max_pixels: int) -> TooManyPixelsError:
    found = _BOMB_PIXELS.search(str(exc))
    if found and int(found.group(1)) > max_pixels:
        pixels = int(found.group(1))
        return TooManyPixelsError(
            label,
            f"image is {_megapixels(pixels)} megapixels, above the limit of {_megapixels(max_pixels)} megapixels "
            "(refused from its header as a possible decompression bomb)",
        )
    return TooManyPixelsError(label, f"image has more pixels than Pillow's decompression-bomb limit ({exc})")


def _open_header(fh: IO[bytes], label: str | Path, max_pixels: int) -> Image.Image:
    """``Image.open`` (header only), with Pillow's errors and decompression-bomb checks as BadInputError."""
    try:
        with warnings.catch_warnings():
            # Our own limit (checked by the callers from the size) decides, not Pillow's warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fh)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb(label, exc, max_pixels) from None
    except UnidentifiedImageError:
        raise BadInputError(label, "not an image (unknown or corrupt format)") from None
    except _READ_ERRORS as exc:
        raise BadInputError(label, f"corrupt or truncated image ({exc})") from None


def _check_size(img: Image.Image, label: str | Path, *, max_pixels: int, min_side: int) -> None:
    width, height = img.size
    if width * height > max_pixels:
        raise _too_many(label, width, height, max_pixels)
    if width < 1 or height < 1:
        raise BadInputError(label, "image has no pixels")
    if min(width, height) < min_side:
        raise BadInputError(label, f"image is {width}x{height}, smaller than {min_side} px on a side")


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1..8) read from the header (``Image.Image.getexif`` decodes no pixel)."""
    try:
        value = Image.Image.getexif(img).get(_ORIENTATION_TAG, 1)
    except (*_READ_ERRORS, KeyError, TypeError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _decode(fh: IO[bytes], label: str | Path, *, max_pixels: int, min_side: int) -> tuple[Image.Image, str]:
    """Rules 1 and 2: the decoded, upright image and its format name ('PNG', 'JPEG', ...)."""
    img = _open_header(fh, label, max_pixels)
    _check_size(img, label, max_pixels=max_pixels, min_side=min_side)
    fmt = str(img.format or "")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb(label, exc, max_pixels) from None
    except _READ_ERRORS as exc:
        raise BadInputError(label, f"corrupt or truncated image ({exc})") from None
    try:
        ImageOps.exif_transpose(img, in_place=True)  # phone photos store their rotation in EXIF
    except (*_READ_ERRORS, KeyError, TypeError) as exc:
        raise BadInputError(label, f"corrupt EXIF data ({exc})") from None
    return img, fmt


def _read(path: Path, *, max_pixels: int, min_side: int) -> tuple[Image.Image, str]:
    _check_limit(max_pixels)
    _check_file(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 -- closed below, once the pixels are decoded
    except OSError as exc:
        raise BadInputError(path, f"cannot be read ({exc.strerror or exc})") from None
    with fh:
        return _decode(fh, path, max_pixels=max_pixels, min_side=min_side)


def _gray_to_uint8(arr: np.ndarray, label: str | Path | None) -> np.ndarray:
    """Rule 3 for one-channel 16-bit, 32-bit and float values (see the module docstring)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    values = _checked_values(arr, label)
    if np.issubdtype(arr.dtype, np.integer):
        scale = 255.0 / 65535.0 if values.max(initial=0) > 255 else 1.0
    else:
        scale = 255.0 if values.max(initial=0) <= 1.0 else 1.0
    return (values * scale).round().clip(0, 255).astype(np.uint8)


def _checked_values(arr: np.ndarray, label: str | Path | None) -> np.ndarray:
    """``arr`` as float64, refusing NaN, infinite and negative values with a reason."""
    values = arr.astype(np.float64)
    bad = np.count_nonzero(~np.isfinite(values))
    if bad:
        raise BadInputError(
            label, f"{bad} pixel value(s) are NaN or infinite; only finite values can be read as brightness"
        )
    low = values.min(initial=0)
    if low < 0:
        raise BadInputError(
            label,
            f"negative pixel values (down to {low:g}); crackscope reads floats in 0..1 or 0..255 and "
            "unsigned integers (rescale the data first)",
        )
    return values


def pil_to_rgb(img: Image.Image, *, name: str | Path | None = None) -> np.ndarray:
    """Any PIL image as an HxWx3 uint8 RGB array by the value rule of the module docstring.

    ``name`` is the file named by a BadInputError (NaN, infinite or negative values).
    """
    if img.mode in _GRAY_DEEP_MODES:
        gray = _gray_to_uint8(np.asarray(img), name)
        return np.repeat(gray[..., None], 3, axis=2)
    if img.mode in _ALPHA_MODES or (img.mode in ("P", "L", "RGB") and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def read_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = MIN_SIDE) -> np.ndarray:
    """Read any supported image as upright HxWx3 uint8 RGB by the rules of the module docstring.

    Raises
    ------
    BadInputError
        Naming the file and the problem (``TooManyPixelsError`` above ``max_pixels``).
    """
    path = Path(path)
    img, _ = _read(path, max_pixels=max_pixels, min_side=min_side)
    return pil_to_rgb(img, name=path)


def decode_image(
    data: bytes, *, name: str, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = MIN_SIDE
) -> np.ndarray:
    """``read_image`` for the bytes of a file (an upload): the same rules, errors naming ``name``."""
    _check_limit(max_pixels)
    if not data:
        raise BadInputError(name, "empty file")
    img, _ = _decode(io.BytesIO(data), name, max_pixels=max_pixels, min_side=min_side)
    return pil_to_rgb(img, name=name)


def image_shape(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = MIN_SIDE) -> tuple[int, int]:
    """(H, W) of the upright image, from its header alone (rules 1 and 2; no pixel is decoded).

    A truncated file can pass; ``read_image`` finds it. Masks: ``min_side=1``.
    """
    path = Path(path)
    _check_limit(max_pixels)
    _check_file(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 -- closed below
    except OSError as exc:
        raise BadInputError(path, f"cannot be read ({exc.strerror or exc})") from None
    with fh:
        img = _open_header(fh, path, max_pixels)
        _check_size(img, path, max_pixels=max_pixels, min_side=min_side)
        width, height = img.size
        turned = _orientation(img) >= 5  # 5..8 swap width and height
    return (width, height) if turned else (height, width)


def _mask_values(img: Image.Image, label: str | Path) -> np.ndarray:
    """One value per pixel: the largest colour channel (palettes by their colours, alpha ignored)."""
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA" if img.mode == "PA" or "transparency" in img.info else "RGB")
    elif img.mode not in _MASK_NATIVE_MODES:
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV
    arr = np.asarray(img)
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=2) if arr.shape[2] >= 3 else arr[..., 0]
    if arr.dtype not in (np.uint8, np.bool_):
        _checked_values(arr, label)
    return arr


def read_mask_and_warnings(
    path: str | Path, *, shape: tuple[int, int] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, list[str]]:
    """``read_mask`` without warning: the mask and the problems that ``read_mask`` would warn about."""
    path = Path(path)
    img, fmt = _read(path, max_pixels=max_pixels, min_side=1)
    values = _mask_values(img, path)
    notes: list[str] = []
    if fmt in LOSSY_FORMATS:
        mask: np.ndarray = values >= LOSSY_MASK_THRESHOLD
        kind = "JPEG" if fmt == "MPO" else fmt
        notes.append(
            f"{kind} mask: lossy compression adds noise around the crack, so crack = value >= "
            f"{LOSSY_MASK_THRESHOLD} here instead of any nonzero value (save masks as PNG)"
        )
    else:
        mask = values != 0
    if shape is not None and mask.shape != tuple(shape):
        raise BadInputError(
            path, f"mask size {mask.shape[1]}x{mask.shape[0]} differs from its image size {shape[1]}x{shape[0]}"
        )
    if mask.all():
        notes.append("mask is crack everywhere (every pixel is set): is it inverted or blank?")
    return mask, notes


def read_mask(
    path: str | Path, *, shape: tuple[int, int] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Read a crack mask as an upright bool HxW array by the mask rule of the module docstring.

    Lossy masks (JPEG, WebP) and masks that are crack everywhere give a ``CrackscopeWarning`` naming the file.
    With ``shape`` (H, W) the mask must match it, else BadInputError names the file and both sizes.
    """
    mask, notes = read_mask_and_warnings(path, shape=shape, max_pixels=max_pixels)
    for note in notes:
        warnings.warn(CrackscopeWarning(f"{path}: {note}"), stacklevel=2)
    return mask


def _kind(path: Path) -> str:
    """'dir', 'file' or 'missing' for a named input; BadInputError for loops, broken links, special files."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        if os.path.islink(path):
            raise _stat_problem(path, FileNotFoundError(errno.ENOENT, "broken link")) from None
        return "missing"
    except OSError as exc:
        raise _stat_problem(path, exc) from None
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISREG(st.st_mode):
        return "file"
    raise BadInputError(path, f"not a regular file ({_file_kind(st.st_mode)})")


def _listed(path: Path) -> bool:
    """A folder entry that is an image file: image extension, a regular file (links followed), not ours."""
    return is_image_file(path) and not path.name.startswith(TEMP_PREFIX) and os.path.isfile(path)


def _folder_images(folder: Path, *, recursive: bool) -> list[Path]:
    """The image files of a folder, sorted; sub-folders reached through symbolic links are not entered."""
    found: list[Path] = []
    if recursive:
        for dirpath, _dirnames, filenames in os.walk(folder, followlinks=False):
            found.extend(p for name in filenames if _listed(p := Path(dirpath) / name))
    else:
        with os.scandir(folder) as entries:
            found.extend(p for e in entries if _listed(p := folder / e.name))
    return sorted(found)


def list_images(inputs: Iterable[str | Path], *, recursive: bool = True) -> list[Path]:
    """Expand files, folders and glob patterns into a sorted list of image paths.

    A named file is taken whatever its extension (its content is checked on reading); a folder contributes
    its files with an image extension (sub-folders too with ``recursive``, never through symbolic links to
    folders). A named input that does not exist, a FIFO or other special file, a symbolic link loop, a broken
    link, or a folder with an image name (``x.jpg/``) holding no image raises BadInputError saying so.
    """
    found: list[Path] = []
    for item in inputs:
        text = str(item)
        p = Path(text)
        kind = _kind(p)
        if kind == "dir":
            images = _folder_images(p, recursive=recursive)
            if not images and is_image_file(p):
                raise BadInputError(p, "is a folder, not an image (and it holds no image files)")
            found.extend(images)
        elif kind == "file":
            found.append(p)
        elif any(ch in text for ch in "*?["):
            matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
            found.extend(m for m in matches if _listed(m))
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
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds.

    The temporary name is ``TEMP_PREFIX`` + 8 random characters + the final extension (``.tmp`` when it has
    none or a long one): short, so it fits wherever the final name fits, and with an extension, which some
    writers need (``torch.save``). ``remove_stale_temporary_files`` deletes those a killed run left.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if 1 < len(path.suffix) <= _MAX_TEMP_SUFFIX else ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def remove_stale_temporary_files(
    folder: str | Path, *, before: float | None = None, recursive: bool = True
) -> list[Path]:
    """Delete the temporary files of ``atomic_path`` (``TEMP_PREFIX``*) that a killed run left in ``folder``.

    Only regular files last modified before ``before`` (a ``time.time()`` value; default: when this
    process imported ``crackscope.io``, less 2 s for coarse file-system clocks) go, so the files this
    process, or a run started later, is writing are kept. Sub-folders are searched with ``recursive``
    (symbolic links to folders are not followed). A missing folder, or a file that cannot be deleted, is
    passed over. Returns the deleted paths.
    """
    folder = Path(folder)
    cutoff = _STARTED - 2.0 if before is None else before
    if not folder.is_dir():
        return []
    if recursive:
        walk: Iterable[tuple[str, list[str], list[str]]] = os.walk(folder, followlinks=False)
    else:
        with os.scandir(folder) as entries:
            walk = [(str(folder), [], [e.name for e in entries])]
    removed: list[Path] = []
    for dirpath, _dirnames, filenames in walk:
        for name in filenames:
            if not name.startswith(TEMP_PREFIX):
                continue
            path = Path(dirpath) / name
            with contextlib.suppress(OSError):
                st = path.lstat()
                if stat.S_ISREG(st.st_mode) and st.st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
    return removed


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


#: zlib level of the PNG files crackscope writes (see write_image_atomic)
PNG_COMPRESS_LEVEL = 1


def write_image_atomic(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 (HxW, HxWx3) or bool array as an image; format from the extension."""
    arr = np.asarray(array)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        raise ValueError(f"write_image_atomic needs uint8 or bool, got {arr.dtype}")
    path = Path(path)
    fmt = _pil_format(path)
    # zlib level 1 for PNG: a 13 MP RGB photo writes in 0.8 s instead of 3.7 s at Pillow's default 6, for files
    # about 3 % larger (measured on the DeepCrack mosaic of benchmarks/make_mosaic.py)
    extra = {"compress_level": PNG_COMPRESS_LEVEL} if fmt == "PNG" else {}
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format=fmt, **extra)
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
