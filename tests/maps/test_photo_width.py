"""The photo's own width rule (crackscope.maps.photo_width) and the restorer preset that uses it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from crackscope.maps.base import MapResult
from crackscope.maps.photo_width import PhotoWidthMapper, apply_photo_width
from crackscope.maps.recipe import MapRecipe, get_preset
from crackscope.maps.refine import RefineOptions
from crackscope.unsupervised.config import RestorerConfig
from crackscope.unsupervised.run import RestorerRun

RULE = RefineOptions(radii=(3, 6), contrast=80.0, half_max=0.5, half_max_radius=3, half_max_blur=0.5, min_size=0)


def _hairline(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(photo, surface): a faint 1 px hairline (20 grey levels) across a gently shaded surface."""
    yy, xx = np.mgrid[0:size, 0:size]
    surface = np.repeat((160 + 15 * np.sin(xx / 13.0) + 8 * np.cos(yy / 9.0))[..., None], 3, axis=2).astype(np.uint8)
    photo = surface.copy()
    photo[size // 2, 4 : size - 4] -= 20
    return photo, surface


def test_a_wide_mask_on_a_hairline_keeps_the_line():
    photo, _ = _hairline()
    wide = np.zeros(photo.shape[:2], bool)
    wide[30:35, 4:60] = True  # 5 px over the 1 px line at row 32
    kept = apply_photo_width(photo, wide, rule=RULE)
    assert np.array_equal(kept.sum(axis=0)[4:60], np.ones(56))
    assert kept[32, 4:60].all()


def test_a_strong_wide_crack_keeps_its_dark_band():
    photo = np.full((40, 40, 3), 200, np.uint8)
    photo[:, 17:22] = np.array([170, 110, 20, 110, 170], np.uint8)[None, :, None]
    mask = np.zeros((40, 40), bool)
    mask[:, 15:24] = True
    kept = apply_photo_width(photo, mask, rule=RULE.with_(contrast=80.0))
    assert kept.sum(axis=1).tolist() == [3] * 40  # the three columns darker than the contrast


def test_specks_the_rule_leaves_are_dropped_and_an_empty_mask_stays_empty():
    photo, _ = _hairline()
    mask = np.zeros(photo.shape[:2], bool)
    mask[31:34, 4:10] = True  # a 6 px piece of the line once trimmed
    assert apply_photo_width(photo, mask, rule=RULE).sum() == 6
    assert not apply_photo_width(photo, mask, rule=RULE.with_(min_size=10)).any()
    assert not apply_photo_width(photo, np.zeros_like(mask), rule=RULE).any()


def test_bad_rules_and_sizes_are_refused():
    photo, _ = _hairline(16)
    with pytest.raises(ValueError, match="half_max"):
        apply_photo_width(photo, np.zeros((16, 16), bool), rule=RULE.with_(half_max=None))
    with pytest.raises(ValueError, match="differs"):
        apply_photo_width(photo, np.zeros((8, 16), bool), rule=RULE)
    with pytest.raises(ValueError, match="half_max"):
        MapRecipe(photo_width=RULE.with_(half_max=None))


class _Fixed:
    """A mapper that returns one result whatever the photo."""

    def __init__(self, result: MapResult) -> None:
        self.result = result

    def settings(self) -> dict[str, object]:
        return {"mapper": "fixed"}

    def map_image(self, image, *, name=None, on_progress=None) -> MapResult:
        return self.result


def test_the_mapper_trims_masks_and_the_restorers_verdict_follows_its_mask():
    photo, _ = _hairline()
    band = np.zeros(photo.shape[:2], bool)
    band[30:35, 4:60] = True
    soft = band.astype(np.float32)
    result = PhotoWidthMapper(_Fixed(MapResult(soft, band, cracked=True)), RULE).map_image(photo)
    assert result.mask.sum() == 56 and result.cracked and result.probability is soft
    strict = RULE.with_(min_size=100)  # the trimmed line (56 px) is too small to stay
    restorer_like = PhotoWidthMapper(_Fixed(MapResult(soft, band, cracked=True)), strict)
    assert not restorer_like.map_image(photo).mask.any() and not restorer_like.map_image(photo).cracked
    classifier_like = PhotoWidthMapper(_Fixed(MapResult(soft, band, cracked=True, crack_probability=0.9)), strict)
    assert classifier_like.map_image(photo).cracked  # a classifier's verdict is its own
    assert restorer_like.settings()["photo_width"] == strict.as_dict()
    assert restorer_like.settings()["mapper"] == "fixed"


def test_recipes_keep_the_rule_through_json():
    recipe = get_preset("restorer-thin")
    assert recipe.photo_width is not None and recipe.photo_width.half_max_blur == 0.5
    assert MapRecipe.from_dict(recipe.to_dict()) == recipe
    assert MapRecipe.from_dict(MapRecipe().to_dict()).photo_width is None


@dataclass
class _BlurryRestorer(RestorerRun):
    """A restorer (no network) that restores the crack-free surface the test drew, but whose restoration error is
    blurred (2 px at the scale mapped), as a real restorer's is: the error is wider than the crack."""

    surface: np.ndarray | None = None

    def restore(self, image: np.ndarray, *, overlap: float | None = None, batch_size: int = 32) -> np.ndarray:
        import cv2

        assert self.surface is not None
        surface = cv2.resize(self.surface, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        error = cv2.GaussianBlur(surface.astype(np.float32) - image.astype(np.float32), (0, 0), 2.0)
        return np.clip(image + 2.0 * error, 0, 255).astype(np.uint8)


def test_restorer_thin_maps_a_hairline_one_pixel_wide_through_make_mapper():
    from crackscope.maps.factory import make_mapper

    photo, surface = _hairline(96)  # a line of 88 px, above the preset's min_size
    run = _BlurryRestorer(path=Path("perfect"), config={}, restorer=RestorerConfig(), generator=None, surface=surface)
    thin = get_preset("restorer-thin")
    with_rule = make_mapper(run, thin, device="cpu").map_image(photo).mask
    without = make_mapper(run, replace(thin, photo_width=None), device="cpu").map_image(photo).mask
    columns = slice(12, 84)
    assert np.median(without[:, columns].sum(axis=0)) >= 2  # the error, mapped at 2x, comes back wider
    assert np.median(with_rule[:, columns].sum(axis=0)) == 1
    assert with_rule[48, columns].all()


def _hairline_and_bar(size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """(photo, mask): a faint 1 px hairline masked 3 px wide (row 24) and a dark bar 7 px wide masked 9 px wide
    (rows 60-68), far enough apart to be two cracks."""
    photo, _ = _hairline(size)
    photo[61:68, 8 : size - 8] = 60
    mask = np.zeros(photo.shape[:2], bool)
    photo[size // 2, 4 : size - 4] += 20  # _hairline's line moved to row 24
    photo[24, 4 : size - 4] -= 20
    mask[23:26, 4 : size - 4] = True
    mask[60:69, 8 : size - 8] = True
    return photo, mask


def test_thin_below_trims_only_the_thin_cracks():
    photo, mask = _hairline_and_bar()
    every = apply_photo_width(photo, mask, rule=RULE)
    thin_only = apply_photo_width(photo, mask, rule=RULE, thin_below=4.0)
    assert thin_only[23:26].sum(axis=0)[4:92].tolist() == [1] * 88  # the hairline: 3 px -> 1 px
    assert thin_only[24, 4:92].all()
    assert np.array_equal(thin_only[56:], mask[56:])  # the bar (mean width 9 px) as it was
    assert not np.array_equal(every[56:], mask[56:])  # which the rule for every crack would trim
    assert np.array_equal(apply_photo_width(photo, mask, rule=RULE, thin_below=2.0), mask)  # no crack that thin


def test_thin_below_reads_the_same_profile_as_the_whole_photo():
    """The profile is read on a crop around the thin cracks: inside it, its values are the whole photo's."""
    from crackscope.maps.measure import CRACK_LINK_PX, measure_cracks
    from crackscope.maps.postprocess import label_cracks, remove_small

    rng = np.random.default_rng(3)
    for radii, blur in (((3, 6), 0.7), ((2, 4, 8), None)):
        rule = RULE.with_(radii=radii, half_max_blur=blur, blur=1.5, min_size=5)
        for _ in range(3):
            photo = (rng.random((120, 150, 3)) * 255).astype(np.uint8)
            mask = np.zeros((120, 150), bool)
            y, x = rng.integers(30, 90), rng.integers(20, 60)
            mask[y : y + 3, x : x + 50] = True  # a thin crack away from the borders
            mask[5:20, 100:140] = True  # a wide one
            labels = label_cracks(mask, link=CRACK_LINK_PX)
            thin_ids = [c.id for c in measure_cracks(mask, labels=labels) if c.mean_width_px < 4]
            thin = np.isin(labels[0], thin_ids)
            expected = (mask & ~thin) | remove_small(thin & rule.within_width(photo), min_size=5)
            assert thin.any()
            assert np.array_equal(apply_photo_width(photo, mask, rule=rule, thin_below=4.0), expected)


def test_thin_below_is_checked_and_kept_in_recipes():
    photo, mask = _hairline_and_bar(32)
    with pytest.raises(ValueError, match="thin_below"):
        apply_photo_width(photo, mask, rule=RULE, thin_below=0.0)
    with pytest.raises(ValueError, match="thin_below"):
        PhotoWidthMapper(_Fixed(MapResult(mask.astype(np.float32), mask)), RULE, thin_below=-1.0)
    with pytest.raises(ValueError, match="needs a photo_width"):
        MapRecipe(photo_width_below=4.0)
    with pytest.raises(ValueError, match="positive"):
        MapRecipe(photo_width=RULE, photo_width_below=0.0)
    recipe = MapRecipe(photo_width=RULE, photo_width_below=4.0)
    assert MapRecipe.from_dict(recipe.to_dict()) == recipe
    old = {k: v for k, v in recipe.to_dict().items() if k != "photo_width_below"}  # a recipe from before the field
    assert MapRecipe.from_dict(old).photo_width_below is None
    mapper = PhotoWidthMapper(_Fixed(MapResult(mask.astype(np.float32), mask)), RULE, thin_below=4.0)
    assert mapper.settings()["photo_width_below"] == 4.0


def test_the_selftrained_preset_trims_thin_cracks_with_the_fine_profile():
    recipe = get_preset("selftrained")
    assert recipe.photo_width is not None and recipe.photo_width.half_max_blur == 0.7
    assert recipe.photo_width.radii == (3, 6) and recipe.photo_width_below == 4.0
