"""The one image-reading gate of crackscope.io: limits, orientation, value rules, masks, listing, writing.

Every file is tiny and made here; the rules tested are those of the crackscope.io module docstring.
"""

from __future__ import annotations

import io
import os
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crackscope.errors import BadInputError, CrackscopeWarning, TooManyPixelsError
from crackscope.io import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    MIN_SIDE,
    TEMP_PREFIX,
    atomic_path,
    decode_image,
    image_shape,
    list_images,
    read_image,
    read_mask,
    read_mask_and_warnings,
    remove_stale_temporary_files,
    write_image_atomic,
    write_text_atomic,
)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny real PNG (1x1) whose IHDR is patched to claim ``width`` x ``height``: a decompression bomb header."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)  # keep the header's CRC valid
    path.write_bytes(bytes(data))
    return path


def save(path: Path, img: Image.Image, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **options)
    return path


def with_orientation(img: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


# -- rule 1: checked from the header, before decoding ------------------------------------------------------
def test_decompression_bomb_header_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = png_claiming(tmp_path / "bomb.png", 60_000, 60_000)
    assert bomb.stat().st_size < 2048
    with pytest.raises(TooManyPixelsError, match=r"bomb.png: image is 3600.0 megapixels, above the limit of 100.0"):
        read_image(bomb)
    with pytest.raises(BadInputError, match=r"megapixels, above the limit of 100.0 megapixels"):
        read_mask(bomb)
    with pytest.raises(BadInputError, match=r"megapixels, above the limit of"):
        image_shape(bomb)


def test_our_pixel_limit_applies_below_pillows_and_is_configurable(tmp_path: Path) -> None:
    assert DEFAULT_MAX_PIXELS == 100_000_000
    big = png_claiming(tmp_path / "big.png", 12_000, 12_000)  # 144 MP, only a Pillow warning until now
    with pytest.raises(BadInputError, match=r"image is 12000x12000 = 144.0 megapixels, above the limit of 100.0"):
        read_image(big)
    photo = save(tmp_path / "photo.png", Image.new("RGB", (60, 60)))
    assert read_image(photo).shape == (60, 60, 3)
    with pytest.raises(TooManyPixelsError, match=r"60x60 = 0.0036 megapixels, above the limit of 0.0025"):
        read_image(photo, max_pixels=50 * 50)
    with pytest.raises(ValueError, match="max_pixels"):
        read_image(photo, max_pixels=0)


def test_pillows_bomb_warning_never_escapes(tmp_path: Path) -> None:
    # 90 MP: above Pillow's warning threshold (89.5 MP), within our 100 MP, so the limit lets it through to
    # decoding, where the missing pixel data makes it a corrupt file; no DecompressionBombWarning either way.
    claim = png_claiming(tmp_path / "ninety.png", 10_000, 9_000)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(BadInputError, match="corrupt or truncated"):
            read_image(claim)
        assert image_shape(claim) == (9_000, 10_000)
    assert not [w for w in seen if issubclass(w.category, Image.DecompressionBombWarning)]


def test_images_under_the_minimum_side_are_refused(tmp_path: Path) -> None:
    assert MIN_SIDE == 8
    for width, height in ((1, 1), (2, 2), (1, 6000), (7, 100)):
        path = save(tmp_path / f"i{width}x{height}.png", Image.new("RGB", (width, height), (9, 9, 9)))
        with pytest.raises(BadInputError, match=rf"image is {width}x{height}, smaller than 8 px on a side"):
            read_image(path)
        with pytest.raises(BadInputError, match="smaller than 8 px"):
            image_shape(path)
    ok = save(tmp_path / "ok.png", Image.new("RGB", (8, 8)))
    assert read_image(ok).shape == (8, 8, 3)
    tiny_mask = save(tmp_path / "m.png", Image.new("L", (1, 6000)))
    assert read_mask(tiny_mask).shape == (6000, 1)  # masks follow their image: no minimum of their own


def test_empty_folder_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(BadInputError, match=r"empty.png: empty file"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(BadInputError, match=r"dir.png: is a folder, not an image"):
        read_image(tmp_path / "dir.png")
    with pytest.raises(BadInputError, match=r"gone.png: file not found"):
        read_image(tmp_path / "gone.png")


# -- rule 2: upright ---------------------------------------------------------------------------------------
def _marked(width: int = 16, height: int = 8) -> Image.Image:
    arr = np.zeros((height, width, 3), np.uint8)
    arr[0, 0] = (255, 0, 0)  # stored top-left is red
    return Image.fromarray(arr)


def test_exif_orientation_is_applied_to_images_and_masks(tmp_path: Path) -> None:
    photo = save(tmp_path / "phone.png", _marked(), exif=with_orientation(_marked(), 6))
    out = read_image(photo)
    assert out.shape == (16, 8, 3)  # orientation 6: turned a quarter clockwise
    assert out[0, 7].tolist() == [255, 0, 0] and out[0, 0].tolist() == [0, 0, 0]
    assert image_shape(photo) == (16, 8)  # the header reports the upright size too
    mask_arr = np.zeros((8, 16), np.uint8)
    mask_arr[0, 0] = 255
    mask = save(tmp_path / "mask.png", Image.fromarray(mask_arr), exif=with_orientation(_marked(), 6))
    upright = read_mask(mask, shape=image_shape(photo))
    assert upright.shape == (16, 8) and upright[0, 7] and upright.sum() == 1
    plain = save(tmp_path / "plain.png", _marked())
    assert read_image(plain).shape == (8, 16, 3) and image_shape(plain) == (8, 16)


def test_exif_orientation_of_a_jpeg_photo(tmp_path: Path) -> None:
    arr = np.zeros((16, 32, 3), np.uint8)
    arr[:8, :8] = 255  # a white block at the stored top-left
    photo = save(tmp_path / "phone.jpg", Image.fromarray(arr), exif=with_orientation(Image.fromarray(arr), 6))
    out = read_image(photo)
    assert out.shape == (32, 16, 3)
    assert out[:8, -8:].mean() > 200 and out[-8:, :8].mean() < 50


# -- rule 3: one value rule --------------------------------------------------------------------------------
def _float_tiff(path: Path, values: np.ndarray) -> Path:
    return save(path, Image.fromarray(values.astype(np.float32), mode="F"))


def test_float_images_are_read_as_0_1_or_0_255(tmp_path: Path) -> None:
    unit = np.full((8, 8), 0.5)
    unit[0, 0] = 1.0
    out = read_image(_float_tiff(tmp_path / "unit.tif", unit))
    assert out[0, 0].tolist() == [255, 255, 255] and out[1, 1].tolist() == [128, 128, 128]
    wide = np.full((8, 8), 100.0)
    wide[0, 0] = 300.0  # above 255: clipped
    out = read_image(_float_tiff(tmp_path / "wide.tif", wide))
    assert out[0, 0, 0] == 255 and out[1, 1, 0] == 100


def test_nan_infinite_and_negative_values_are_refused(tmp_path: Path) -> None:
    for name, bad in (("nan", np.nan), ("inf", np.inf)):
        values = np.full((8, 8), 0.25)
        values[3, 3] = bad
        with pytest.raises(BadInputError, match=rf"{name}.tif: 1 pixel value\(s\) are NaN or infinite"):
            read_image(_float_tiff(tmp_path / f"{name}.tif", values))
    negative = np.full((8, 8), 0.25)
    negative[0, 0] = -0.5
    with pytest.raises(BadInputError, match=r"negative pixel values \(down to -0.5\)"):
        read_image(_float_tiff(tmp_path / "negative.tif", negative))
    with pytest.raises(BadInputError, match="NaN or infinite"):
        read_mask(_float_tiff(tmp_path / "nan_mask.tif", np.full((8, 8), np.nan)))


def test_16_bit_images_are_scaled_from_16_bits_only_above_255(tmp_path: Path) -> None:
    deep = np.full((8, 8), 32896, np.uint16)
    deep[0, 0] = 65535
    path = save(tmp_path / "deep.png", Image.fromarray(deep))
    assert Image.open(path).mode.startswith("I")
    out = read_image(path)
    assert out[0, 0].tolist() == [255, 255, 255] and out[1, 1].tolist() == [128, 128, 128]
    low = save(tmp_path / "low.png", Image.fromarray(np.full((8, 8), 200, np.uint16)))
    assert read_image(low)[0, 0].tolist() == [200, 200, 200]


def test_cmyk_palette_alpha_and_grey(tmp_path: Path) -> None:
    cmyk = save(tmp_path / "cmyk.jpg", Image.new("CMYK", (8, 8), (0, 255, 0, 0)), quality=95)
    assert Image.open(cmyk).mode == "CMYK"
    r, g, b = read_image(cmyk)[4, 4].tolist()
    assert r > 240 and g < 15 and b > 240  # full magenta ink, by Pillow's conversion: magenta
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    pal.putpixel((0, 0), 0)
    pal.info["transparency"] = 0  # palette entry 0 is transparent: white background
    path = save(tmp_path / "pal.png", pal, transparency=0)
    out = read_image(path)
    assert out[0, 0].tolist() == [255, 255, 255] and out[1, 1].tolist() == [0, 0, 255]
    la = np.zeros((8, 8, 2), np.uint8)
    la[..., 0] = 40
    la[0, 0, 1] = 255  # one opaque pixel; the others transparent
    out = read_image(save(tmp_path / "la.png", Image.fromarray(la, mode="LA")))
    assert out[0, 0].tolist() == [40, 40, 40] and out[1, 1].tolist() == [255, 255, 255]


def test_gif_is_an_image_everywhere(tmp_path: Path) -> None:
    assert ".gif" in IMAGE_EXTENSIONS
    gif = save(tmp_path / "set" / "a.gif", Image.new("RGB", (8, 8), (255, 0, 0)).convert("P"))
    assert list_images([tmp_path / "set"]) == [gif]
    assert read_image(gif)[0, 0].tolist() == [255, 0, 0]


def test_bytes_and_files_go_through_the_same_gate(tmp_path: Path) -> None:
    arr = np.zeros((8, 12, 3), np.uint8)
    arr[0, 0] = (0, 255, 0)
    photo = save(tmp_path / "p.png", Image.fromarray(arr), exif=with_orientation(Image.fromarray(arr), 8))
    assert np.array_equal(decode_image(photo.read_bytes(), name="p.png"), read_image(photo))
    tiny = save(tmp_path / "t.png", Image.new("RGB", (2, 2)))
    with pytest.raises(BadInputError, match=r"up.png: image is 2x2, smaller than 8 px"):
        decode_image(tiny.read_bytes(), name="up.png")


# -- rule 4: masks -----------------------------------------------------------------------------------------
def test_png_masks_are_crack_where_nonzero_without_warning(tmp_path: Path) -> None:
    values = np.zeros((8, 8), np.uint8)
    values[2, 3] = 1
    values[4, 4] = 255
    path = save(tmp_path / "m.png", Image.fromarray(values))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CrackscopeWarning)
        mask = read_mask(path)
    assert mask.sum() == 2 and mask[2, 3] and mask[4, 4]


def test_jpeg_masks_warn_and_are_binarised_at_128(tmp_path: Path) -> None:
    values = np.zeros((32, 32), np.uint8)
    values[4:28, 15:17] = 255  # a 2 px crack line
    path = save(tmp_path / "gt.jpg", Image.fromarray(values), quality=75)
    raw = np.asarray(Image.open(path))
    assert np.count_nonzero(raw) > np.count_nonzero(values)  # compression noise around the line
    with pytest.warns(CrackscopeWarning, match=r"gt.jpg: JPEG mask: lossy compression .* crack = value >= 128"):
        mask = read_mask(path)
    assert np.array_equal(mask, raw >= 128)
    assert abs(int(mask.sum()) - int(np.count_nonzero(values))) <= 4
    quiet, notes = read_mask_and_warnings(path)  # the same mask and notes, without warning
    assert np.array_equal(quiet, mask) and len(notes) == 1 and "JPEG mask" in notes[0]


def test_all_foreground_mask_warns(tmp_path: Path) -> None:
    path = save(tmp_path / "white.png", Image.new("L", (8, 8), 255))
    with pytest.warns(CrackscopeWarning, match=r"white.png: mask is crack everywhere"):
        assert read_mask(path).all()


def test_palette_masks_are_read_by_their_colours(tmp_path: Path) -> None:
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)  # index 0 is white (crack), index 1 black
    pal.putpixel((0, 0), 1)
    mask = read_mask(save(tmp_path / "p.png", pal))
    assert not mask[0, 0] and mask.sum() == 63


# -- listing inputs ----------------------------------------------------------------------------------------
def test_fifo_named_on_the_command_line_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(BadInputError, match=r"pipe.png: not a regular file \(a FIFO\)"):
        list_images([fifo])
    with pytest.raises(BadInputError, match="not a regular file"):
        read_image(fifo)  # refused before opening: reading a FIFO would wait forever
    real = save(tmp_path / "a.png", Image.new("RGB", (8, 8)))
    assert list_images([tmp_path]) == [real]  # in a folder listing it is passed over


def test_symbolic_link_loops_and_broken_links(tmp_path: Path) -> None:
    loop = tmp_path / "loop.png"
    os.symlink(loop.name, loop)
    with pytest.raises(BadInputError, match=r"loop.png: symbolic link loop"):
        list_images([loop])
    with pytest.raises(BadInputError, match="symbolic link loop"):
        read_image(loop)
    broken = tmp_path / "broken.png"
    os.symlink("nowhere.png", broken)
    with pytest.raises(BadInputError, match=r"broken.png: broken symbolic link \(to nowhere.png"):
        list_images([broken])
    with pytest.raises(BadInputError, match="no such file or folder"):
        list_images([tmp_path / "missing.png"])


def test_folder_listing_does_not_follow_links_into_a_loop(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    a = save(root / "a.png", Image.new("RGB", (8, 8)))
    b = save(root / "sub" / "b.jpg", Image.new("RGB", (8, 8)))
    os.symlink("..", root / "sub" / "up")  # a link back to the folder itself
    os.symlink("self.png", root / "self.png")  # a file link loop: passed over
    (root / f"{TEMP_PREFIX}abcd1234.png").write_bytes(b"partial")  # another run's temporary file
    assert list_images([root]) == [a, b]
    assert list_images([root], recursive=False) == [a]
    assert list_images([str(root / "*.png")]) == [a]


def test_folder_with_an_image_name(tmp_path: Path) -> None:
    empty = tmp_path / "x.jpg"
    empty.mkdir()
    with pytest.raises(BadInputError, match=r"x.jpg: is a folder, not an image"):
        list_images([empty])
    full = tmp_path / "y.jpg"
    inside = save(full / "inside.png", Image.new("RGB", (8, 8)))
    assert list_images([full]) == [inside]  # a folder holding images is listed
    (tmp_path / "plain").mkdir()
    assert list_images([tmp_path / "plain"]) == []  # a folder with no image name and no image: nothing


# -- writing atomically ------------------------------------------------------------------------------------
def test_a_long_name_is_written_atomically(tmp_path: Path) -> None:
    target = tmp_path / ("n" * 236 + ".png")
    assert len(target.name) == 240
    write_image_atomic(target, np.zeros((8, 8), np.uint8))
    write_text_atomic(tmp_path / ("t" * 236 + ".txt"), "ok")
    assert read_image(target).shape == (8, 8, 3)
    assert sorted(p.name[:1] for p in tmp_path.iterdir()) == ["n", "t"]  # no temporary file left


def test_temporary_files_are_short_recognisable_and_cleaned(tmp_path: Path) -> None:
    target = tmp_path / "out" / "result.json"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(TEMP_PREFIX)
        assert len(tmp.name) == len(TEMP_PREFIX) + 8 + len(".json") and tmp.suffix == ".json"
        tmp.write_text("{}")
        assert not target.exists()
    assert target.read_text() == "{}" and not tmp.exists()
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out" / "failed.json") as tmp2:
        tmp2.write_text("half")
        raise RuntimeError("killed")
    assert not (tmp_path / "out" / "failed.json").exists() and not tmp2.exists()


def test_stale_temporary_files_are_removed(tmp_path: Path) -> None:
    old = time.time() - 3600
    stale = tmp_path / f"{TEMP_PREFIX}aaaa1111"
    nested = tmp_path / "masks" / f"{TEMP_PREFIX}bbbb2222"
    keep_fresh = tmp_path / f"{TEMP_PREFIX}cccc3333"  # a run writing now
    keep_other = tmp_path / ".tmp-dddd4444"  # not ours
    for path in (stale, nested, keep_fresh, keep_other):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    for path in (stale, nested, keep_other):
        os.utime(path, (old, old))
    assert sorted(remove_stale_temporary_files(tmp_path)) == sorted([stale, nested])
    assert keep_fresh.exists() and keep_other.exists() and not stale.exists() and not nested.exists()
    assert remove_stale_temporary_files(tmp_path, before=time.time() + 10) == [keep_fresh]
    assert remove_stale_temporary_files(tmp_path / "missing") == []
