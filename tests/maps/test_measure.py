"""Crack measurements on drawn shapes of known size."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crackscope.maps.measure import (
    CrackMeasurement,
    CrackSummary,
    combine_summaries,
    measure_cracks,
    summarize_cracks,
)


def band(shape: tuple[int, int], p0: tuple[float, float], p1: tuple[float, float], width: float) -> np.ndarray:
    """Pixels whose centre lies within width/2 of the segment p0-p1 ((y, x) points)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    (y0, x0), (y1, x1) = p0, p1
    dy, dx = y1 - y0, x1 - x0
    t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / (dy * dy + dx * dx), 0, 1)
    return np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx)) <= width / 2


def test_empty_mask():
    assert measure_cracks(np.zeros((10, 10), bool)) == []


def test_single_pixel():
    mask = np.zeros((5, 5), bool)
    mask[2, 3] = True
    (m,) = measure_cracks(mask)
    assert m == CrackMeasurement(
        id=1, length_px=1.0, mean_width_px=1.0, max_width_px=1.0, orientation_deg=0.0, bbox=(2, 3, 3, 4), area_px=1
    )


def test_horizontal_line_3px_by_100px():
    mask = np.zeros((20, 130), bool)
    mask[8:11, 10:110] = True
    (m,) = measure_cracks(mask)
    assert m.length_px == pytest.approx(100, abs=2)
    assert m.mean_width_px == pytest.approx(3, abs=0.5)
    assert m.max_width_px == pytest.approx(3, abs=0.5)
    assert m.orientation_deg == pytest.approx(0, abs=1)
    assert m.bbox == (8, 10, 11, 110)
    assert m.area_px == 300
    assert m.length_mm is None and m.area_mm2 is None


def test_even_width_is_measured_exactly():
    mask = np.zeros((20, 130), bool)
    mask[8:12, 10:110] = True
    (m,) = measure_cracks(mask)
    assert m.mean_width_px == pytest.approx(4, abs=0.1)


def test_vertical_line_orientation():
    mask = np.zeros((130, 20), bool)
    mask[10:110, 8:11] = True
    (m,) = measure_cracks(mask)
    assert m.orientation_deg == pytest.approx(-90, abs=1)  # [-90, 90): vertical is -90
    assert m.length_px == pytest.approx(100, abs=2)


@pytest.mark.parametrize("width", [1, 3])
def test_diagonals(width):
    n = 80
    rising = np.zeros((n + 20, n + 20), bool)  # bottom-left to top-right on screen
    falling = np.zeros((n + 20, n + 20), bool)
    for i in range(n):
        rising[n + 9 - i, 10 + i] = True
        falling[10 + i, 10 + i] = True
    if width > 1:
        from crackscope.maps.postprocess import dilate_mask

        rising = dilate_mask(rising, radius=width // 2)
        falling = dilate_mask(falling, radius=width // 2)
    (up,) = measure_cracks(rising)
    (down,) = measure_cracks(falling)
    assert up.orientation_deg == pytest.approx(45, abs=1)
    assert down.orientation_deg == pytest.approx(-45, abs=1)
    for m in (up, down):
        assert m.length_px == pytest.approx(math.sqrt(2) * n, rel=0.03)


@pytest.mark.parametrize("angle", [10, 22.5, 30, 60, 80])
def test_oblique_line_length_and_width(angle):
    a = math.radians(angle)
    p0 = (110.0, 10.0)
    p1 = (110 - 90 * math.sin(a), 10 + 90 * math.cos(a))
    (m,) = measure_cracks(band((120, 120), p0, p1, 3))
    assert m.length_px == pytest.approx(93, rel=0.04)  # 90 px segment plus its 1.5 px round caps
    assert m.mean_width_px == pytest.approx(3, abs=0.5)
    assert m.orientation_deg == pytest.approx(angle, abs=1)


def test_branching_y():
    centre = (100.0, 100.0)
    tips = [(20.0, 100.0), (160.0, 30.0), (160.0, 170.0)]
    mask = np.zeros((200, 200), bool)
    for tip in tips:
        mask |= band(mask.shape, centre, tip, 3)
    (m,) = measure_cracks(mask)
    arms = sum(math.dist(centre, tip) for tip in tips)
    assert m.length_px == pytest.approx(arms, rel=0.05)
    assert m.mean_width_px == pytest.approx(3, abs=0.5)


def test_components_get_label_ids_and_min_length_filters():
    mask = np.zeros((30, 60), bool)
    mask[5, 5:45] = True  # id 1, 40 px
    mask[20, 10:15] = True  # id 2, 5 px
    ms = measure_cracks(mask)
    assert [m.id for m in ms] == [1, 2]
    assert [round(m.length_px) for m in ms] == [40, 5]
    kept = measure_cracks(mask, min_length_px=10)
    assert [m.id for m in kept] == [1]


def test_crack_crossing_the_image_is_cut_at_the_border():
    mask = np.zeros((20, 100), bool)
    mask[8:11, :] = True
    (m,) = measure_cracks(mask)
    assert m.length_px == pytest.approx(100, abs=0.5)
    assert m.mean_width_px == pytest.approx(3, abs=0.1)


def test_mm_scaling_is_exact():
    mask = np.zeros((20, 130), bool)
    mask[8:11, 10:110] = True
    (px,) = measure_cracks(mask)
    (mm,) = measure_cracks(mask, mm_per_px=0.25)
    assert mm.length_mm == px.length_px * 0.25
    assert mm.mean_width_mm == px.mean_width_px * 0.25
    assert mm.max_width_mm == px.max_width_px * 0.25
    assert mm.area_mm2 == px.area_px * 0.0625
    assert mm.length_px == px.length_px
    d = mm.as_dict()
    assert d["bbox"] == [8, 10, 11, 110] and d["area_mm2"] == 18.75


def test_all_foreground_and_bad_arguments():
    (m,) = measure_cracks(np.ones((6, 6), bool))
    assert m.area_px == 36 and m.bbox == (0, 0, 6, 6)
    with pytest.raises(ValueError):
        measure_cracks(np.zeros((3, 3, 3), bool))
    with pytest.raises(ValueError):
        measure_cracks(np.zeros((3, 3), bool), mm_per_px=0)
    with pytest.raises(ValueError):
        measure_cracks(np.zeros((3, 3), bool), min_length_px=-1)


@pytest.mark.parametrize("width", [1, 2, 3])
@pytest.mark.parametrize("vertical", [False, True])
def test_thin_bars_of_known_size(width: int, vertical: bool) -> None:
    """Drawn bars 1-3 px wide, 40 px long, in both directions: exact width, length within 1 px, exact area."""
    mask = np.zeros((width + 6, 60), bool)
    mask[3 : 3 + width, 10:50] = True
    (c,) = measure_cracks(mask.T if vertical else mask, mm_per_px=0.5)
    assert c.max_width_px == width and c.mean_width_px == pytest.approx(width, abs=0.5)
    assert abs(c.length_px - 40) <= 1.0 and c.area_px == 40 * width
    assert c.length_mm == pytest.approx(0.5 * c.length_px) and c.area_mm2 == pytest.approx(0.25 * 40 * width)


# -- headlines ----------------------------------------------------------------------------------------------
def test_headline_examples_run():
    import doctest

    from crackscope.maps import measure

    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(measure, globs=vars(measure)):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0 and runner.tries >= 2


def test_headline_of_two_bars():
    mask = np.zeros((40, 80), bool)
    mask[5:8, 10:70] = True  # 60 x 3
    mask[20:35, 30:35] = True  # 15 x 5
    cracks = measure_cracks(mask, mm_per_px=0.2)
    s = summarize_cracks(cracks, mm_per_px=0.2)
    assert s.n_cracks == 2 and s.n_photos == 1 and s.unit == "mm"
    assert s.total_length_px == pytest.approx(sum(c.length_px for c in cracks))
    assert s.max_width_px == pytest.approx(5) and s.max_width_mm == pytest.approx(1.0)
    weighted = sum(c.mean_width_px * c.length_px for c in cracks) / sum(c.length_px for c in cracks)
    assert s.mean_width_px == pytest.approx(weighted) and 3 < s.mean_width_px < 5
    # the mm fields add up the cracks' own mm values, as cracks.csv does
    assert s.total_length_mm == pytest.approx(sum(c.length_mm or 0 for c in cracks))
    assert s.mean_width_mm == pytest.approx(0.2 * s.mean_width_px)
    plain = summarize_cracks(measure_cracks(mask))
    assert plain.unit == "px" and plain.total_length_mm is None and plain.mean_width_mm is None
    assert plain.as_dict()["unit"] == "px" and plain.as_dict()["total_length_px"] == s.total_length_px


def test_headline_without_cracks():
    assert summarize_cracks([]) == CrackSummary(0, 0.0, 0.0, 0.0)
    assert summarize_cracks([], mm_per_px=0.1) == CrackSummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    empty = combine_summaries([])
    assert empty.n_photos == 0 and empty.n_cracks == 0 and empty.unit == "px"


def test_batch_headline():
    a = CrackSummary(2, 40.0, 5.0, 2.5, 4.0, 0.5, 0.25)
    b = CrackSummary(1, 60.0, 3.0, 3.0, 6.0, 0.3, 0.3)
    both = combine_summaries([a, b])
    assert (both.n_photos, both.n_cracks, both.total_length_px, both.max_width_px) == (2, 3, 100.0, 5.0)
    assert both.mean_width_px == pytest.approx(2.8) and both.mean_width_mm == pytest.approx(0.28)
    assert (both.total_length_mm, both.max_width_mm, both.unit) == (10.0, 0.5, "mm")
    # one photo without a scale: the batch is in pixels only
    mixed = combine_summaries([a, CrackSummary(1, 60.0, 3.0, 3.0)])
    assert mixed.unit == "px" and mixed.total_length_mm is None and mixed.total_length_px == 100.0
    assert combine_summaries([both, a]).n_photos == 3


def test_measurement_from_its_dict():
    mask = np.zeros((20, 30), bool)
    mask[4:7, 2:25] = True
    (m,) = measure_cracks(mask, mm_per_px=0.5)
    assert CrackMeasurement.from_dict({**m.as_dict(), "extra": 1}) == m
    with pytest.raises(KeyError):
        CrackMeasurement.from_dict({"id": 1})


def test_headline_refuses_a_bad_scale():
    with pytest.raises(ValueError, match="mm_per_px"):
        summarize_cracks([], mm_per_px=0)
    with pytest.raises(ValueError, match="mm_per_px"):
        summarize_cracks([], mm_per_px=float("inf"))


def test_a_crack_with_small_gaps_is_one_crack_and_measures_as_its_pieces():
    mask = np.zeros((20, 60), bool)
    mask[9:11, 5:25] = True  # a 2 px crack ...
    mask[9:11, 29:50] = True  # ... with a 4 px gap
    pieces = measure_cracks(mask, link=0)
    (crack,) = measure_cracks(mask)  # the product's rule: pieces less than 7 px apart are one crack
    assert len(pieces) == 2
    assert crack.length_px == pytest.approx(sum(p.length_px for p in pieces))
    assert crack.area_px == mask.sum() and crack.bbox == (9, 5, 11, 50)
    assert crack.mean_width_px == pytest.approx(2.0) and crack.orientation_deg == 0.0
    mask[9:11, 29:50] = False
    mask[9:11, 32:50] = True  # 7 px apart: two cracks
    assert len(measure_cracks(mask)) == 2


def test_labels_given_are_used_and_checked():
    from crackscope.maps.postprocess import label_cracks

    mask = np.zeros((20, 60), bool)
    mask[9:11, 5:25] = mask[9:11, 29:50] = True
    assert measure_cracks(mask, labels=label_cracks(mask, link=3)) == measure_cracks(mask)
    assert len(measure_cracks(mask, labels=label_cracks(mask))) == 2  # the caller's grouping wins
    with pytest.raises(ValueError, match="shape"):
        measure_cracks(mask, labels=label_cracks(mask[:10]))
