"""Overlay numbers: sized to the space each crack has, kept off the cracks and off each other."""

from __future__ import annotations

import numpy as np
import pytest

from crackscope.maps.overlay import TEXT_RGB, draw_numbers, draw_overlay
from crackscope.maps.postprocess import label_cracks


def _yellow(image: np.ndarray) -> np.ndarray:
    return (image == TEXT_RGB).all(axis=2)


def _changed(before: np.ndarray, after: np.ndarray) -> int:
    return int((before != after).any(axis=2).sum())


def test_a_number_moves_off_a_crack_beside_its_anchor():
    image = np.full((200, 200, 3), 160, np.uint8)
    keep_off = np.zeros((200, 200), bool)
    keep_off[40:100, 100:160] = True  # where the number would go: up and right of (100, 100)
    free = draw_numbers(image, [(7, 100, 100)])
    assert _yellow(free)[40:100, 100:160].any()  # without keep_off it goes there
    kept = draw_numbers(image, [(7, 100, 100)], keep_off=keep_off)
    yellow = _yellow(kept)
    assert yellow.any() and not yellow[keep_off].any()
    ys, xs = np.nonzero(yellow)
    assert np.hypot(ys - 100, xs - 100).min() < 20  # still beside its anchor


def test_numbers_of_one_place_do_not_cover_each_other():
    image = np.full((300, 300, 3), 160, np.uint8)
    one = _changed(image, draw_numbers(image, [(5, 150, 150)]))
    two = _changed(image, draw_numbers(image, [(5, 150, 150), (6, 150, 150)]))
    assert two >= 2 * one  # two whole boxes (and a leader line if one was set further out)


def test_numbers_shrink_when_many_cracks_share_the_photo():
    image = np.full((1000, 1000, 3), 160, np.uint8)

    def height_of_first(anchors: list[tuple[int, int, int]]) -> int:
        rows = np.flatnonzero(_yellow(draw_numbers(image, anchors))[:60, :120].any(axis=1))
        return int(rows.max() - rows.min() + 1)

    alone = height_of_first([(1, 30, 10)])
    crowded = height_of_first([(1, 30, 10)] + [(k, 100 + 8 * (k // 10), 100 * (k % 10)) for k in range(2, 100)])
    assert alone >= 20 and crowded < 0.8 * alone and crowded >= 10  # never below 14 px digits


def test_overlay_numbers_leave_the_outlines_visible():
    image = np.full((200, 240, 3), 150, np.uint8)
    mask = np.zeros((200, 240), bool)
    for k in range(6):  # six parallel cracks, 20 px apart: each number must find its own place
        mask[60:160, 20 + 20 * k : 22 + 20 * k] = True
    labels, n = label_cracks(mask)
    out = draw_overlay(image, mask, labels)
    assert n == 6 and not _yellow(out)[mask].any()
    assert _yellow(out).any()


def test_keep_off_must_match_the_image():
    with pytest.raises(ValueError, match="keep_off must be 10x10"):
        draw_numbers(np.zeros((10, 10, 3), np.uint8), [(1, 5, 5)], keep_off=np.zeros((5, 5), bool))
