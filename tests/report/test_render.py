"""Images for the page and the report: numbered overlays drawn at display size, legible on grey concrete."""

from __future__ import annotations

import numpy as np

from crackscope.maps.overlay import OUTLINE_RGB, TEXT_RGB
from crackscope.report.render import display_image, numbered_overlay


def _concrete(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(110, 150, (height, width, 3), dtype=np.uint8)


def _text_rows(image: np.ndarray) -> np.ndarray:
    """Rows holding the numbers' yellow."""
    yellow = (image == TEXT_RGB).all(axis=2)
    return np.flatnonzero(yellow.any(axis=1))


def test_numbers_are_sized_for_display_on_a_large_photo() -> None:
    photo = _concrete(1500, 2000)
    mask = np.zeros(photo.shape[:2], bool)
    mask[700:706, 300:1700] = True
    out = numbered_overlay(photo, mask, min_side=384, max_side=1600)
    assert out.shape == display_image(photo, max_side=1600, min_side=384).shape == (1200, 1600, 3)
    rows = _text_rows(out)
    assert rows.size and rows.max() - rows.min() + 1 >= 30  # digits about 2.5 % of 1600 px: 40 px
    assert (out == OUTLINE_RGB).all(axis=2).any()
    # the number sits on a darkened box, so it reads on grey: the box is much darker than the photo
    y0, y1 = rows.min(), rows.max() + 1
    cols = np.flatnonzero((out[y0:y1] == TEXT_RGB).all(axis=2).any(axis=0))
    box = out[y0:y1, cols.min() : cols.max() + 1]
    not_text = ~(box == TEXT_RGB).all(axis=2)
    assert box[not_text].mean() < 0.5 * photo.mean()


def test_small_images_are_enlarged_and_ids_limit_the_numbers() -> None:
    photo = _concrete(96, 96)
    mask = np.zeros((96, 96), bool)
    mask[40:43, 10:80] = True
    mask[60:90, 50:52] = True
    out = numbered_overlay(photo, mask, min_side=384)
    assert out.shape == (384, 384, 3)
    assert _text_rows(out).size
    none = numbered_overlay(photo, mask, min_side=384, ids=[])
    assert not _text_rows(none).size and (none == OUTLINE_RGB).all(axis=2).any()
    assert numbered_overlay(photo, np.zeros((96, 96), bool), min_side=0).shape == photo.shape
