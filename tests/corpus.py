"""A corpus of bad and odd input files, written at test time (nothing of it is committed).

``write_corpus(folder)`` writes one flat folder of images: broken files of every kind (empty, truncated, text
or HTML named like images, decompression-bomb headers, too small, NaN floats...), odd files crackscope must
read (16-bit, float, palette, transparent, CMYK, EXIF-rotated, GIF, WebP, multi-page TIFF, odd names...),
special entries (a folder named ``x.jpg``, a FIFO, a symbolic-link loop, a broken link) and a few good photos.
``write_mask_corpus(folder)`` writes an ``images/`` + ``masks/`` set with bad and odd masks.

Both return a manifest: one :class:`Entry` per thing written, with whether a command must finish it.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 48  # side of the corpus photos: one tile of `map --tile 48`, quick for every command


@dataclass(frozen=True)
class Entry:
    """One corpus entry.

    ``name`` is its path relative to the corpus folder; ``ok`` is True when a command must finish it (its output
    exists), False when it must refuse it (the name is reported with a reason), None when either is right;
    ``listed`` is False for names a folder listing leaves out (no image extension); named on the command line
    they are always inputs.
    """

    name: str
    kind: str
    ok: bool | None
    listed: bool = True


# -- bytes of files --------------------------------------------------------------------------------------------------


def photo(seed: int, *, cracked: bool = True, size: int = SIZE) -> np.ndarray:
    """A synthetic concrete-like RGB photo (crackscope's own generator)."""
    from crackscope.data.synth import generate_pair

    image, _ = generate_pair(np.random.default_rng(seed), size, cracked=cracked)
    return image


def encode(image: Image.Image | np.ndarray, fmt: str = "PNG", **options: object) -> bytes:
    """An image (PIL or array) as the bytes of a ``fmt`` file."""
    img = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A valid-looking PNG whose IHDR claims ``width`` x ``height`` RGB pixels, with a tiny payload."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def _gray(value_range: tuple[float, float], dtype: str, *, size: int = SIZE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low, high = value_range
    return rng.uniform(low, high, (size, size)).astype(dtype)


def _corrupt_idat(data: bytes) -> bytes:
    """A PNG with garbage in the middle of its compressed pixel data (the chunk CRC recomputed)."""
    start = data.index(b"IDAT") - 4
    length = struct.unpack(">I", data[start : start + 4])[0]
    payload = bytearray(data[start + 8 : start + 8 + length])
    payload[len(payload) // 3 : len(payload) // 3 + 16] = b"\xff" * 16
    return data[:start] + png_chunk(b"IDAT", bytes(payload)) + data[start + 12 + length :]


def _exif_rotated(image: np.ndarray) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    return encode(image[:, : SIZE - 8], "JPEG", quality=90, exif=exif)


def _animated_gif(seed: int) -> bytes:
    frames = [Image.fromarray(photo(seed + i)).convert("P") for i in range(3)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _multipage_tiff(seed: int) -> bytes:
    pages = [Image.fromarray(photo(seed + i)) for i in range(3)]
    return encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])


def _palette_transparent(image: np.ndarray) -> bytes:
    img = Image.fromarray(image).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return encode(img, "PNG", transparency=0)


def _rgba(image: np.ndarray, alpha: int) -> bytes:
    return encode(np.dstack([image, np.full(image.shape[:2], alpha, np.uint8)]), "PNG")


# -- the flat corpus -------------------------------------------------------------------------------------------------


def _files() -> list[tuple[str, str, bool | None, Callable[[], bytes]]]:
    """(name, kind, ok, bytes) of every plain file of the flat corpus."""
    good = photo(1)
    png, jpeg = encode(good), encode(good, "JPEG", quality=90)
    gray = np.asarray(Image.fromarray(good).convert("L"))
    long_name = "l" * 236 + ".png"  # 240 characters: outputs and temporary files beside them must still fit
    files: list[tuple[str, str, bool | None, Callable[[], bytes]]] = [
        # good photos, both classes by the file-name rule (noncrack_* = uncracked)
        ("good_crack_0.png", "good PNG photo", True, lambda: encode(photo(10))),
        ("good_crack_1.jpg", "good JPEG photo", True, lambda: encode(photo(11), "JPEG", quality=92)),
        ("good_crack_2.png", "good PNG photo", True, lambda: encode(photo(12))),
        ("noncrack_good_3.png", "good crack-free PNG photo", True, lambda: encode(photo(13, cracked=False))),
        ("noncrack_good_4.jpg", "good crack-free JPEG", True, lambda: encode(photo(14, cracked=False), "JPEG")),
        ("noncrack_good_5.png", "good crack-free PNG photo", True, lambda: encode(photo(15, cracked=False))),
        ("noncrack_good_6.png", "good crack-free PNG photo", True, lambda: encode(photo(16, cracked=False))),
        # broken files
        ("empty_png.png", "empty file (0 bytes) named .png", False, lambda: b""),
        ("empty_jpg.jpg", "empty file (0 bytes) named .jpg", False, lambda: b""),
        ("truncated.png", "PNG cut in half", False, lambda: png[: len(png) // 2]),
        ("truncated.jpg", "JPEG cut at 40%", False, lambda: jpeg[: len(jpeg) * 2 // 5]),
        ("text_named.jpg", "text file named .jpg", False, lambda: b"just some notes, not a photo\n" * 20),
        ("html_named.png", "HTML page named .png", False, lambda: b"<!doctype html><html><body>404</body></html>"),
        ("random_bytes.jpg", "random bytes named .jpg", False, lambda: np.random.default_rng(5).bytes(4096)),
        ("zeros.png", "1 KiB of zero bytes named .png", False, lambda: b"\x00" * 1024),
        ("signature_only.png", "PNG signature and nothing else", False, lambda: b"\x89PNG\r\n\x1a\n"),
        ("soi_only.jpg", "JPEG start marker and nothing else", False, lambda: b"\xff\xd8"),
        ("gzip_named.png", "gzip archive named .png", False, lambda: gzip.compress(b"x" * 1000)),
        ("pdf_named.jpg", "PDF named .jpg", False, lambda: b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"),
        ("svg_named.png", "SVG named .png", False, lambda: b'<svg xmlns="http://www.w3.org/2000/svg"/>'),
        ("corrupt_idat.png", "PNG with garbage in its pixel data", False, lambda: _corrupt_idat(png)),
        ("truncated.bmp", "BMP cut in half", False, lambda: encode(good, "BMP")[: len(encode(good, "BMP")) // 2]),
        ("bomb_60000.png", "decompression bomb: IHDR claims 60000x60000", False, lambda: png_header_only(60000, 60000)),
        ("header_12000.png", "IHDR claims 12000x12000, tiny payload", False, lambda: png_header_only(12000, 12000)),
        ("one_px.png", "1x1 image", False, lambda: encode(good[:1, :1])),
        ("two_px.png", "2x2 image", False, lambda: encode(good[:2, :2])),
        ("thin_1x6000.png", "1 px wide, 6000 px high", False, lambda: encode(np.zeros((6000, 1, 3), np.uint8))),
        ("flat_6000x1.png", "6000 px wide, 1 px high", False, lambda: encode(np.zeros((1, 6000, 3), np.uint8))),
        ("seven_px.png", "7 px high (below the 8 px minimum)", False, lambda: encode(good[:7])),
        ("float_nan.tif", "float TIFF with NaN", False, lambda: encode(_float_with_nan(), "TIFF")),
        (
            "float_negative.tif",
            "float TIFF with negative values",
            False,
            lambda: encode(_gray((-1, 1), "float32"), "TIFF"),
        ),
        (
            "int_negative.tif",
            "32-bit TIFF with negative values",
            False,
            lambda: encode(_gray((-300, 300), "int32"), "TIFF"),
        ),
        # odd files crackscope reads
        ("eight_px.png", "8x8 image (the minimum side)", True, lambda: encode(good[:8, :8])),
        ("long_16x600.png", "16x600 strip", True, lambda: encode(np.tile(good[:16], (1, 13, 1))[:, :600])),
        ("png_named.jpg", "PNG content named .jpg", True, lambda: png),
        ("jpeg_named.png", "JPEG content named .png", True, lambda: jpeg),
        ("jpeg_as_bmp.bmp", "JPEG content named .bmp", True, lambda: jpeg),
        # two photos with one stem: `map` and `explain` name their outputs by stem, so map reports the second
        ("same_stem.png", "same file stem as another photo", None, lambda: png),
        ("same_stem.jpg", "same file stem as another photo", None, lambda: jpeg),
        ("upper_ext.PNG", "upper-case extension", True, lambda: png),
        ("double_ext.png.jpg", "two extensions", True, lambda: jpeg),
        ("gray16_high.png", "16-bit grey PNG using the full range", True, lambda: encode(_gray((0, 65535), "uint16"))),
        ("gray16_low.png", "16-bit grey PNG with values <= 255", True, lambda: encode(_gray((0, 255), "uint16"))),
        ("float_unit.tif", "float TIFF in 0..1", True, lambda: encode(_gray((0, 1), "float32"), "TIFF")),
        ("float_byte.tif", "float TIFF in 0..255", True, lambda: encode(_gray((0, 255), "float32"), "TIFF")),
        ("int32.tif", "32-bit integer TIFF", True, lambda: encode(_gray((0, 60000), "int32"), "TIFF")),
        ("lzw.tif", "LZW-compressed TIFF", True, lambda: encode(good, "TIFF", compression="tiff_lzw")),
        ("multipage.tif", "TIFF with three pages", True, lambda: _multipage_tiff(20)),
        ("palette.png", "palette PNG", True, lambda: encode(Image.fromarray(good).convert("P"))),
        ("palette_transparent.png", "palette PNG with a transparent colour", True, lambda: _palette_transparent(good)),
        ("la.png", "grey + alpha PNG", True, lambda: encode(Image.fromarray(good).convert("LA"))),
        ("rgba_transparent.png", "RGBA, fully transparent", True, lambda: _rgba(good, 0)),
        ("rgba_half.png", "RGBA, half transparent", True, lambda: _rgba(good, 128)),
        ("cmyk.jpg", "CMYK JPEG", True, lambda: encode(Image.fromarray(good).convert("CMYK"), "JPEG")),
        ("exif_rotated.jpg", "JPEG with EXIF orientation 6", True, lambda: _exif_rotated(good)),
        ("gray_jpeg.jpg", "greyscale JPEG", True, lambda: encode(gray, "JPEG")),
        ("gray_png.png", "greyscale PNG", True, lambda: encode(gray)),
        ("one_bit.png", "1-bit PNG", True, lambda: encode(Image.fromarray(gray).convert("1"))),
        ("animated.gif", "animated GIF (3 frames)", True, lambda: _animated_gif(30)),
        ("static.gif", "GIF", True, lambda: encode(Image.fromarray(good).convert("P"), "GIF")),
        ("lossy.webp", "lossy WebP", True, lambda: encode(good, "WEBP", quality=80)),
        ("lossless.webp", "lossless WebP", True, lambda: encode(good, "WEBP", lossless=True)),
        ("plain.bmp", "BMP", True, lambda: encode(good, "BMP")),
        ("progressive.jpg", "progressive JPEG", True, lambda: encode(good, "JPEG", progressive=True)),
        ("quality_1.jpg", "JPEG at quality 1", True, lambda: encode(good, "JPEG", quality=1)),
        ("interlaced.png", "interlaced (Adam7) PNG", True, lambda: _interlaced_png(good)),
        ("all_black.png", "all black", True, lambda: encode(np.zeros((SIZE, SIZE, 3), np.uint8))),
        ("all_white.png", "all white", True, lambda: encode(np.full((SIZE, SIZE, 3), 255, np.uint8))),
        (long_name, "240-character file name", True, lambda: png),
        ("fissure_éàü_裂缝.png", "unicode file name", True, lambda: png),
        ("photo with spaces.png", "file name with spaces", True, lambda: png),
        ("[brackets].png", "file name with glob characters", True, lambda: png),
        ("trailing_garbage.png", "PNG followed by junk bytes", None, lambda: png + b"junk" * 100),
    ]
    return files


def _float_with_nan() -> np.ndarray:
    values = _gray((0, 1), "float32")
    values[5:9, 5:9] = np.nan
    return values


def _interlaced_png(image: np.ndarray) -> bytes:
    """An Adam7-interlaced PNG (Pillow writes none): IHDR with interlace 1 and the seven passes."""
    h, w = image.shape[:2]
    passes = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1))
    raw = b""
    for y0, x0, dy, dx in passes:
        sub = image[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def write_corpus(folder: str | Path) -> list[Entry]:
    """Write the flat corpus into ``folder`` (made if missing); returns its manifest.

    Special entries depend on the system: the FIFO needs ``os.mkfifo``, the unreadable file a user other than
    root (root reads everything); those that cannot be made are left out of the manifest. The target of the
    symbolic link ``link_to_good.png`` is written beside ``folder``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, kind, ok, make in _files():
        (folder / name).write_bytes(make())
        entries.append(Entry(name, kind, ok))
    good = encode(photo(2))
    (folder / "no_extension").write_bytes(good)
    entries.append(Entry("no_extension", "PNG with no extension", True, listed=False))
    (folder / "notes.txt").write_text("a text file among the photos\n")
    entries.append(Entry("notes.txt", "text file (.txt)", False, listed=False))
    (folder / "folder.jpg").mkdir()
    entries.append(Entry("folder.jpg", "empty folder named like an image", False))
    os.symlink("loop.png", folder / "loop.png")
    entries.append(Entry("loop.png", "symbolic link to itself", False))
    os.symlink("nowhere/missing.png", folder / "dangling.png")
    entries.append(Entry("dangling.png", "broken symbolic link", False))
    target = folder.parent / f"{folder.name}-link-target.png"  # outside: not the same file as a corpus entry
    target.write_bytes(encode(photo(3)))
    os.symlink(target, folder / "link_to_good.png")
    entries.append(Entry("link_to_good.png", "symbolic link to a good photo", True))
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "fifo.png")
        entries.append(Entry("fifo.png", "FIFO (named pipe) named .png", False))
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        (folder / "no_permission.png").write_bytes(good)
        (folder / "no_permission.png").chmod(0)
        entries.append(Entry("no_permission.png", "file without read permission", False))
    return entries


# -- images + masks --------------------------------------------------------------------------------------------------


def write_mask_corpus(folder: str | Path, *, size: int = 64) -> list[Entry]:
    """An ``images/`` + ``masks/`` set with bad and odd masks in ``folder``; returns its manifest.

    ``name`` is the file the entry is about (the mask, or the image when the image is the problem); ``ok``
    says whether the pair can be used.
    """
    from crackscope.data.synth import generate_pair

    folder = Path(folder)
    images, masks = folder / "images", folder / "masks"
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(exist_ok=True)
    entries: list[Entry] = []

    def pair(stem: str, seed: int, *, cracked: bool = True) -> tuple[np.ndarray, np.ndarray]:
        image, mask = generate_pair(np.random.default_rng(seed), size, cracked=cracked)
        (images / f"{stem}.png").write_bytes(encode(image))
        return image, np.asarray(mask, bool)

    def add(stem: str, seed: int, kind: str, ok: bool | None, data: Callable[[np.ndarray], bytes], ext: str) -> None:
        _, mask = pair(stem, seed, cracked=True)
        (masks / f"{stem}{ext}").write_bytes(data(mask))
        entries.append(Entry(f"masks/{stem}{ext}", kind, ok))

    def u8(mask: np.ndarray) -> np.ndarray:
        return mask.astype(np.uint8) * 255

    for i in range(4):  # good pairs of both kinds
        _, mask = pair(f"good_{i}", 100 + i, cracked=i % 2 == 0)
        (masks / f"good_{i}.png").write_bytes(encode(u8(mask)))
        entries.append(Entry(f"masks/good_{i}.png", "good 0/255 PNG mask", True))
    add("mask_empty", 1, "zero-byte mask", False, lambda m: b"", ".png")
    add("mask_wrong_size", 2, "mask of another size", False, lambda m: encode(u8(m)[: size // 2]), ".png")
    add("mask_truncated", 3, "mask PNG cut in half", False, lambda m: encode(u8(m))[: len(encode(u8(m))) // 2], ".png")
    add("mask_text", 4, "text file named like a mask", False, lambda m: b"not a mask\n", ".png")
    add("mask_jpeg", 5, "JPEG mask (lossy: binarised with a warning)", True, lambda m: encode(u8(m), "JPEG"), ".jpg")
    add("mask_all_255", 6, "mask that is crack everywhere", True, lambda m: encode(np.full_like(u8(m), 255)), ".png")
    add("mask_16bit", 7, "16-bit mask", True, lambda m: encode(m.astype(np.uint16) * 65535), ".png")
    add("mask_1bit", 8, "1-bit mask", True, lambda m: encode(Image.fromarray(u8(m)).convert("1")), ".png")
    add("mask_palette", 9, "palette mask", True, lambda m: encode(Image.fromarray(u8(m)).convert("P")), ".png")
    add("mask_rgb", 10, "RGB mask", True, lambda m: encode(np.dstack([u8(m)] * 3)), ".png")
    add("mask_01", 11, "mask with values 0/1", True, lambda m: encode(m.astype(np.uint8)), ".png")
    pair("no_mask", 12)
    entries.append(Entry("images/no_mask.png", "image without a mask", False))
    (masks / "orphan.png").write_bytes(encode(np.zeros((size, size), np.uint8)))
    entries.append(Entry("masks/orphan.png", "mask without an image", False))
    (images / "image_truncated.png").write_bytes(encode(photo(13, size=size))[:300])
    (masks / "image_truncated.png").write_bytes(encode(np.zeros((size, size), np.uint8)))
    entries.append(Entry("images/image_truncated.png", "truncated image with a good mask", False))
    return entries
