"""Post-processing chain on tiny arrays with exact expected outputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from crackscope.maps.postprocess import (
    close_mask,
    dilate_mask,
    drop_border_artefacts,
    erode_mask,
    label_cracks,
    open_mask,
    remove_small,
    skeletonize_mask,
    threshold_map,
)

MORPHS = (open_mask, close_mask, dilate_mask, erode_mask)


def test_fixed_threshold_is_inclusive():
    prob = np.array([[0.1, 0.5], [0.49, 0.9]])
    np.testing.assert_array_equal(threshold_map(prob, method="fixed", value=0.5), [[False, True], [False, True]])


def test_otsu_splits_two_levels():
    prob = np.zeros((4, 4))
    prob[1:3, 1:3] = 0.8
    np.testing.assert_array_equal(threshold_map(prob), prob > 0.5)


@pytest.mark.parametrize("method,value", [("otsu", None), ("percentile", 50)])
def test_constant_map_gives_empty_mask(method, value):
    out = threshold_map(np.full((3, 5), 0.7), method=method, value=value)
    assert out.dtype == bool and out.shape == (3, 5) and not out.any()


def test_percentile_keeps_top_values():
    prob = np.arange(10, dtype=float).reshape(2, 5)
    out = threshold_map(prob, method="percentile", value=80)  # 80th percentile = 7.2
    np.testing.assert_array_equal(out.ravel(), np.arange(10) > 7.2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "median"},
        {"method": "fixed"},
        {"method": "percentile", "value": 101},
        {"method": "otsu", "value": 0.5},
        {"method": "fixed", "value": float("nan")},
    ],
)
def test_threshold_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        threshold_map(np.zeros((2, 2)), **kwargs)


def test_threshold_rejects_bad_maps():
    with pytest.raises(ValueError, match="2-D"):
        threshold_map(np.zeros((2, 2, 3)), method="fixed", value=0.5)
    with pytest.raises(ValueError, match="NaN"):
        threshold_map(np.array([[0.0, np.nan]]), method="fixed", value=0.5)


@pytest.mark.parametrize("op", MORPHS)
def test_morphology_on_empty_and_full_masks(op):
    empty = np.zeros((5, 6), bool)
    full = np.ones((5, 6), bool)
    assert not op(empty, radius=2).any()
    assert op(full, radius=2).all()  # outside the image is neutral: borders do not erode


@pytest.mark.parametrize("op", MORPHS)
def test_morphology_radius_zero_is_identity_and_negative_fails(op):
    mask = np.eye(4, dtype=bool)
    out = op(mask, radius=0)
    np.testing.assert_array_equal(out, mask)
    assert out is not mask
    with pytest.raises(ValueError):
        op(mask, radius=-1)
    with pytest.raises(ValueError):
        op(mask, radius=1.5)


def test_single_pixel_morphology():
    mask = np.zeros((5, 5), bool)
    mask[2, 2] = True
    cross = np.zeros((5, 5), bool)
    cross[1:4, 2] = cross[2, 1:4] = True
    np.testing.assert_array_equal(dilate_mask(mask, radius=1), cross)
    assert not erode_mask(mask, radius=1).any()
    assert not open_mask(mask, radius=1).any()
    np.testing.assert_array_equal(close_mask(mask, radius=1), mask)
    np.testing.assert_array_equal(erode_mask(cross, radius=1), mask)


def test_closing_bridges_a_one_pixel_gap():
    mask = np.zeros((9, 13), bool)
    mask[3:6, 3:6] = mask[3:6, 7:10] = True
    expected = mask.copy()
    expected[4, 6] = True  # the disk of radius 1 is a cross: only the gap's middle pixel is filled
    np.testing.assert_array_equal(close_mask(mask, radius=1), expected)


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_morphology_matches_scikit_image(radius):
    from skimage import morphology

    mask = np.random.default_rng(radius).random((30, 40)) > 0.6
    footprint = morphology.disk(radius)
    for ours, theirs in (
        (open_mask, morphology.opening),
        (close_mask, morphology.closing),
        (dilate_mask, morphology.dilation),
        (erode_mask, morphology.erosion),
    ):
        np.testing.assert_array_equal(ours(mask, radius=radius), theirs(mask, footprint))


def test_remove_small_counts_pixels_with_8_connectivity():
    mask = np.zeros((6, 6), bool)
    mask[0, 0] = True  # 1 px
    mask[2, 2] = mask[3, 3] = True  # 2 px, diagonal neighbours
    mask[5, 3:6] = True  # 3 px
    out = remove_small(mask, min_size=2)
    expected = mask.copy()
    expected[0, 0] = False
    np.testing.assert_array_equal(out, expected)
    assert remove_small(mask, min_size=3).sum() == 3
    np.testing.assert_array_equal(remove_small(mask, min_size=0), mask)
    assert not remove_small(np.zeros((3, 3), bool), min_size=5).any()
    assert remove_small(np.ones((3, 3), bool), min_size=9).all()
    with pytest.raises(ValueError):
        remove_small(mask, min_size=-1)


def test_label_cracks_connectivity():
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = mask[1, 1] = True
    mask[3, 3] = True
    labels, n = label_cracks(mask)
    assert n == 2
    np.testing.assert_array_equal(labels[[0, 1, 3], [0, 1, 3]], [1, 1, 2])
    _, n4 = label_cracks(mask, connectivity=1)
    assert n4 == 3
    assert label_cracks(np.zeros((3, 3), bool))[1] == 0
    labels, n = label_cracks(np.ones((3, 3), bool))
    assert n == 1 and (labels == 1).all()
    with pytest.raises(ValueError):
        label_cracks(mask, connectivity=3)


def test_skeleton_by_component_equals_scikit_images_of_the_whole_mask():
    import cv2
    from skimage.morphology import skeletonize

    rng = np.random.default_rng(0)
    for trial in range(60):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        mask = rng.random((h, w)) < rng.uniform(0.05, 0.8)
        if trial % 2:  # wider pieces, some touching others diagonally only
            mask = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        np.testing.assert_array_equal(skeletonize_mask(mask), skeletonize(mask).astype(bool), err_msg=str(trial))


def test_skeleton_of_a_bar_is_one_pixel_wide():
    mask = np.zeros((7, 20), bool)
    mask[2:5, 1:19] = True
    skel = skeletonize_mask(mask)
    assert skel.dtype == bool
    assert skel[3, 3:16].all()  # the centre row
    assert (skel.sum(axis=0) <= 1).all()
    assert not skeletonize_mask(np.zeros((4, 4), bool)).any()
    single = np.zeros((3, 3), bool)
    single[1, 1] = True
    np.testing.assert_array_equal(skeletonize_mask(single), single)


# -- border artefacts ----------------------------------------------------------------------------------------
def test_border_rule_examples_run():
    import doctest

    from crackscope.maps import postprocess

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(postprocess.drop_border_artefacts, globs={"np": np, **vars(postprocess)}):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0 and runner.tries > 0


@pytest.mark.parametrize("edge", ["top", "bottom", "left", "right"])
def test_strip_along_any_edge_goes_and_the_crack_inside_stays(edge: str) -> None:
    mask = np.zeros((120, 160), bool)
    strip = {
        "top": (slice(0, 6), slice(30, 130)),
        "bottom": (slice(114, 120), slice(30, 130)),
        "left": (slice(10, 110), slice(0, 6)),
        "right": (slice(10, 110), slice(154, 160)),
    }[edge]
    mask[strip] = True  # the 100 x 6 px strip of the issue
    mask[40:80, 78:81] = True  # a crack inside, 40 x 3 px
    kept = drop_border_artefacts(mask)
    assert not kept[strip].any()
    assert kept[40:80, 78:81].all() and kept.sum() == 120


def test_a_dark_frame_goes():
    mask = np.zeros((100, 100), bool)
    mask[:4] = mask[-4:] = mask[:, :4] = mask[:, -4:] = True
    mask[30:70, 50] = True
    kept = drop_border_artefacts(mask)
    assert kept.sum() == 40 and kept[30:70, 50].all()


@pytest.mark.parametrize(
    "draw",
    [
        lambda m: m.__setitem__((slice(0, 60), slice(40, 43)), True),  # crosses the top edge
        lambda m: m.__setitem__((slice(50, 53), slice(0, 12)), True),  # a short one leaving through the left
        lambda m: np.fill_diagonal(m, True),  # from corner to corner
        lambda m: m.__setitem__((slice(5, 8), slice(20, 80)), True),  # parallel, but 5 px inside a 4 px band
    ],
)
def test_cracks_that_cross_the_border_stay(draw) -> None:
    mask = np.zeros((100, 100), bool)
    draw(mask)
    before = mask.copy()
    kept = drop_border_artefacts(mask, band=4)
    np.testing.assert_array_equal(kept, before)
    np.testing.assert_array_equal(mask, before)  # the input is not changed


def test_the_thresholds_of_the_border_rule():
    mask = np.zeros((60, 60), bool)
    mask[0:5, 10:30] = True  # 20 long, 5 deep: A = 100 = 4 x 5 x 5, just long enough
    assert not drop_border_artefacts(mask).any()
    assert drop_border_artefacts(mask, min_aspect=4.5).sum() == 100  # a stricter rule keeps it
    mask = np.zeros((60, 60), bool)
    mask[0:6, 10:50] = True  # rows 0-2 of 6 in a 3 px band: half of the pixels
    assert not drop_border_artefacts(mask, band=3, min_fraction=0.5).any()
    assert drop_border_artefacts(mask, band=3, min_fraction=0.6).sum() == 240
    assert drop_border_artefacts(np.zeros((5, 5), bool)).dtype == bool


def test_border_artefacts_on_a_photo_with_a_dark_border():
    """A synthetic concrete photo, a 100 x 6 px dark strip on its top edge, a dark frame on the other sides and a
    crack inside; a detector of thin dark structures marks all three, the rule keeps only the crack."""
    import cv2

    from crackscope.data.synth import generate_pair
    from crackscope.maps.baseline import blackhat_otsu
    from crackscope.maps.measure import measure_cracks

    image, _ = generate_pair(np.random.default_rng(0), 256, cracked=False)
    image = image.copy()
    cv2.line(image, (60, 200), (190, 70), (35, 35, 35), 3)
    image[0:6, 80:180] = 30
    image[:, :3] = image[:, -3:] = image[-3:, :] = 25
    _, mask = blackhat_otsu(image)
    assert mask[0:6, 80:180].all() and mask[:, :3].all()  # the detector takes the strip and the frame

    kept = drop_border_artefacts(mask)
    assert not kept[0:6, 80:180].any() and not kept[:, :3].any() and not kept[-3:].any()
    assert kept[130:136, 125:136].any()  # the crack's middle
    cracks = measure_cracks(kept, link=0)  # each piece apart: the detector's specks beside the line stay out of it
    longest = max(cracks, key=lambda c: c.length_px)
    assert 170 < longest.length_px < 200  # about 184 px from (60, 200) to (190, 70)
    assert all(c.bbox[0] >= 8 and c.bbox[1] >= 3 for c in cracks)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"band": 0}, "band"),
        ({"band": 2.5}, "band"),
        ({"min_fraction": 0}, "min_fraction"),
        ({"min_fraction": 1.5}, "min_fraction"),
        ({"min_aspect": 0}, "min_aspect"),
        ({"min_aspect": float("nan")}, "min_aspect"),
        ({"connectivity": 3}, "connectivity"),
    ],
)
def test_bad_border_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        drop_border_artefacts(np.ones((9, 9), bool), **kwargs)


def test_border_rule_needs_a_2d_mask():
    with pytest.raises(ValueError, match="2-D"):
        drop_border_artefacts(np.zeros((3, 3, 3), bool))


@pytest.mark.parametrize("connectivity", [1, 2])
def test_remove_small_keeps_the_components_scipy_counts(connectivity):
    rng = np.random.default_rng(connectivity)
    mask = rng.random((60, 80)) < 0.35
    labels, _ = ndimage.label(mask, structure=ndimage.generate_binary_structure(2, connectivity))
    sizes = np.bincount(labels.ravel())
    for min_size in (2, 3, 7):
        expected = (sizes >= min_size)[labels] & mask
        np.testing.assert_array_equal(remove_small(mask, min_size=min_size, connectivity=connectivity), expected)
    strided = mask[:, ::2]  # not contiguous
    np.testing.assert_array_equal(remove_small(strided, min_size=3), remove_small(strided.copy(), min_size=3))


def test_label_cracks_links_pieces_across_small_gaps_in_raster_order():
    mask = np.zeros((12, 40), bool)
    mask[0, 0:5] = True  # B, first in raster order; 7 rows above A: never joined here
    mask[8, 0:8] = True  # A
    mask[8, 11:20] = True  # 3 px after A: joined with link 2 (gaps below 5 px), not with link 1
    mask[8, 26:30] = True  # C, 6 px after: joined with link 3 (gaps below 7 px) only
    labels, n = label_cracks(mask, link=2)
    assert n == 3 and labels[0, 0] == 1 and labels[8, 0] == labels[8, 11] == 2 and labels[8, 26] == 3
    assert not labels[~mask].any()
    assert label_cracks(mask)[1] == label_cracks(mask, link=1)[1] == 4
    labels, n = label_cracks(mask, link=3)
    assert n == 2 and labels[8, 0] == labels[8, 29] == 2
    with pytest.raises(ValueError, match="link"):
        label_cracks(mask, link=-1)
