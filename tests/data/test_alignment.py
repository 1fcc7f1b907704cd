"""Mask alignment: line depth on drawn lines, masks turned or mirrored against their photos."""

from __future__ import annotations

import numpy as np
import pytest

from crackscope.data.alignment import TRANSFORMS, mask_alignment


def _photo_and_mask(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy grey surface 60 x 80 with a dark, bent 2 px crack in its upper left part, and the crack's mask."""
    rng = np.random.default_rng(seed)
    gray = rng.normal(140, 8, (60, 80))
    mask = np.zeros((60, 80), bool)
    for x in range(5, 50):
        y = 10 + x // 4
        mask[y : y + 2, x] = True
    gray[mask] -= 50
    image = np.repeat(np.clip(gray, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return image, mask


def test_line_depth_of_a_drawn_line_is_its_contrast() -> None:
    image = np.full((9, 9), 100, np.uint8)
    image[4] = 40
    mask = np.zeros((9, 9), bool)
    mask[4] = True
    # a 3 x 3 mean around the line: (2 * 100 + 40) / 3 = 80, so 80 - 40
    assert mask_alignment(image, mask, window=3).depth == pytest.approx(40.0)


def test_a_mask_as_given_is_aligned() -> None:
    image, mask = _photo_and_mask()
    result = mask_alignment(image, mask)
    assert result.best is None
    assert not result.misaligned
    assert result.depth > 30


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_a_turned_or_mirrored_mask_is_found(name: str) -> None:
    image, mask = _photo_and_mask()
    result = mask_alignment(image, TRANSFORMS[name](mask))
    assert result.misaligned
    assert result.best == name  # each transform is its own inverse
    assert abs(result.depth) < 5 < result.best_depth


def test_a_symmetric_crack_is_not_called_misaligned() -> None:
    # a straight crack through the centre looks the same turned 180 degrees: no transform fits better
    rng = np.random.default_rng(1)
    gray = rng.normal(140, 8, (41, 41))
    mask = np.zeros((41, 41), bool)
    mask[20] = True
    gray[mask] -= 50
    assert not mask_alignment(gray.astype(np.uint8), mask).misaligned


def test_a_faint_mask_needs_a_clear_gain() -> None:
    # the mask marks a line 3 grey levels deep; the same line turned is 6 deep: twice, but only 3 levels more
    gray = np.full((40, 40), 120.0)
    mask = np.zeros((40, 40), bool)
    mask[5, 5:20] = True
    gray[5, 5:20] -= 3
    gray[34, 20:35] -= 6
    result = mask_alignment(gray.astype(np.uint8), mask, window=9)
    assert result.best == "turned 180 degrees"
    assert not result.misaligned


@pytest.mark.parametrize(
    ("image", "mask", "window", "match"),
    [
        (np.zeros((5, 5)), np.ones((4, 5), bool), 3, "differ in size"),
        (np.zeros((5, 5)), np.zeros((5, 5), bool), 3, "marks no pixel"),
        (np.zeros((5, 5)), np.ones((5, 5), bool), 4, "odd number"),
    ],
)
def test_refuses(image: np.ndarray, mask: np.ndarray, window: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mask_alignment(image, mask, window=window)


def test_docstring_examples() -> None:
    import doctest

    from crackscope.data import alignment

    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(alignment, globs=vars(alignment)):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0 and runner.tries >= 2
