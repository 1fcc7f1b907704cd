"""Fill without image data around rotated or stitched photos (crackscope.maps.no_data) and its mapper."""

from __future__ import annotations

import numpy as np
import pytest

from crackscope.maps.base import MapResult, Tile
from crackscope.maps.no_data import NoDataMapper, NoDataOptions, fill_no_data, no_data_mask
from crackscope.maps.recipe import MapRecipe

SMALL = NoDataOptions(min_size=50, min_depth=3.0)


def _surface(h: int = 60, w: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(90, 170, (h, w, 3), dtype=np.uint8)


def test_fill_along_the_edge_is_no_data():
    photo = _surface()
    photo[:, :12] = 0  # a black band on the left: 720 px, 12 px deep, 82 of the 276 edge pixels
    found = no_data_mask(photo, options=SMALL)
    assert found[:, :12].all() and not found[:, 12:].any()


def test_white_fill_and_other_colours():
    photo = _surface()
    photo[-10:, :] = 255
    assert no_data_mask(photo, options=SMALL)[-10:].all()
    assert not no_data_mask(photo, options=NoDataOptions(colours=((0, 0, 0),), min_size=50, min_depth=3.0)).any()


def test_a_thin_black_crack_is_not_no_data():
    photo = _surface()
    photo[:, 40:44] = 0  # a 4 px black crack crossing the photo: deep only 2 px
    assert not no_data_mask(photo, options=SMALL).any()


def test_a_black_blob_inside_the_photo_is_not_no_data():
    photo = _surface()
    photo[20:40, 30:50] = 0  # a clipped-black pothole, 400 px, 10 px deep, not on the edge
    assert not no_data_mask(photo, options=SMALL).any()
    photo[0:40, 30:34] = 0  # now it meets the top edge over 4 px only (1.4 % of the edge)
    assert not no_data_mask(photo, options=SMALL).any()
    assert no_data_mask(photo, options=NoDataOptions(min_size=50, min_depth=3.0, min_border=0.01)).any()


def test_small_or_shallow_pieces_are_kept_as_photo():
    photo = _surface()
    photo[:, :12] = 0
    assert not no_data_mask(photo, options=NoDataOptions(min_size=721, min_depth=3.0)).any()  # 720 px
    assert not no_data_mask(photo, options=NoDataOptions(min_size=50, min_depth=13.0)).any()  # 12 px deep


def test_a_photo_without_fill_costs_one_test():
    assert not no_data_mask(_surface()).any()


def test_fill_is_painted_in_the_mean_colour_of_the_rest():
    photo = np.zeros((4, 4, 3), np.uint8)
    photo[:, 2:] = (100, 150, 200)
    photo[0, 2] = (110, 160, 210)
    out = fill_no_data(photo, photo.sum(axis=2) == 0)
    assert out[0, 0].tolist() == [101, 151, 201]  # (7 x 100 + 110) / 8 = 101.25
    assert np.array_equal(out[:, 2:], photo[:, 2:])
    assert fill_no_data(photo, np.ones((4, 4), bool))[0, 0].tolist() == [128, 128, 128]
    with pytest.raises(ValueError, match="size"):
        fill_no_data(photo, np.ones((3, 4), bool))


def test_without_no_data_paints_the_fill_and_passes_a_photo_without_it():
    from crackscope.maps.no_data import without_no_data

    photo = _surface()
    assert without_no_data(photo, options=SMALL) is photo
    photo[:, :12] = 0
    painted = without_no_data(photo, options=SMALL)
    expected = fill_no_data(photo, no_data_mask(photo, options=SMALL))
    assert np.array_equal(painted, expected) and painted[:, :12].min() >= 90


@pytest.mark.parametrize(
    ("field", "value"),
    [("colours", ()), ("colours", ((0, 0),)), ("colours", ((0, 0, 256),)), ("min_size", 0), ("min_depth", 0.5),
     ("min_border", 0.0), ("min_border", 1.5), ("margin", -1)],
)  # fmt: skip
def test_options_name_a_bad_field(field, value):
    with pytest.raises(ValueError, match=field):
        NoDataOptions(**{field: value})


def test_options_round_trip_and_unknown_fields():
    options = NoDataOptions(colours=((0, 0, 0),), min_size=10, min_depth=2.0, min_border=0.1, margin=0)
    assert NoDataOptions.from_dict(options.as_dict()) == options
    with pytest.raises(ValueError, match="colour_"):
        NoDataOptions.from_dict({"colour_": []})


class DarkMapper:
    """Marks the photo's dark pixels (below 60) as cracks; records what it was given."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def settings(self) -> dict[str, object]:
        return {"mapper": "dark"}

    def map_image(self, image, *, name=None, on_progress=None):  # type: ignore[no-untyped-def]
        self.seen.append(image)
        mask = image.mean(axis=2) < 60
        h, w = mask.shape
        soft = mask.astype(np.float32)
        return MapResult(soft, mask, (Tile((0, 0, h, w), 0.9),), soft.copy(), True, 0.9)


def test_the_mapper_maps_the_photo_without_its_fill():
    photo = _surface()
    photo[:, :12] = 0  # fill
    photo[30:32, 20:70] = 30  # a 2 px crack, from 8 px off the fill
    inner = DarkMapper()
    result = NoDataMapper(inner, NoDataOptions(min_size=50, min_depth=3.0, margin=3)).map_image(photo)
    assert inner.seen[0][:, :12].min() > 60  # the fill was painted over before mapping
    assert (inner.seen[0][:, :15] == inner.seen[0][0, 0]).all()  # with the margin
    assert not result.mask[:, :15].any() and not result.probability[:, :15].any()  # fill and 3 px margin
    assert result.cam is not None and not result.cam[:, :15].any()
    assert result.mask[30:32, 20:70].all() and result.mask.sum() == 100  # the crack stays, whole
    assert result.no_data == pytest.approx(720 / 4800)
    assert NoDataMapper(inner).settings()["no_data"] == NoDataOptions().as_dict()


def test_a_photo_without_fill_goes_through_unchanged():
    photo = _surface()
    photo[30:32, 20:70] = 30
    inner = DarkMapper()
    result = NoDataMapper(inner, SMALL).map_image(photo)
    assert inner.seen[0] is photo and result.no_data == 0.0 and result.mask.sum() == 100


def test_a_photo_that_is_all_fill_is_not_cracked():
    inner = DarkMapper()
    result = NoDataMapper(inner).map_image(np.zeros((100, 120, 3), np.uint8))
    assert not inner.seen and not result.cracked and not result.mask.any() and result.no_data == 1.0
    assert result.crack_probability == 0.0 and result.tiles == ()


def test_recipes_carry_the_options_and_can_turn_them_off():
    recipe = MapRecipe()
    assert recipe.no_data == NoDataOptions()
    off = MapRecipe.from_dict({**recipe.to_dict(), "no_data": None})
    assert off.no_data is None
    custom = recipe.with_(no_data=NoDataOptions(margin=5))
    assert MapRecipe.from_dict(custom.to_dict()).no_data == NoDataOptions(margin=5)
    older = {k: v for k, v in recipe.to_dict().items() if k != "no_data"}  # a recipe written before the field
    assert MapRecipe.from_dict(older).no_data == NoDataOptions()
