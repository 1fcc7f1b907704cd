"""Tiling and blending: coverage, window, weights that sum correctly, padding."""

from __future__ import annotations

import functools
import itertools
import operator

import numpy as np
import pytest

from crackscope.maps.tiling import (
    WINDOW_FLOOR,
    BlendAccumulator,
    axis_starts,
    balanced_chunks,
    batched,
    hann_window,
    pad_to_tile,
    tile_grid,
)


def test_axis_starts_cover_the_length_exactly():
    starts = axis_starts(200, 32, 24)
    assert starts[0] == 0 and starts[-1] == 200 - 32
    assert all(0 < b - a <= 24 for a, b in itertools.pairwise(starts))
    assert axis_starts(20, 32, 24) == [0]
    assert axis_starts(32, 32, 24) == [0]


def test_tile_grid_counts_and_overlap():
    grid = tile_grid(150, 200, tile=32, overlap=0.25)
    assert len(grid) == 6 * 8  # ceil(118/24)+1 rows, ceil(168/24)+1 columns
    covered = np.zeros((150, 200), int)
    for y, x in grid:
        covered[y : y + 32, x : x + 32] += 1
    assert covered.min() >= 1
    with pytest.raises(ValueError):
        tile_grid(10, 10, tile=4, overlap=1.0)


def test_hann_window_shape():
    w = hann_window(32)
    assert w.dtype == np.float32 and w.shape == (32, 32)
    assert np.allclose(w, w.T) and np.allclose(w, w[::-1, ::-1])
    assert w.min() >= WINDOW_FLOOR and w.max() == pytest.approx(w[15:17, 15:17].max())


def test_blending_weights_sum_correctly():
    h, w, t = 150, 200, 32
    acc = BlendAccumulator(h, w, t)
    for y, x in tile_grid(h, w, tile=t, overlap=0.25):
        acc.add(y, x, np.full((t, t), 0.7, np.float32))
    # a constant map blends to the same constant everywhere, whatever the overlap
    assert np.allclose(acc.result(), 0.7, atol=1e-6)
    # the weight buffer is the sum of the windows placed at every tile
    expected = np.zeros((h, w), np.float64)
    win = hann_window(t)
    for y, x in tile_grid(h, w, tile=t, overlap=0.25):
        expected[y : y + t, x : x + t] += win
    assert np.allclose(acc.weight, expected, rtol=1e-5)
    # only two full-size float32 buffers
    assert acc.total.dtype == acc.weight.dtype == np.float32 and acc.total.shape == (h, w)


def test_blending_is_a_weighted_average_between_tiles():
    acc = BlendAccumulator(32, 56, 32)
    acc.add(0, 0, np.zeros((32, 32), np.float32))
    acc.add(0, 24, np.ones((32, 32), np.float32))
    out = acc.result()
    assert np.allclose(out[:, :24], 0) and np.allclose(out[:, 32:], 1)
    band = out[16, 24:32]
    assert np.all(np.diff(band) > 0) and band.min() > 0 and band.max() < 1  # smooth cross-fade


def test_pad_to_tile_and_batched():
    img = np.arange(10 * 20 * 3, dtype=np.uint8).reshape(10, 20, 3)
    padded = pad_to_tile(img, 32)
    assert padded.shape == (32, 32, 3) and np.array_equal(padded[:10, :20], img)
    assert pad_to_tile(img, 8) is img
    assert [len(b) for b in batched(list(range(7)), 3)] == [3, 3, 1]


def test_balanced_chunks_sizes():
    assert [len(c) for c in balanced_chunks(list(range(7)), 3)] == [2, 2, 3]
    assert [len(c) for c in balanced_chunks(list(range(33)), 32)] == [16, 17]
    assert balanced_chunks(list(range(4)), 8) == [[0, 1, 2, 3]]
    assert balanced_chunks([], 8) == []
    assert functools.reduce(operator.iadd, balanced_chunks(list(range(10)), 4), []) == list(
        range(10)
    )  # order kept, nothing lost
    with pytest.raises(ValueError, match="positive"):
        balanced_chunks([1], 0)


def test_blending_rgb_tiles():
    acc = BlendAccumulator(32, 56, 32, channels=3)
    acc.add(0, 0, np.zeros((32, 32, 3), np.float32))
    acc.add(0, 24, np.stack([np.ones((32, 32), np.float32) * c for c in (1, 2, 3)], axis=-1))
    out = acc.result()
    assert out.shape == (32, 56, 3)
    assert np.allclose(out[:, :24], 0) and np.allclose(out[:, 32:], [1, 2, 3])
    band = out[16, 24:32]
    assert np.allclose(band[:, 1], 2 * band[:, 0]) and np.allclose(
        band[:, 2], 3 * band[:, 0]
    )  # same weights per channel
    with pytest.raises(ValueError, match="32x32x3"):
        acc.add(0, 0, np.zeros((32, 32), np.float32))
