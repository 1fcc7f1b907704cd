"""Image and mask reading (crackscope.io) on the formats people have, with exact expected pixels.

The arrays are tiny, so images are read with ``min_side=1`` (the default refuses sides under 8 px; see
tests/test_io.py for that and the other rules of the reading gate).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crackscope.errors import BadInputError
from crackscope.io import read_image, read_mask
from tests.data.helpers import write_image


def test_grayscale_rgba_16bit_and_palette_load_as_rgb(tmp_path: Path) -> None:
    gray = write_image(tmp_path / "g.png", np.array([[0, 128], [255, 7]], np.uint8))
    out = read_image(gray, min_side=1)
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert out[:, :, 0].tolist() == [[0, 128], [255, 7]] and (out[..., 0] == out[..., 2]).all()

    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)  # opaque: kept
    rgba[0, 1] = (10, 20, 30, 0)  # transparent: white background
    out = read_image(write_image(tmp_path / "a.png", rgba), min_side=1)
    assert out.tolist() == [[[10, 20, 30], [255, 255, 255]]]

    deep = np.array([[0, 65535], [32896, 1000]], np.uint16)
    path = tmp_path / "d16.png"
    Image.fromarray(deep).save(path)
    out = read_image(path, min_side=1)
    assert out[..., 1].tolist() == [[0, 255], [128, 4]]  # scaled 16 -> 8 bits, rounded

    pal = Image.new("P", (2, 1))
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.putpixel((1, 0), 1)
    pal.save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png", min_side=1).tolist() == [[[255, 0, 0], [0, 0, 255]]]


def test_masks_any_format_crack_is_nonzero(tmp_path: Path) -> None:
    expected = [[False, True, False], [True, False, False]]
    eight = np.array([[0, 255, 0], [1, 0, 0]], np.uint8)
    assert read_mask(write_image(tmp_path / "m8.png", eight)).tolist() == expected

    one_bit = Image.fromarray(np.array(expected)).convert("1")
    one_bit.save(tmp_path / "m1.png")
    assert Image.open(tmp_path / "m1.png").mode == "1"
    assert read_mask(tmp_path / "m1.png").tolist() == expected

    Image.fromarray(np.array([[0, 65535, 0], [300, 0, 0]], np.uint16)).save(tmp_path / "m16.png")
    assert read_mask(tmp_path / "m16.png").tolist() == expected

    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 1, 0] = 255
    rgb[1, 0, 2] = 9
    assert read_mask(write_image(tmp_path / "mrgb.png", rgb)).tolist() == expected

    palette = Image.fromarray(eight).convert("P")
    palette.save(tmp_path / "mp.png")
    assert read_mask(tmp_path / "mp.png").dtype == bool


def test_mask_size_mismatch_names_the_mask(tmp_path: Path) -> None:
    path = write_image(tmp_path / "masks" / "m.png", np.zeros((4, 6), np.uint8))
    with pytest.raises(BadInputError) as info:
        read_mask(path, shape=(5, 6))
    assert info.value.path == path
    assert "mask size 6x4 differs from its image size 6x5" in str(info.value)


def test_corrupt_truncated_and_missing_files(tmp_path: Path) -> None:
    good = write_image(tmp_path / "ok.jpg", np.full((64, 64, 3), 120, np.uint8))
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(BadInputError, match=r"cut.jpg: corrupt or truncated"):
        read_image(truncated)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x00" * 50)
    with pytest.raises(BadInputError, match=r"junk.png: not an image"):
        read_image(junk)
    with pytest.raises(BadInputError, match=r"gone.png: file not found"):
        read_mask(tmp_path / "gone.png")
