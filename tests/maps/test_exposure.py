"""Exposure within the fitted photos' range (crackscope.maps.exposure) and its mapper."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from crackscope.maps.base import MapResult, Tile
from crackscope.maps.exposure import (
    ExposureMapper,
    ExposureOptions,
    PhotoExposure,
    exposure_of,
    exposure_reference,
    exposure_reference_of_files,
    within_exposure,
)
from crackscope.maps.recipe import MapRecipe, get_preset

RANGE = ExposureOptions(median=(100.0, 180.0), spread=(20.0, 40.0))


def _photo(median: int, half_spread: int, seed: int = 0) -> np.ndarray:
    """A 40x40 photo whose grey levels are spread evenly over median +- half_spread (the same in R, G and B)."""
    rng = np.random.default_rng(seed)
    levels = rng.permutation(np.linspace(median - half_spread, median + half_spread, 1600)).reshape(40, 40)
    return np.repeat(np.rint(levels).astype(np.uint8)[..., None], 3, axis=2)


def test_exposure_is_the_median_and_interquartile_range():
    assert exposure_of(_photo(120, 20)) == PhotoExposure(120.0, 20.0)
    dark_crack = _photo(120, 20)
    dark_crack[20, :] = 0  # a crack's 40 dark pixels (2.5 %) hardly move either
    assert exposure_of(dark_crack).median == 120.0 and abs(exposure_of(dark_crack).spread - 20.0) <= 1


def test_a_photo_within_the_range_is_passed_through_untouched():
    photo = _photo(150, 30)
    assert within_exposure(photo, RANGE) is photo
    dark = _photo(10, 4)
    assert within_exposure(dark, ExposureOptions()) is dark


def test_a_dark_flat_photo_is_moved_to_the_nearest_end_of_the_range():
    dark = _photo(40, 5)  # median 40, spread 5
    out = within_exposure(dark, RANGE)
    assert exposure_of(out).median == 100.0 and abs(exposure_of(out).spread - 20.0) <= 1
    assert np.array_equal(np.argsort(out[..., 0], axis=None), np.argsort(dark[..., 0], axis=None))  # order kept
    washed = within_exposure(_photo(230, 10), RANGE)
    assert exposure_of(washed).median == 180.0 and abs(exposure_of(washed).spread - 20.0) <= 1


def test_a_spread_above_the_range_is_never_compressed():
    contrasty = _photo(150, 80)  # spread 80 > 40: coarse texture hides no crack
    assert within_exposure(contrasty, RANGE) is contrasty
    bright = within_exposure(_photo(200, 45), RANGE)  # only moved into the range
    assert exposure_of(bright).median == 180.0 and abs(exposure_of(bright).spread - 45.0) <= 1


def test_the_reference_leaves_a_share_of_photos_outside():
    photos = [PhotoExposure(float(m), float(s)) for m, s in zip(range(100, 200, 10), range(10, 60, 5), strict=True)]
    whole = exposure_reference(photos, share=0.0)
    assert whole.median == (100.0, 190.0) and whole.spread == (10.0, 55.0)
    tenth = exposure_reference(photos, share=0.1)
    assert tenth.median == (109.0, 181.0) and tenth.spread == (14.5, 50.5)
    with pytest.raises(ValueError, match="share"):
        exposure_reference(photos, share=0.6)
    with pytest.raises(ValueError, match="no photo"):
        exposure_reference([])


def test_the_reference_of_files_leaves_unreadable_ones_out(tmp_path):
    from crackscope.io import write_image_atomic

    paths = [write_image_atomic(tmp_path / f"p{i}.png", _photo(100 + 20 * i, 10)) for i in range(3)]
    (tmp_path / "bad.png").write_text("not an image")
    ref = exposure_reference_of_files([*paths, tmp_path / "bad.png"], share=0.0)
    assert ref is not None and ref.median == (100.0, 140.0)
    assert exposure_reference_of_files([tmp_path / "bad.png"]) is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"median": (100.0, 200.0)}, "both or neither"),
        ({"median": (100.0, 300.0), "spread": (10.0, 20.0)}, "median"),
        ({"median": (200.0, 100.0), "spread": (10.0, 20.0)}, "low <= high"),
        ({"median": (100.0, 200.0), "spread": (0.0, 20.0)}, "spread"),
        ({"median": (100.0,), "spread": (10.0, 20.0)}, "pair"),
    ],
)
def test_options_name_a_bad_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ExposureOptions(**kwargs)


def test_a_recipe_applies_its_range_only_where_it_has_one():
    recipe = MapRecipe(exposure=RANGE, name="measured")
    assert recipe.with_exposure(True).exposure == replace(RANGE, apply=True)
    assert recipe.with_exposure(True).with_exposure(False).exposure == RANGE
    assert MapRecipe().with_exposure(False) == MapRecipe()  # nothing to turn off
    for unmeasured in (MapRecipe(name="plain"), MapRecipe(exposure=ExposureOptions(), name="plain")):
        with pytest.raises(ValueError, match="'plain' has no measured exposure range"):
            unmeasured.with_exposure(True)


def test_options_round_trip_in_recipes():
    assert ExposureOptions.from_dict(RANGE.as_dict()) == RANGE
    on = ExposureOptions(median=(100.0, 180.0), spread=(20.0, 40.0), apply=True)
    assert ExposureOptions.from_dict(on.as_dict()) == on and on.active and not RANGE.active
    assert not ExposureOptions(apply=True).active  # nothing measured: nothing to apply
    with pytest.raises(ValueError, match="apply"):
        ExposureOptions(apply=1)  # type: ignore[arg-type]
    assert MapRecipe.from_dict(MapRecipe(exposure=RANGE).to_dict()).exposure == RANGE
    assert MapRecipe.from_dict(MapRecipe().to_dict()).exposure is None
    assert get_preset("selftrained").exposure == ExposureOptions()  # fit measures it
    with pytest.raises(ValueError, match="medians"):
        ExposureOptions.from_dict({"medians": None})


class SeeingMapper:
    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def settings(self) -> dict[str, object]:
        return {"mapper": "seeing"}

    def map_image(self, image, *, name=None, on_progress=None):  # type: ignore[no-untyped-def]
        self.seen.append(image)
        h, w = image.shape[:2]
        empty = np.zeros((h, w), np.float32)
        return MapResult(empty, empty > 0, (Tile((0, 0, h, w), 0.1),), None, False, 0.1)


def test_the_mapper_maps_the_photo_within_the_range():
    inner = SeeingMapper()
    mapper = ExposureMapper(inner, RANGE)
    mapper.map_image(_photo(40, 5))
    mapper.map_image(photo := _photo(150, 30))
    assert exposure_of(inner.seen[0]).median == 100.0 and inner.seen[1] is photo
    assert mapper.settings()["exposure"] == RANGE.as_dict()
