"""Property-based tests (hypothesis) of the mask post-processing and the crack measurements.

Random boolean masks (hypothesis arrays of every shape up to 64x64, 1xN and Nx1 included, and drawn bars and
lines of known width) go through ``crackscope.maps.postprocess``, ``measure_cracks`` and ``keep_elongated``;
each test states a property that holds for every mask. The runs are derandomized (the same examples every
time) and small (60 examples a test).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from crackscope.maps.measure import _BORDER_PAD, CRACK_LINK_PX, CrackMeasurement, measure_cracks
from crackscope.maps.postprocess import (
    close_mask,
    label_cracks,
    open_mask,
    remove_small,
    skeletonize_mask,
    threshold_map,
)
from crackscope.maps.refine import keep_elongated

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_SIDE = 64

sides = st.integers(1, MAX_SIDE)
shapes = st.one_of(
    st.tuples(sides, sides),
    st.tuples(st.just(1), sides),  # 1xN
    st.tuples(sides, st.just(1)),  # Nx1
)


@st.composite
def drawn_masks(draw: st.DrawFn) -> np.ndarray:
    """A blank (or sparse random) mask with a few rectangles and 1 px lines drawn on it."""
    h, w = draw(st.tuples(sides, sides))
    mask = draw(arrays(bool, (h, w), elements=st.booleans(), fill=st.just(False)))
    for _ in range(draw(st.integers(1, 5))):
        y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        if draw(st.booleans()):  # rectangle
            y1, x1 = draw(st.integers(y0 + 1, h)), draw(st.integers(x0 + 1, w))
            mask[y0:y1, x0:x1] = True
        else:  # 1 px line at 0, 45, 90 or -45 degrees
            dy, dx = draw(st.sampled_from([(0, 1), (1, 1), (1, 0), (1, -1)]))
            for k in range(draw(st.integers(1, MAX_SIDE))):
                y, x = y0 + k * dy, x0 + k * dx
                if not (0 <= y < h and 0 <= x < w):
                    break
                mask[y, x] = True
    return mask


masks = st.one_of(
    shapes.flatmap(lambda shape: arrays(bool, shape, elements=st.booleans())),
    drawn_masks(),
    # noise of any density (hypothesis' arrays are mostly near-empty or near-full)
    st.tuples(shapes, st.floats(0.05, 0.95), st.integers(0, 2**32 - 1)).map(
        lambda t: np.random.default_rng(t[2]).random(t[0]) < t[1]
    ),
)


def components(mask: np.ndarray, connectivity: int = 2) -> list[np.ndarray]:
    """The connected components of a mask, each as a bool mask (scipy, independent of crackscope)."""
    labels, n = ndimage.label(mask, structure=ndimage.generate_binary_structure(2, connectivity))
    return [labels == k for k in range(1, n + 1)]


def is_union_of_components(part: np.ndarray, whole: np.ndarray) -> bool:
    """``part`` is made of whole 8-connected components of ``whole`` (each taken entirely or not at all)."""
    return all(not (part & c).any() or (part[c]).all() for c in components(whole)) and not (part & ~whole).any()


# --- label_cracks ------------------------------------------------------------------------------------------


@SETTINGS
@given(mask=masks, connectivity=st.sampled_from([1, 2]))
def test_labels_partition_the_mask_into_connected_components(mask: np.ndarray, connectivity: int) -> None:
    labels, n = label_cracks(mask, connectivity=connectivity)
    assert labels.shape == mask.shape and labels.dtype == np.int32
    assert ((labels > 0) == mask).all()
    assert n == len(components(mask, connectivity))
    assert set(np.unique(labels[mask]).tolist()) == set(range(1, n + 1))
    # numbered 1..n in raster order of each component's first pixel
    flat = labels.ravel()
    first = [int(np.argmax(flat == k)) for k in range(1, n + 1)]
    assert first == sorted(first)
    # neighbours (edge ones, plus diagonal ones with connectivity 2) share a label; each label is connected
    steps = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if connectivity == 2 else [])
    h, w = mask.shape
    padded = np.pad(labels, 1)
    for dy, dx in steps:
        neighbour = padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        both = (labels > 0) & (neighbour > 0)
        assert (labels[both] == neighbour[both]).all()
    # 8-connectivity never splits more than 4-connectivity
    assert label_cracks(mask, connectivity=2)[1] <= label_cracks(mask, connectivity=1)[1]


# --- remove_small ------------------------------------------------------------------------------------------


@SETTINGS
@given(mask=masks, min_size=st.integers(0, 40), connectivity=st.sampled_from([1, 2]))
def test_remove_small_keeps_exactly_the_large_components(mask: np.ndarray, min_size: int, connectivity: int) -> None:
    out = remove_small(mask, min_size=min_size, connectivity=connectivity)
    assert out.shape == mask.shape and out.dtype == bool
    assert not (out & ~mask).any()  # never adds pixels
    expected = np.zeros(mask.shape, bool)
    for c in components(mask, connectivity):
        if c.sum() >= min_size:
            expected |= c
    assert (out == expected).all()
    assert all(c.sum() >= min_size for c in components(out, connectivity))
    assert (remove_small(out, min_size=min_size, connectivity=connectivity) == out).all()  # idempotent


# --- skeletonize_mask --------------------------------------------------------------------------------------


@SETTINGS
@given(mask=masks)
def test_skeleton_is_inside_the_mask_and_keeps_every_component(mask: np.ndarray) -> None:
    skel = skeletonize_mask(mask)
    assert skel.shape == mask.shape and skel.dtype == bool
    assert not (skel & ~mask).any()
    assert skel.any() == mask.any()
    assert all((skel & c).any() for c in components(mask))  # topology kept: no component vanishes
    assert (skeletonize_mask(skel) == skel).all()  # thinning stops at a skeleton: it is its own skeleton


# --- opening and closing -----------------------------------------------------------------------------------


@SETTINGS
@given(mask=masks, radius=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_opening_and_closing_are_morphological(mask: np.ndarray, radius: int, seed: int) -> None:
    opened, closed = open_mask(mask, radius=radius), close_mask(mask, radius=radius)
    assert opened.shape == closed.shape == mask.shape and opened.dtype == closed.dtype == bool
    assert not (opened & ~mask).any()  # opening only removes
    assert not (mask & ~closed).any()  # closing only adds
    assert (open_mask(opened, radius=radius) == opened).all()  # both idempotent
    assert (close_mask(closed, radius=radius) == closed).all()
    assert (open_mask(~mask, radius=radius) == ~closed).all()  # duals (pixels outside the image are neutral)
    smaller = mask & (np.random.default_rng(seed).random(mask.shape) < 0.7)  # both increasing
    assert not (open_mask(smaller, radius=radius) & ~opened).any()
    assert not (close_mask(smaller, radius=radius) & ~closed).any()
    if radius == 0:
        assert (opened == mask).all() and (closed == mask).all()


@SETTINGS
@given(shape=shapes, radius=st.integers(1, 3))
def test_full_and_empty_masks_survive_opening_and_closing(shape: tuple[int, int], radius: int) -> None:
    assert open_mask(np.ones(shape, bool), radius=radius).all()
    assert not close_mask(np.zeros(shape, bool), radius=radius).any()


# --- threshold_map -----------------------------------------------------------------------------------------

# maps whose values are at least 1/1000 apart (maps with a tiny range: test_otsu_threshold_accepts_every_finite_map)
grid_maps = shapes.flatmap(
    lambda shape: arrays(np.float64, shape, elements=st.integers(-1000, 1000).map(lambda k: k / 1000))
)


def separates(prob: np.ndarray, out: np.ndarray) -> bool:
    """Every selected value is above every value left out (the mask is an upper level set of the map)."""
    return not (out.any() and (~out).any()) or bool(prob[out].min() > prob[~out].max())


@SETTINGS
@given(prob=grid_maps)
def test_otsu_threshold_splits_a_map_into_an_upper_level_set(prob: np.ndarray) -> None:
    out = threshold_map(prob, method="otsu")
    assert out.shape == prob.shape and out.dtype == bool
    assert separates(prob, out)
    if prob.min() == prob.max():
        assert not out.any()
    else:  # both classes non-empty
        assert out.any() and not out.all()


@SETTINGS
@given(prob=grid_maps, values=st.tuples(st.floats(0, 100), st.floats(0, 100)).map(sorted))
def test_percentile_threshold_keeps_at_most_the_top_share(prob: np.ndarray, values: list[float]) -> None:
    low, high = (threshold_map(prob, method="percentile", value=v) for v in values)
    n = prob.size
    for v, out in zip(values, (low, high), strict=True):
        assert separates(prob, out)
        assert out.sum() <= n - v / 100 * (n - 1) + 1e-9
    assert not (high & ~low).any()  # a higher percentile keeps fewer pixels
    assert not threshold_map(prob, method="percentile", value=100).any()
    assert (threshold_map(prob, method="percentile", value=0) == (prob > prob.min())).all()


@SETTINGS
@given(prob=grid_maps, values=st.tuples(st.floats(-2, 2), st.floats(-2, 2)).map(sorted))
def test_fixed_threshold(prob: np.ndarray, values: list[float]) -> None:
    low, high = (threshold_map(prob, method="fixed", value=v) for v in values)
    assert (low == (prob >= values[0])).all()
    assert not (high & ~low).any()


@SETTINGS
@given(mask=masks)
def test_otsu_of_a_binary_map_gives_the_mask_back(mask: np.ndarray) -> None:
    out = threshold_map(mask.astype(np.float32), method="otsu")
    expected = mask if mask.any() and not mask.all() else np.zeros(mask.shape, bool)
    assert (out == expected).all()


@SETTINGS
@given(prob=shapes.flatmap(lambda shape: arrays(np.float32, shape, elements=st.floats(0, 1, width=32))))
@example(prob=np.array([[1.0, np.nextafter(np.float32(1), np.float32(0))]], np.float32))
def test_otsu_threshold_accepts_every_finite_map(prob: np.ndarray) -> None:
    out = threshold_map(prob, method="otsu")
    assert separates(prob, out)


# --- measure_cracks ----------------------------------------------------------------------------------------


def width_bounds(mask: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Per crack (index 1..n): an upper bound of any width ``measure_cracks`` can give it.

    The width at a skeleton pixel p is d(p) plus d at a neighbour of p (or 2 d(p) - 1), and the distance
    transform changes by at most sqrt(2) between neighbours, so width <= 2 d(p) + sqrt(2). Beyond the border
    the mask is mirrored (at most ``_BORDER_PAD`` px, then background; a single row or column is not
    mirrored), so d(p) is at most the distance to the nearest background pixel *inside* the image and at
    most the distance to that outer background ring.
    """
    h, w = mask.shape
    yy, xx = np.indices(mask.shape)
    ring = np.minimum.reduce([yy, xx, h - 1 - yy, w - 1 - xx]) + (_BORDER_PAD + 1 if min(h, w) > 1 else 1)
    inner = ndimage.distance_transform_edt(mask) if not mask.all() else np.full(mask.shape, np.inf)
    depth = np.minimum(inner, ring)
    bound = np.zeros(n + 1)
    bound[1:] = 2 * np.asarray(ndimage.maximum(depth, labels, np.arange(1, n + 1))) + math.sqrt(2)
    return bound


@SETTINGS
@given(mask=masks, scale=st.floats(1e-3, 10), link=st.sampled_from([0, CRACK_LINK_PX]))
def test_measurements_are_consistent_with_the_mask(mask: np.ndarray, scale: float, link: int) -> None:
    cracks = measure_cracks(mask, link=link)
    labels, n = label_cracks(mask, connectivity=2, link=link)
    assert [c.id for c in cracks] == list(range(1, n + 1))  # every crack, in label order
    assert sum(c.area_px for c in cracks) == mask.sum()
    bound = width_bounds(mask, labels, n)
    h, w = mask.shape
    for c in cracks:
        crack = labels == c.id
        assert c.area_px == crack.sum()
        y0, x0, y1, x1 = c.bbox
        assert 0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w
        assert crack[y0:y1, x0:x1].sum() == c.area_px  # the box holds the whole crack ...
        assert crack[y0].any() and crack[y1 - 1].any() and crack[:, x0].any() and crack[:, x1 - 1].any()  # tightly
        assert math.isfinite(c.length_px) and c.length_px > 0  # every crack keeps a skeleton pixel
        assert 1.0 <= c.mean_width_px <= c.max_width_px + 1e-9
        assert c.max_width_px <= bound[c.id] + 1e-9
        assert -90.0 <= c.orientation_deg < 90.0
        assert c.length_mm is c.mean_width_mm is c.max_width_mm is c.area_mm2 is None
    # with a scale: the same pixel values, and the millimetre values are the pixel values times the scale
    scaled = measure_cracks(mask, mm_per_px=scale, link=link)
    assert len(scaled) == len(cracks)
    for c, s in zip(cracks, scaled, strict=True):
        assert (s.id, s.length_px, s.mean_width_px, s.max_width_px, s.bbox, s.area_px) == (
            c.id,
            c.length_px,
            c.mean_width_px,
            c.max_width_px,
            c.bbox,
            c.area_px,
        )
        assert s.length_mm == pytest.approx(c.length_px * scale, rel=1e-12)
        assert s.mean_width_mm == pytest.approx(c.mean_width_px * scale, rel=1e-12)
        assert s.max_width_mm == pytest.approx(c.max_width_px * scale, rel=1e-12)
        assert s.area_mm2 == pytest.approx(c.area_px * scale * scale, rel=1e-12)
        assert set(s.as_dict()) == set(CrackMeasurement.__dataclass_fields__)


@SETTINGS
@given(mask=masks, min_length=st.floats(0, 40))
def test_min_length_leaves_out_exactly_the_short_cracks(mask: np.ndarray, min_length: float) -> None:
    everything = measure_cracks(mask)
    assert measure_cracks(mask, min_length_px=min_length) == [c for c in everything if c.length_px >= min_length]


@SETTINGS
@given(mask=masks)
def test_transposed_mask_has_the_same_cracks(mask: np.ndarray) -> None:
    cracks, transposed = measure_cracks(mask), measure_cracks(mask.T)
    assert sorted((c.area_px, c.bbox) for c in cracks) == sorted(
        (c.area_px, (c.bbox[1], c.bbox[0], c.bbox[3], c.bbox[2])) for c in transposed
    )


@SETTINGS
@given(length=sides, vertical=st.booleans())
def test_one_pixel_rows_and_columns(length: int, vertical: bool) -> None:
    # a 1xN or Nx1 image: every crack is a straight run, 1 px wide, as long as its pixel count
    row = np.random.default_rng(length).random((1, length)) < 0.6
    mask = row.T if vertical else row
    for c in measure_cracks(mask):
        assert c.max_width_px == c.mean_width_px == 1.0
        assert c.length_px == pytest.approx(c.area_px, abs=1e-9)
        assert c.orientation_deg == (-90.0 if vertical and c.area_px > 1 else 0.0)


@st.composite
def bars(draw: st.DrawFn, *, crossing: bool = False) -> tuple[np.ndarray, int, int, bool]:
    """(mask, width, length, vertical): a straight bar of known size in a 64 px image with a background margin;
    with ``crossing`` it runs across the whole image."""
    width = draw(st.integers(1, 8))
    length = draw(st.integers(2 * width, MAX_SIDE - 2)) if not crossing else draw(st.integers(2, MAX_SIDE))
    across = draw(st.integers(width + 2, MAX_SIDE))
    y0 = draw(st.integers(1, across - width - 1))
    x0 = 0 if crossing else draw(st.integers(1, MAX_SIDE - length - 1))
    mask = np.zeros((across, length if crossing else MAX_SIDE), bool)
    mask[y0 : y0 + width, x0 : x0 + length] = True
    vertical = draw(st.booleans())
    return (mask.T if vertical else mask), width, length, vertical


@SETTINGS
@given(bar=bars())
def test_bar_of_known_width(bar: tuple[np.ndarray, int, int, bool]) -> None:
    mask, width, length, _ = bar
    (c,) = measure_cracks(mask)
    assert c.area_px == width * length
    assert c.max_width_px == pytest.approx(width, abs=1e-9)
    assert width - 0.5 <= c.mean_width_px <= width + 1e-9
    assert abs(c.length_px - length) <= 1.0  # the documented +-1, in both directions (see the test below)


@SETTINGS
@given(bar=bars(crossing=True))
def test_bar_across_the_image_stops_at_the_border(bar: tuple[np.ndarray, int, int, bool]) -> None:
    mask, width, length, vertical = bar
    (c,) = measure_cracks(mask)
    assert c.length_px == pytest.approx(length, abs=1e-9)
    assert c.mean_width_px == pytest.approx(width, abs=1e-9) and c.max_width_px == pytest.approx(width, abs=1e-9)
    assert c.orientation_deg == (-90.0 if vertical else 0.0)


@SETTINGS
@given(n=st.integers(1, 40), rising=st.booleans(), margin=st.integers(1, 10))
def test_diagonal_line_is_measured_exactly(n: int, rising: bool, margin: int) -> None:
    mask = np.zeros((n + 2 * margin, n + 2 * margin), bool)
    k = np.arange(n) + margin
    mask[k, k] = True
    if rising:
        mask = mask[:, ::-1]
    (c,) = measure_cracks(mask)
    assert c.length_px == pytest.approx((n - 1) * math.sqrt(2) + 1, abs=1e-9)  # exact at 45 degrees
    assert c.max_width_px == c.mean_width_px == 1.0
    assert c.orientation_deg == (0.0 if n == 1 else 45.0 if rising else -45.0)


@SETTINGS
@given(bar=bars())
@example(bar=(np.pad(np.ones((3, 2), bool), 1), 2, 3, True))
def test_bar_length_within_one_pixel_in_every_direction(bar: tuple[np.ndarray, int, int, bool]) -> None:
    mask, _, length, _ = bar
    for m in (mask, mask.T):
        (c,) = measure_cracks(m)
        assert abs(c.length_px - length) <= 1.0


# --- keep_elongated ----------------------------------------------------------------------------------------


@SETTINGS
@given(
    mask=masks,
    fills=st.tuples(st.floats(0.01, 2), st.floats(0.01, 2)).map(sorted),
    lengths=st.tuples(st.integers(0, 30), st.integers(0, 30)).map(sorted),
)
def test_keep_elongated_keeps_whole_components(mask: np.ndarray, fills: list[float], lengths: list[int]) -> None:
    out = keep_elongated(mask, max_fill=fills[0], min_length=lengths[0])
    assert out.shape == mask.shape and out.dtype == bool
    assert is_union_of_components(out, mask)  # a subset, made of whole cracks
    # looser limits keep more: a larger max_fill or a smaller min_length
    assert not (out & ~keep_elongated(mask, max_fill=fills[1], min_length=lengths[0])).any()
    assert not (keep_elongated(mask, max_fill=fills[0], min_length=lengths[1]) & ~out).any()
    # no limits: every component has a skeleton, so everything stays
    assert (keep_elongated(mask, max_fill=None, min_length=0) == mask).all()


@SETTINGS
@given(prob=grid_maps, radius=st.integers(0, 2), min_size=st.integers(0, 20))
def test_postprocessing_chain_to_measurements(prob: np.ndarray, radius: int, min_size: int) -> None:
    mask = threshold_map(prob, method="otsu")
    mask = remove_small(close_mask(mask, radius=radius), min_size=min_size)
    mask = keep_elongated(mask, max_fill=0.5)
    cracks = measure_cracks(mask, mm_per_px=0.1)
    assert sum(c.area_px for c in cracks) == mask.sum()
    assert all(c.area_px >= min_size for c in cracks)
