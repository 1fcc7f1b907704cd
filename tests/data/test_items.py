"""Training items: whole files, labelled patches of image+mask photos, cached decoding, keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crackscope.data.items import (
    LabelledItem,
    PhotoCache,
    auto_patch_size,
    dataset_items,
    default_min_crack_pixels,
)
from tests.data.helpers import make_folders, write_image


def _seg_set(root: Path) -> Path:
    """Two 8x12 photos: 'a' with a 2x2 crack block at (1,1) and a lone pixel at (6,11); 'b' crack-free."""
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_image(root / "images" / f"{name}.png", rng.integers(0, 256, (8, 12, 3), dtype=np.uint8))
    mask = np.zeros((8, 12), np.uint8)
    mask[1:3, 1:3] = 255
    mask[6, 11] = 255
    write_image(root / "masks" / "a.png", mask)
    write_image(root / "masks" / "b.png", np.zeros((8, 12), np.uint8))
    return root


def test_patch_items_exact(tmp_path: Path) -> None:
    root = _seg_set(tmp_path / "seg")
    items = dataset_items(root, patch_size=4, stride=4, min_crack_pixels=2, margin=1)
    got = [(Path(i.key.split("#")[0]).name, i.box, i.label) for i in items]
    # photo a (boxes at y 0/4, x 0/4/8): (0,0) holds the 4-pixel block -> 1; (0,4) grown by 1 px starts at
    # column 3, the block ends at column 2 -> 0; (0,8), (4,0), (4,4) -> 0; (4,8) holds only the lone pixel
    # (1 < 2) -> ambiguous, dropped. Photo b: all six boxes uncracked.
    assert got == [
        ("a.png", (0, 0, 4, 4), 1),
        ("a.png", (0, 4, 4, 4), 0),
        ("a.png", (0, 8, 4, 4), 0),
        ("a.png", (4, 0, 4, 4), 0),
        ("a.png", (4, 4, 4, 4), 0),
    ] + [("b.png", (y, x, 4, 4), 0) for y in (0, 4) for x in (0, 4, 8)]
    assert items.dropped == 1
    assert items.settings == {"patch_size": 4, "stride": 4, "min_crack_pixels": 2, "margin": 1}
    assert {i.group for i in items} == {"a", "b"}
    first = items[0]
    assert first.key.endswith("a.png#0,0,4,4") and Path(first.key.split("#")[0]).is_absolute()
    assert first.load().shape == (4, 4, 3)
    assert first.load_mask().tolist() == [
        [False] * 4,
        [False, True, True, False],
        [False, True, True, False],
        [False] * 4,
    ]


def test_patch_pixels_match_the_photo_and_decode_once(tmp_path: Path) -> None:
    from crackscope.io import read_image

    root = _seg_set(tmp_path / "seg")
    photo_cache = PhotoCache()  # the caller's cache: the items decode their photos through it
    items = dataset_items(root, patch_size=4, stride=2, min_crack_pixels=1, margin=0, photo_cache=photo_cache)
    # each photo is decoded once, before its mask is read (a photo that cannot be decoded is skipped as such)
    assert items.photo_cache is photo_cache and (photo_cache.misses, photo_cache.hits) == (2, 0)
    photo = read_image(root / "images" / "b.png")
    b_items = [i for i in items if i.group == "b"]
    for item in b_items:
        y, x, h, w = item.box
        assert np.array_equal(item.load(), photo[y : y + h, x : x + w])
    assert photo_cache.misses == 2 and photo_cache.hits == len(b_items)  # never decoded again
    crop = b_items[0].load()
    crop[...] = 0  # a caller scribbling on its crop must not change the cached photo
    assert np.array_equal(b_items[0].load(), photo[0:4, 0:4])


def test_truncated_photo_of_an_image_mask_set_is_reported_as_corrupt(tmp_path: Path) -> None:
    root = tmp_path / "seg"
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        write_image(root / "images" / f"{name}.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
        write_image(root / "masks" / f"{name}.png", np.zeros((64, 64), np.uint8))
    whole = (root / "images" / "a.png").read_bytes()
    (root / "images" / "a.png").write_bytes(whole[: len(whole) // 2])  # the header still reads fine
    for patch_size in (None, 0):
        items = dataset_items(root, patch_size=patch_size)
        ((path, problem),) = items.skipped
        assert path == root / "images" / "a.png" and "corrupt or truncated image" in problem
        assert "mask size" not in problem
        assert {item.group for item in items} == {"b"}


def test_whole_photo_items(tmp_path: Path) -> None:
    root = _seg_set(tmp_path / "seg")
    items = dataset_items(root, patch_size=0, min_crack_pixels=5)
    # a has 5 crack pixels -> cracked; b none -> uncracked; keys are plain paths
    assert [(Path(i.key).name, i.label, i.box) for i in items] == [("a.png", 1, None), ("b.png", 0, None)]
    assert items[0].load_mask().sum() == 5
    assert dataset_items(root, patch_size=0, min_crack_pixels=6).counts() == {"cracked": 0, "uncracked": 1}


def test_auto_settings_and_small_photos(tmp_path: Path) -> None:
    assert auto_patch_size([(384, 544)] * 3) == 96
    assert auto_patch_size([(1000, 2000)]) == 128 and auto_patch_size([(256, 256)]) == 64
    assert auto_patch_size([(40, 50)]) == 40
    assert default_min_crack_pixels(64) == 20 and default_min_crack_pixels(4) == 1
    root = _seg_set(tmp_path / "seg")
    # automatic size on 8x12 photos: 8 px patches (the short side), stride 8, edge-aligned second column
    items = dataset_items(root, min_crack_pixels=1)
    assert items.settings["patch_size"] == 8
    assert [(i.group, i.box) for i in items if i.group == "b"] == [("b", (0, 0, 8, 8)), ("b", (0, 4, 8, 8))]
    # an explicit size larger than the photos is reported per photo, not fatal
    big = dataset_items(root, patch_size=16)
    assert len(big) == 0 and len(big.skipped) == 2 and "smaller than the 16 px patch" in big.skipped[0][1]


def test_synthetic_set_gives_whole_photo_items(synth_dir: Path) -> None:
    items = dataset_items(synth_dir)
    assert items.dataset.layout == "image-mask"
    assert len(items) + items.dropped == 24
    assert all(i.box is None for i in items)  # 64 px photos -> the patch is the whole photo
    assert set(items.counts().values()) != {0}
    for item in items[:3]:
        mask = item.load_mask()
        assert item.load().shape == (64, 64, 3) and mask.shape == (64, 64)
        assert item.label == int(mask.sum() >= items.settings["min_crack_pixels"])


def test_class_folder_items(tmp_path: Path) -> None:
    root = make_folders(tmp_path / "set", {"Positive": 2, "Negative": 3})
    items = dataset_items(root, patch_size=8)  # patch options are ignored for whole-file sets
    assert items.counts() == {"cracked": 2, "uncracked": 3}
    assert all(i.box is None and i.load_mask() is None for i in items)
    assert items[0].load().shape == (16, 16, 3)


def test_from_key_round_trip(tmp_path: Path) -> None:
    item = LabelledItem.from_key("/data/x#1.png#2,3,4,5", group="x", label=1)
    assert item.path == Path("/data/x#1.png") and item.box == (2, 3, 4, 5)
    plain = LabelledItem.from_key("/data/x#1.png", group="x", label=0)
    assert plain.path == Path("/data/x#1.png") and plain.box is None


def test_bad_arguments(tmp_path: Path) -> None:
    root = _seg_set(tmp_path / "seg")
    with pytest.raises(ValueError, match="patch_size"):
        dataset_items(root, patch_size=-1)
    with pytest.raises(ValueError, match="stride"):
        dataset_items(root, patch_size=4, stride=0)
