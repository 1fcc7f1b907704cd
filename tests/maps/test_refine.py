"""Refinement and the black-hat baseline on drawn images."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from crackscope.maps.baseline import blackhat_otsu
from crackscope.maps.refine import RefineOptions, dark_line_response, refine_map, support_region


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
    assert r.dtype == np.float32 and 0 <= r.min() and r.max() <= 1
    assert r[a].mean() > 0.9 and r[~(a | b)].mean() < 0.15
    with pytest.raises(ValueError):
        dark_line_response(img, radii=())


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
    assert support_region(cam, level=0.1, dilation=0).sum() == 2
    grown = support_region(cam, level=0.5, dilation=2)
    assert grown[8:13, 8:13].sum() == grown.sum() >= 13 and not grown[2, 2]


def test_baseline_finds_both_lines_without_a_model():
    img, a, b = _two_lines()
    resp, mask = blackhat_otsu(img)
    assert mask[a].mean() > 0.9 and mask[b].mean() > 0.9 and not (mask & ~_near(a | b)).any()
