"""Refinement and the black-hat baseline on drawn images."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from crackscope.maps.baseline import blackhat_otsu
from crackscope.maps.refine import (
    RefineOptions,
    dark_line_response,
    line_depth,
    refine_map,
    support_region,
    within_half_max,
)


def _near(mask, px=2):
    return ndimage.binary_dilation(mask, iterations=px)


def _two_lines():
    rng = np.random.default_rng(1)
    img = rng.integers(135, 150, (80, 120, 3)).astype(np.uint8)
    img[20:23, 10:110] = 40  # line A (top)
    img[60:62, 10:110] = 40  # line B (bottom)
    a = np.zeros((80, 120), bool)
    a[20:23, 10:110] = True
    b = np.zeros((80, 120), bool)
    b[60:62, 10:110] = True
    return img, a, b


def test_dark_line_response_marks_dark_lines():
    img, a, b = _two_lines()
    r = dark_line_response(img)
    assert r.dtype == np.float32 and r.min() >= 0 and r.max() <= 1
    assert r[a].mean() > 0.9 and r[~(a | b)].mean() < 0.15
    with pytest.raises(ValueError):
        dark_line_response(img, radii=())


def test_relative_contrast_is_in_units_of_the_photos_mean_black_hat():
    def striped(depth: int) -> np.ndarray:
        img = np.full((64, 64), 200, np.uint8)
        img[::4] = 200 - depth  # a dark 1 px line on every 4th row: black-hat `depth` there, 0 elsewhere
        return img

    for depth in (40, 80):
        absolute = dark_line_response(striped(depth), radii=(3,), blur=0, contrast=100.0)
        assert absolute[0, 10] == pytest.approx(depth / 100) and absolute[1, 10] == 0
        # mean black-hat depth / 4: 8 x the mean is twice a line's depth, at any depth
        relative = dark_line_response(striped(depth), radii=(3,), blur=0, contrast=8.0, relative=True)
        assert relative[0, 10] == pytest.approx(0.5) and relative[1, 10] == 0
    flat = dark_line_response(np.full((16, 16), 90, np.uint8), radii=(3,), blur=0, contrast=8.0, relative=True)
    assert not flat.any()  # a mean below one grey level counts as one: no division by zero
    opts = RefineOptions(radii=(3,), blur=0, contrast=8.0, relative_contrast=True)
    assert np.array_equal(opts.response(striped(80)), relative)


def test_refinement_keeps_only_lines_inside_the_cam_region():
    img, a, b = _two_lines()
    cam = np.zeros((80, 120), np.float32)
    cam[12:30, :] = 0.8  # the class map only saw the top crack
    soft, mask = refine_map(img, cam)
    assert mask[a].mean() > 0.9 and not mask[b].any()
    assert not (mask & ~_near(a)).any()  # the blur may widen a line by a pixel or two, no more
    assert soft[a].mean() > soft[b].mean() and soft.shape == cam.shape
    _, fixed = refine_map(img, cam, options=RefineOptions(mask_threshold=0.5))
    assert fixed[a].mean() > 0.9 and not fixed[b].any()
    empty_soft, empty = refine_map(img, np.zeros_like(cam))
    assert not empty.any() and not empty_soft.any()
    with pytest.raises(ValueError):
        refine_map(img, cam[:10])


def test_support_region_level_and_dilation():
    cam = np.zeros((20, 20), np.float32)
    cam[10, 10] = 1.0
    cam[2, 2] = 0.2
    assert support_region(cam, level=0.5, dilation=0).sum() == 1
    assert support_region(np.zeros((4, 5), np.float32), level=0.0, dilation=0).all()  # no restriction at all
    assert support_region(cam, level=0.1, dilation=0).sum() == 2
    grown = support_region(cam, level=0.5, dilation=2)
    assert grown[8:13, 8:13].sum() == grown.sum() >= 13 and not grown[2, 2]


def test_baseline_finds_both_lines_without_a_model():
    img, a, b = _two_lines()
    _resp, mask = blackhat_otsu(img)
    assert mask[a].mean() > 0.9 and mask[b].mean() > 0.9 and not (mask & ~_near(a | b)).any()


def test_keep_elongated_drops_blobs_and_short_bits():
    from crackscope.maps.refine import keep_elongated

    mask = np.zeros((60, 100), bool)
    mask[10:13, 5:95] = True  # a crack: 90 x 3
    mask[30:50, 20:40] = True  # a blob: 20 x 20
    mask[55:57, 60:66] = True  # a short bit
    kept = keep_elongated(mask, max_fill=0.25, min_length=10)
    assert kept[10:13, 5:95].all() and not kept[30:50, 20:40].any() and not kept[55:57, 60:66].any()
    assert keep_elongated(mask, max_fill=None, min_length=0)[30:50, 20:40].all()
    assert not keep_elongated(np.zeros((5, 5), bool)).any()
    with pytest.raises(ValueError):
        keep_elongated(mask, max_fill=0)


def test_hysteresis_keeps_faint_continuations_only():
    rng = np.random.default_rng(0)
    img = rng.integers(140, 146, (60, 120, 3)).astype(np.uint8)
    img[20:22, 10:60] = 40  # strong part of a crack
    img[20:22, 60:110] = 110  # its faint continuation
    img[45:47, 10:110] = 110  # a separate faint line
    cam = np.ones((60, 120), np.float32)
    opts = RefineOptions(
        radii=(2, 4), blur=1.0, contrast=100.0, region_level=0.0, region_dilation=0, min_size=0, min_response=0.6
    )
    _, plain = refine_map(img, cam, options=opts)
    _, hyst = refine_map(img, cam, options=opts.with_(hysteresis=0.25))
    assert plain[20:22, 15:55].all() and not plain[20:22, 65:105].any()
    assert hyst[20:22, 15:105].mean() > 0.9 and not hyst[45:47].any()


def test_region_floor_ignores_faint_maps():
    cam = np.zeros((20, 20), np.float32)
    cam[5:10, 5:10] = 0.05
    assert support_region(cam, level=0.5, dilation=0).sum() == 25
    assert not support_region(cam, level=0.5, dilation=0, floor=0.1).any()
    cam[12, 12] = 0.5
    assert support_region(cam, level=0.0, dilation=0, floor=0.1).sum() == 1


def test_half_max_trims_the_blurred_flanks_of_a_strong_crack():
    rng = np.random.default_rng(0)
    img = rng.integers(140, 146, (40, 80, 3)).astype(np.uint8)
    img[18:21, 5:75] = 20  # a strong 3 px crack
    line = np.zeros((40, 80), bool)
    line[18:21, 5:75] = True
    opts = RefineOptions(
        radii=(3, 6), blur=2.0, contrast=200.0, region_level=0.0, region_dilation=0, min_size=0, min_response=0.05
    )
    _, wide = refine_map(img, np.ones((40, 80), np.float32), options=opts)
    _, trimmed = refine_map(img, np.ones((40, 80), np.float32), options=opts.with_(half_max=0.5))
    assert trimmed[line].mean() > 0.9 and (trimmed & ~line).sum() < (wide & ~line).sum()
    assert not (trimmed & ~wide).any()


def test_line_depth_is_unclipped_and_unquantised():
    img = np.full((20, 20), 200, np.uint8)
    img[:, 8] = 195  # a faint 1 px line, 5 grey levels deep
    img[:, 14] = 20  # a strong one, 180 deep
    depth = line_depth(img, radii=(3,), blur=0.7)
    assert depth.dtype == np.float32
    assert depth[10, 14] > 100 > 80  # beyond the response's usual contrast, not clipped
    faint = depth[10, 6:11]
    assert faint.argmax() == 2 and 0 < faint[1] < faint[2] and len(set(faint.round(3).tolist())) >= 3


def test_width_rule_on_the_line_depth_keeps_a_hairline_one_pixel_wide():
    img = np.full((40, 60), 200, np.uint8)
    img[20, 5:55] = 185  # a faint hairline, 1 px wide
    line = np.zeros((40, 60), bool)
    line[20, 5:55] = True
    opts = RefineOptions(
        radii=(3, 6),
        blur=1.0,
        contrast=80.0,
        region_level=0.0,
        region_dilation=0,
        min_size=0,
        min_response=0.05,
        mask_threshold=0.0,
        half_max=0.6,
        half_max_radius=3,
    )
    cam = np.ones((40, 60), np.float32)
    _, quantised = refine_map(img, cam, options=opts)
    _, exact = refine_map(img, cam, options=opts.with_(half_max_blur=0.5))
    assert exact[line].all() and not (exact & ~line).any()
    assert (quantised & ~line).sum() > 0  # the uint8 response's flanks reach 0.6 of a 6-level peak
    assert np.array_equal(opts.width_response(img), opts.response(img))


def test_line_depth_rejects_bad_settings():
    with pytest.raises(ValueError, match="radii"):
        line_depth(np.zeros((4, 4), np.uint8), radii=(0,))
    with pytest.raises(ValueError, match="blur"):
        line_depth(np.zeros((4, 4), np.uint8), blur=-1)


def test_width_response_keeps_the_dark_band_of_a_strong_crack():
    img = np.full((30, 40), 200, np.uint8)
    img[:, 18:23] = [170, 110, 20, 110, 170]  # a strong crack, darker than the contrast across 3 px
    opts = RefineOptions(radii=(3, 6), contrast=80.0, half_max=0.6, half_max_radius=3, half_max_blur=0.5)
    kept = within_half_max(opts.width_response(img), level=0.6, radius=3)[15]
    assert kept[19:22].all() and not kept[18] and not kept[22]
    assert opts.width_response(img).max() == 80.0
    unclipped = within_half_max(line_depth(img, radii=(3, 6), blur=0.5), level=0.6, radius=3)[15]
    assert unclipped[18:23].tolist() == [False, False, True, False, False]  # the centre alone


def test_keep_elongated_keeps_what_the_fill_rule_of_each_component_says():
    import cv2
    from skimage.morphology import skeletonize

    from crackscope.maps.refine import keep_elongated

    rng = np.random.default_rng(1)
    for trial in range(40):
        mask = rng.random((40, 60)) < rng.uniform(0.02, 0.3)
        mask = cv2.dilate(mask.astype(np.uint8), np.ones((1 + trial % 3, 1 + trial % 4), np.uint8)).astype(bool)
        labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
        area = np.bincount(labels.ravel(), minlength=n + 1)
        length = np.bincount(labels[skeletonize(mask).astype(bool)].ravel(), minlength=n + 1)
        for max_fill, min_length in ((0.25, 0), (None, 3), (1.0, 2)):
            keep = length >= max(min_length, 1)
            if max_fill is not None:
                keep &= area <= max_fill * np.maximum(length, 1) ** 2
            keep[0] = False
            got = keep_elongated(mask, max_fill=max_fill, min_length=min_length)
            np.testing.assert_array_equal(got, keep[labels], err_msg=f"{trial} {max_fill} {min_length}")
