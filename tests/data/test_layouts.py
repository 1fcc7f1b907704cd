"""Every layout detected and read from a tiny folder; bad files skipped with a report; bad folders refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crackscope.data.layouts import class_of_folder, detect_layout, label_from_name, load_dataset
from crackscope.errors import BadInputError
from tests.data.helpers import gray_image, make_folders, write_image


def _labels(dataset) -> dict[str, int | None]:
    return {s.path.relative_to(dataset.root).as_posix(): s.label for s in dataset.samples}


@pytest.mark.parametrize(
    ("cracked", "uncracked"),
    [("cracked", "uncracked"), ("Positive", "Negative"), ("POSITIVE", "negative"), ("1_cracked", "0_uncracked")],
)
def test_class_folders(tmp_path: Path, cracked: str, uncracked: str) -> None:
    root = make_folders(tmp_path / "set", {cracked: 3, uncracked: 2})
    assert detect_layout(root) == "class-folders"
    ds = load_dataset(root)
    assert ds.layout == "class-folders"
    assert ds.counts() == {"cracked": 3, "uncracked": 2}
    assert _labels(ds)[f"{cracked}/img_000.png"] == 1
    assert _labels(ds)[f"{uncracked}/img_001.png"] == 0
    assert ds.skipped == []


def test_sdnet_nested_folders(tmp_path: Path) -> None:
    root = tmp_path / "SDNET2018"
    for sub, c, u in (("D", "CD", "UD"), ("P", "CP", "UP"), ("W", "CW", "UW")):
        write_image(root / sub / c / f"{sub}7001-1.jpg", gray_image(90))
        write_image(root / sub / u / f"{sub}7001-2.jpg", gray_image(120))
        write_image(root / sub / u / f"{sub}7002-5.jpg", gray_image(130))
    assert detect_layout(root) == "class-folders"
    ds = load_dataset(root)
    assert ds.counts() == {"cracked": 3, "uncracked": 6}
    assert _labels(ds)["P/CP/P7001-1.jpg"] == 1 and _labels(ds)["W/UW/W7002-5.jpg"] == 0
    assert {s.group for s in ds.samples} >= {"D7001-1", "W7002-5"}  # group = file stem
    assert ds.samples[0].shape == (16, 16)


def test_sdnet_flat_folders(tmp_path: Path) -> None:
    root = make_folders(tmp_path / "set", {"CD": 2, "UD": 2, "CW": 1})
    assert load_dataset(root).counts() == {"cracked": 3, "uncracked": 2}


def test_folder_name_rules() -> None:
    assert class_of_folder("Cracked") == 1 and class_of_folder("NEGATIVE") == 0
    assert class_of_folder("CD") == 1 and class_of_folder("UP") == 0
    # ordinary folder names that merely start with C/U are not classes
    assert class_of_folder("Camera") is None and class_of_folder("cd") is None and class_of_folder("Unused") is None


def test_repeated_stems_get_distinct_groups(tmp_path: Path) -> None:
    # Özgenel's set has unrelated 00003.jpg in both folders: they must not become one "photo".
    root = make_folders(tmp_path / "set", {"cracked": 1, "uncracked": 1})
    groups = sorted(s.group for s in load_dataset(root).samples)
    assert groups == ["cracked/img_000", "uncracked/img_000"]


def test_filename_labels(tmp_path: Path) -> None:
    root = tmp_path / "kaggle"
    for name in ("noncrack_a.jpg", "NONCRACK_b.png", "CFD_001.jpg", "crack_x.png"):
        write_image(root / name, gray_image(100))
    assert detect_layout(root) == "filename-labels"
    ds = load_dataset(root)
    assert _labels(ds) == {"noncrack_a.jpg": 0, "NONCRACK_b.png": 0, "CFD_001.jpg": 1, "crack_x.png": 1}
    assert label_from_name("dir/noncrack_1.jpg") == 0 and label_from_name("x_noncrack.jpg") == 1


def test_labels_csv_overrides_names(tmp_path: Path) -> None:
    root = tmp_path / "set"
    for name in ("a.png", "b.png", "noncrack_c.png", "d.png"):
        write_image(root / name, gray_image(100))
    (root / "labels.csv").write_text(
        "filename,class\na.png,uncracked\nnoncrack_c.png,cracked\nghost.png,cracked\nd.png,maybe\n"
    )
    ds = load_dataset(root)
    # a: csv says uncracked; b: not listed -> name rule (cracked); c: csv wins over the name; d: bad class -> name
    assert _labels(ds) == {"a.png": 0, "b.png": 1, "noncrack_c.png": 1, "d.png": 1}
    problems = {p.name: why for p, why in ds.skipped}
    assert "missing" in problems["ghost.png"]
    assert "unknown class 'maybe'" in problems["labels.csv"]


def test_image_mask_pairs_any_extension(tmp_path: Path) -> None:
    root = tmp_path / "seg"
    mask = np.zeros((16, 16), np.uint8)
    mask[4, 4] = 255
    write_image(root / "images" / "p1.jpg", gray_image(100))
    write_image(root / "masks" / "p1.png", mask)
    write_image(root / "images" / "p2.png", gray_image(100))
    write_image(root / "masks" / "p2.bmp", mask)
    write_image(root / "images" / "lonely.png", gray_image(100))
    write_image(root / "masks" / "orphan.png", mask)
    assert detect_layout(root) == "image-mask"
    ds = load_dataset(root)
    assert [(s.path.name, s.mask_path.name, s.label, s.group) for s in ds.samples] == [
        ("p1.jpg", "p1.png", None, "p1"),
        ("p2.png", "p2.bmp", None, "p2"),
    ]
    problems = {p.name: why for p, why in ds.skipped}
    assert "no mask" in problems["lonely.png"] and "without an image" in problems["orphan.png"]


def test_two_images_for_one_mask_are_both_skipped_naming_both(tmp_path: Path) -> None:
    root = tmp_path / "seg"
    write_image(root / "images" / "a.png", gray_image(100))
    write_image(root / "images" / "a.jpg", gray_image(100))
    write_image(root / "masks" / "a.png", np.zeros((16, 16), np.uint8))
    write_image(root / "images" / "b.png", gray_image(100))
    write_image(root / "masks" / "b.png", np.zeros((16, 16), np.uint8))
    ds = load_dataset(root)
    assert [s.path.name for s in ds.samples] == ["b.png"]
    problems = {p.name: why for p, why in ds.skipped}
    assert set(problems) == {"a.png", "a.jpg"}  # the mask is not also reported as "without an image"
    for why in problems.values():
        assert "ambiguous image: a.jpg and a.png" in why and "match the same mask" in why
        assert str(root / "masks" / "a.png") in why


def test_two_masks_with_one_stem_skip_the_image_naming_both(tmp_path: Path) -> None:
    from crackscope.data.layouts import find_mask_for

    root = tmp_path / "seg"
    write_image(root / "images" / "a.png", gray_image(100))
    write_image(root / "masks" / "a.png", np.zeros((16, 16), np.uint8))
    write_image(root / "masks" / "a.tif", np.zeros((16, 16), np.uint8))
    write_image(root / "images" / "b.png", gray_image(100))
    write_image(root / "masks" / "b.png", np.zeros((16, 16), np.uint8))
    ds = load_dataset(root)
    assert [s.path.name for s in ds.samples] == ["b.png"]
    ((path, why),) = ds.skipped
    assert path == root / "images" / "a.png"
    assert "ambiguous mask: a.png and a.tif" in why
    with pytest.raises(BadInputError, match=r"ambiguous mask: a.png and a.tif"):
        find_mask_for(root / "images" / "a.png")
    assert find_mask_for(root / "images" / "b.png") == root / "masks" / "b.png"


def test_ambiguous_masks_in_a_filename_labels_set_are_skipped_too(tmp_path: Path) -> None:
    root = tmp_path / "kaggle"
    write_image(root / "images" / "crack_1.png", gray_image(100))
    write_image(root / "images" / "crack_2.png", gray_image(100))
    write_image(root / "masks" / "crack_1.png", np.zeros((16, 16), np.uint8))
    write_image(root / "masks" / "crack_1.jpg", np.zeros((16, 16), np.uint8))
    ds = load_dataset(root, layout="filename-labels")
    assert [s.path.name for s in ds.samples] == ["crack_2.png"]
    ((path, why),) = ds.skipped
    assert path.name == "crack_1.png" and "ambiguous mask: crack_1.jpg and crack_1.png" in why


def test_tiny_and_rotated_photos_follow_the_reading_gate(tmp_path: Path) -> None:
    from PIL import Image

    root = tmp_path / "seg"
    write_image(root / "images" / "dot.png", gray_image(100, size=4))
    write_image(root / "masks" / "dot.png", np.zeros((4, 4), np.uint8))
    photo = Image.fromarray(np.zeros((16, 24, 3), np.uint8))  # stored 24 wide, 16 high
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned: 16 wide, 24 high
    (root / "images").mkdir(parents=True, exist_ok=True)
    photo.save(root / "images" / "phone.jpg", exif=exif.tobytes())
    write_image(root / "masks" / "phone.png", np.zeros((24, 16), np.uint8))  # drawn on the upright photo
    ds = load_dataset(root)
    assert [(s.path.name, s.shape) for s in ds.samples] == [("phone.jpg", (24, 16))]
    ((path, why),) = ds.skipped
    assert path.name == "dot.png" and "smaller than 8 px on a side" in why


def test_layout_override(tmp_path: Path) -> None:
    root = tmp_path / "seg"
    write_image(root / "images" / "noncrack_1.png", gray_image(100))
    write_image(root / "images" / "crack_2.png", gray_image(100))
    write_image(root / "masks" / "noncrack_1.png", np.zeros((16, 16), np.uint8))
    write_image(root / "masks" / "crack_2.png", np.zeros((16, 16), np.uint8))
    assert load_dataset(root).layout == "image-mask"
    ds = load_dataset(root, layout="filename-labels")
    assert ds.layout == "filename-labels"
    assert {s.path.name: s.label for s in ds.samples} == {"noncrack_1.png": 0, "crack_2.png": 1}
    assert all(s.mask_path is not None for s in ds.samples)  # masks still found
    with pytest.raises(ValueError, match="unknown layout"):
        load_dataset(root, layout="yolo")


def test_corrupt_and_empty_files_are_skipped(tmp_path: Path) -> None:
    root = make_folders(tmp_path / "set", {"cracked": 2, "uncracked": 2})
    (root / "cracked" / "broken.jpg").write_bytes(b"this is not a jpeg")
    (root / "uncracked" / "empty.png").write_bytes(b"")
    (root / "uncracked" / "notes.txt").write_text("ignored: not an image name")
    ds = load_dataset(root)
    assert ds.counts() == {"cracked": 2, "uncracked": 2}
    problems = {p.name: why for p, why in ds.skipped}
    assert set(problems) == {"broken.jpg", "empty.png"}
    assert "not an image" in problems["broken.jpg"] and problems["empty.png"] == "empty file"


def test_mask_of_other_size_is_skipped_and_named(tmp_path: Path) -> None:
    root = tmp_path / "seg"
    write_image(root / "images" / "good.png", gray_image(100, 16))
    write_image(root / "masks" / "good.png", np.zeros((16, 16), np.uint8))
    write_image(root / "images" / "bad.png", gray_image(100, 16))
    write_image(root / "masks" / "bad.png", np.zeros((12, 16), np.uint8))
    ds = load_dataset(root)
    assert [s.path.name for s in ds.samples] == ["good.png"]
    ((path, problem),) = ds.skipped
    assert path.name == "bad.png" and path.parent.name == "masks"
    assert "mask size 16x12 differs from its image size 16x16" in problem


def test_empty_missing_and_unknown_folders(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInputError, match="folder is empty; expected one of") as info:
        load_dataset(empty)
    assert info.value.path == empty
    with pytest.raises(BadInputError, match="no such folder"):
        detect_layout(tmp_path / "nope")
    odd = tmp_path / "odd"
    (odd / "photos2019").mkdir(parents=True)
    (odd / "readme.txt").write_text("hi")
    with pytest.raises(BadInputError, match=r"unknown dataset layout \(found sub-folders photos2019") as info:
        detect_layout(odd)
    assert "images/ + masks/" in str(info.value) and "cracked/ + uncracked/" in str(info.value)


def test_only_bad_files_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "set"
    (root / "cracked").mkdir(parents=True)
    (root / "cracked" / "x.png").write_bytes(b"junk")
    with pytest.raises(BadInputError, match=r"no readable images .*cracked/x.png: not an image"):
        load_dataset(root)


def test_verify_catches_truncated_files(tmp_path: Path) -> None:
    root = make_folders(tmp_path / "set", {"cracked": 1, "uncracked": 1}, ext=".jpg")
    noisy = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    whole = write_image(tmp_path / "noisy.jpg", noisy).read_bytes()  # large enough that half keeps the header
    (root / "cracked" / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    assert len(load_dataset(root).samples) == 3  # the header alone looks fine
    ds = load_dataset(root, verify=True)
    assert len(ds.samples) == 2
    ((path, problem),) = ds.skipped
    assert path.name == "cut.jpg" and "truncated" in problem
