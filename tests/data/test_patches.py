"""The patch labelling rule on tiny arrays with exact expected answers."""

from __future__ import annotations

import numpy as np
import pytest

from crackscope.data.patches import cut_patches, label_boxes, label_patch, patch_boxes
from crackscope.errors import BadInputError


def _mask(shape=(8, 8), points=()) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for y, x in points:
        mask[y, x] = True
    return mask


def test_empty_mask_is_uncracked() -> None:
    assert label_patch(_mask(), (0, 0, 4, 4), min_crack_pixels=1, margin=0) == 0
    assert label_patch(_mask(), (2, 2, 4, 4), min_crack_pixels=3, margin=100) == 0


def test_single_pixel_inside() -> None:
    mask = _mask(points=[(1, 1)])
    assert label_patch(mask, (0, 0, 4, 4), min_crack_pixels=1, margin=0) == 1
    # one crack pixel is not enough for N=2, and it is inside, so not uncracked either: ambiguous
    assert label_patch(mask, (0, 0, 4, 4), min_crack_pixels=2, margin=0) is None


def test_all_foreground() -> None:
    mask = np.ones((8, 8), bool)
    assert label_patch(mask, (0, 0, 4, 4), min_crack_pixels=16, margin=0) == 1
    assert label_patch(mask, (0, 0, 4, 4), min_crack_pixels=17, margin=0) is None


def test_margin_cases() -> None:
    # crack pixel at (0, 5): one column right of the box rows 0..3, cols 0..3 -> distance 2 from column 3
    mask = _mask(points=[(0, 5)])
    box = (0, 0, 4, 4)
    assert label_patch(mask, box, min_crack_pixels=1, margin=0) == 0  # outside the box, no margin
    assert label_patch(mask, box, min_crack_pixels=1, margin=1) == 0  # margin reaches column 4 only
    assert label_patch(mask, box, min_crack_pixels=1, margin=2) is None  # margin reaches column 5
    # diagonal neighbour: the margin is a square ring (box grown on every side)
    diag = _mask(points=[(5, 5)])
    assert label_patch(diag, box, min_crack_pixels=1, margin=1) == 0
    assert label_patch(diag, box, min_crack_pixels=1, margin=2) is None
    # a margin that runs off the image is clipped, not an error
    assert label_patch(_mask(), (4, 4, 4, 4), min_crack_pixels=1, margin=50) == 0


def test_label_boxes_counts_exactly() -> None:
    mask = _mask((4, 6), points=[(0, 0), (0, 1), (3, 5)])
    boxes = [(0, 0, 2, 2), (0, 2, 2, 2), (2, 2, 2, 2), (2, 4, 2, 2)]
    # box1: 2 px inside -> 1; box2: none inside but (0,1) within margin 1 -> None;
    # box3: nothing within 1 px -> 0 ; box4: 1 px inside < 2 -> None
    assert label_boxes(mask, boxes, min_crack_pixels=2, margin=1) == [1, None, 0, None]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="min_crack_pixels"):
        label_patch(_mask(), (0, 0, 2, 2), min_crack_pixels=0, margin=0)
    with pytest.raises(ValueError, match="margin"):
        label_patch(_mask(), (0, 0, 2, 2), min_crack_pixels=1, margin=-1)
    with pytest.raises(ValueError, match="not inside"):
        label_patch(_mask(), (6, 6, 4, 4), min_crack_pixels=1, margin=0)


def test_patch_boxes_cover_edges() -> None:
    assert patch_boxes(4, 4, size=2, stride=2) == [(0, 0, 2, 2), (0, 2, 2, 2), (2, 0, 2, 2), (2, 2, 2, 2)]
    # 5 px wide with size 2, stride 2: starts 0, 2 and a last one flush with the edge at 3
    assert [b[1] for b in patch_boxes(2, 5, size=2, stride=2)] == [0, 2, 3]
    assert [b[1] for b in patch_boxes(2, 5, size=2, stride=2, cover_edges=False)] == [0, 2]
    assert patch_boxes(3, 3, size=4, stride=4) == []


def test_cut_patches_keeps_crops_and_drops_ambiguous() -> None:
    image = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    mask = _mask((4, 4), points=[(0, 0), (1, 1), (3, 3)])
    patches = cut_patches(image, mask, size=2, stride=2, min_crack_pixels=2, margin=0, source="p.png")
    # top-left: 2 px -> cracked; top-right, bottom-left: empty -> uncracked; bottom-right: 1 px -> dropped
    assert [(p.box, p.label) for p in patches] == [((0, 0, 2, 2), 1), ((0, 2, 2, 2), 0), ((2, 0, 2, 2), 0)]
    assert patches[0].key == "p.png#0,0,2,2"
    assert np.array_equal(patches[1].image, image[0:2, 2:4])
    assert patches[0].mask.tolist() == [[True, False], [False, True]]
    patches[0].image[...] = 0  # crops are copies
    assert image[0, 0, 1] == 1


def test_cut_patches_size_mismatch_names_source() -> None:
    with pytest.raises(BadInputError, match=r"m.png: mask size 4x3 differs from its image size 4x4"):
        cut_patches(
            np.zeros((4, 4, 3), np.uint8),
            np.zeros((3, 4), bool),
            size=2,
            stride=2,
            min_crack_pixels=1,
            margin=0,
            source="m.png",
        )
