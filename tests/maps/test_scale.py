"""Mapping at the run's scale: the two equivariant measures, the factor rule, the wrapper, the recipe field."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from crackscope.maps.base import MapResult, Tile
from crackscope.maps.recipe import MapRecipe
from crackscope.maps.scale import (
    ScaledMapper,
    ScaleOptions,
    line_width,
    mapping_scale,
    reference_scale,
    reference_scale_of_files,
    texture_period,
)


def surface(size: tuple[int, int] = (192, 256), seed: int = 0) -> np.ndarray:
    """A grey surface with a fine random grain (a few px), as an RGB uint8 photo."""
    rng = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(rng.normal(0, 1, size).astype(np.float32), (0, 0), 1.0)
    grey = np.clip(140 + 25 * grain / grain.std(), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def with_bar(image: np.ndarray, width: int) -> np.ndarray:
    out = image.copy()
    y = out.shape[0] // 2
    out[y - width // 2 : y - width // 2 + width, 10:-10] = 40
    return out


def upscaled(image: np.ndarray, k: float) -> np.ndarray:
    return cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR)


def test_texture_period_grows_with_the_photos_scale():
    photo = surface()
    base = texture_period(photo)
    assert 1.5 < texture_period(upscaled(photo, 2)) / base < 2.6
    assert 3.0 < texture_period(upscaled(photo, 4)) / base < 5.0


@pytest.mark.parametrize("width", [8, 16])
def test_line_width_reads_the_width_of_a_drawn_bar(width):
    measured = line_width(with_bar(surface(), width), top=0.005)
    assert 0.6 * width <= measured <= 1.6 * width


def test_thin_lines_all_read_as_thin():
    assert line_width(with_bar(surface(), 2), top=0.005) <= 6


def test_options_are_checked_and_round_trip_in_a_recipe():
    with pytest.raises(ValueError, match="scale mode"):
        ScaleOptions(mode="huge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="texture_period"):
        ScaleOptions(texture_period=0)
    with pytest.raises(ValueError, match="dead_band"):
        ScaleOptions(dead_band=0.5)
    opts = ScaleOptions(mode="auto", texture_period=3.5, max_line_width=12.0)
    recipe = MapRecipe(scale=opts)
    assert MapRecipe.from_dict(recipe.to_dict()).scale == opts
    assert MapRecipe.from_dict({k: v for k, v in recipe.to_dict().items() if k != "scale"}).scale == ScaleOptions()
    assert not ScaleOptions(mode="auto").active and not ScaleOptions(texture_period=3.0).active


def test_the_factor_brings_an_upscaled_photo_back_and_leaves_a_like_photo_alone():
    photo = surface(seed=1)
    ref = reference_scale([surface(seed=s) for s in range(3)])
    assert ref.mode == "auto" and ref.texture_period is not None
    assert mapping_scale(photo, ref) == 1.0  # within the dead band
    assert mapping_scale(upscaled(photo, 4), ScaleOptions()) == 1.0  # native
    factor = mapping_scale(upscaled(photo, 4), ref)
    assert 0.18 < factor < 0.34
    assert mapping_scale(upscaled(photo, 4), ref.with_(min_scale=0.5)) == 0.5


def test_wide_lines_ask_for_a_smaller_scale():
    photo = with_bar(surface(seed=2), 24)
    opts = ScaleOptions(mode="auto", max_line_width=6.0)
    assert mapping_scale(photo, opts) < 0.5


class RecordingMapper:
    """Maps a photo by marking its dark pixels; records the sizes it was given."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def settings(self) -> dict[str, object]:
        return {"mapper": "recording"}

    def map_image(self, image, *, name=None, on_progress=None):  # type: ignore[no-untyped-def]
        self.shapes.append(image.shape)
        mask = image[..., 0] < 80
        h, w = mask.shape
        return MapResult(mask.astype(np.float32), mask, (Tile((0, 0, h, w), 0.9),), mask.astype(np.float32), True, 0.9)


def test_scaled_mapper_maps_small_and_returns_maps_at_the_photos_size():
    photo = upscaled(with_bar(surface(seed=3), 4), 4)
    inner = RecordingMapper()
    ref = reference_scale([surface(seed=s) for s in range(3)])
    result = ScaledMapper(inner, ref).map_image(photo)
    h, w = photo.shape[:2]
    assert inner.shapes[0][0] < h / 2  # mapped smaller
    assert result.mask.shape == (h, w) and result.probability.shape == (h, w) and result.cam is not None
    assert result.cam.shape == (h, w) and result.scale < 0.5
    assert result.tiles[0].box == (0, 0, h, w) and result.cracked and result.crack_probability == 0.9
    band = result.mask[:, w // 4 : 3 * w // 4].sum(axis=0)
    assert 8 <= np.median(band) <= 24  # the 16 px wide bar comes back about 16 px wide
    assert ScaledMapper(inner, ref).settings()["scale"] == ref.as_dict()


def test_a_fixed_factor_enlarges_every_photo_up_to_an_area():
    photo = surface((100, 100))
    assert ScaleOptions(factor=2.0).active and not ScaleOptions(factor=1.0).active
    assert mapping_scale(photo, ScaleOptions(factor=2.0)) == 2.0  # native mode: the factor alone
    assert mapping_scale(photo, ScaleOptions(factor=3.0)) == 2.0  # max_upscale
    assert mapping_scale(photo, ScaleOptions(factor=2.0, max_pixels=22_500)) == pytest.approx(1.5)
    assert mapping_scale(photo, ScaleOptions(factor=2.0, max_pixels=5_000)) == 1.0  # never below 1 for that
    assert mapping_scale(photo, ScaleOptions(factor=0.5)) == 0.5
    for bad in ({"factor": 0.0}, {"max_pixels": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ScaleOptions(**bad)  # type: ignore[arg-type]
    opts = ScaleOptions(factor=2.0, max_pixels=8_000_000)
    assert MapRecipe.from_dict(MapRecipe(scale=opts).to_dict()).scale == opts


def test_scaled_mapper_maps_an_enlarged_photo_and_brings_a_thin_line_back_thin():
    photo = with_bar(surface(seed=5), 2)
    inner = RecordingMapper()
    result = ScaledMapper(inner, ScaleOptions(factor=2.0)).map_image(photo)
    h, w = photo.shape[:2]
    assert inner.shapes == [(2 * h, 2 * w, 3)] and result.scale == 2.0
    assert result.mask.shape == (h, w) and result.tiles[0].box == (0, 0, h, w)
    assert np.median(result.mask[:, w // 4 : 3 * w // 4].sum(axis=0)) == 2  # the 2 px bar stays 2 px


def test_specks_found_at_a_larger_scale_are_measured_at_the_photos_size():
    photo = with_bar(surface(seed=6), 2)  # a 2 px bar, 236 px long
    photo[20:24, 20:24] = 40  # and a 4x4 px speck: 16 px here, 64 px at 2x
    inner = RecordingMapper()
    kept = ScaledMapper(inner, ScaleOptions(factor=2.0)).map_image(photo).mask
    dropped = ScaledMapper(inner, ScaleOptions(factor=2.0), min_size=30).map_image(photo).mask
    assert kept[20:24, 20:24].all() and not dropped[20:24, 20:24].any()
    bar = slice(photo.shape[0] // 2 - 4, photo.shape[0] // 2 + 4)
    assert dropped[bar].sum() == kept[bar].sum() >= 2 * 200  # the bar stays
    assert ScaledMapper(inner, ScaleOptions(factor=2.0), min_size=30).settings()["min_size_at_full_resolution"] == 30


def test_scaled_mapper_passes_a_photo_at_the_runs_scale_through():
    photo = with_bar(surface(seed=4), 4)
    inner = RecordingMapper()
    ref = reference_scale([surface(seed=s) for s in range(3)])
    result = ScaledMapper(inner, ref).map_image(photo)
    assert inner.shapes == [photo.shape] and result.scale == 1.0


class WideningMapper(RecordingMapper):
    """Marks the dark pixels grown by 2 px, as a mask made at a reduced scale is too wide once resized back."""

    def map_image(self, image, *, name=None, on_progress=None):  # type: ignore[no-untyped-def]
        result = super().map_image(image, name=name, on_progress=on_progress)
        mask = cv2.dilate(result.mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        return MapResult(mask.astype(np.float32), mask, result.tiles, result.cam, True, 0.9)


def test_the_width_rule_holds_at_the_photos_own_resolution():
    from crackscope.maps.refine import RefineOptions

    photo = upscaled(surface(seed=5), 3)  # a coarser grain than the reference: mapped at a reduced scale
    y = photo.shape[0] // 2
    photo[y : y + 3, 20:-20] = 40  # a 3 px crack
    ref = reference_scale([surface(seed=s) for s in range(3)])
    rule = RefineOptions(radii=(2, 4, 8), blur=1.0, half_max=0.5, half_max_radius=3)
    wide = ScaledMapper(WideningMapper(), ref).map_image(photo)
    kept = ScaledMapper(WideningMapper(), ref, width_rule=rule).map_image(photo)
    assert wide.scale < 0.75 and kept.scale == wide.scale
    near, columns = slice(y - 20, y + 23), slice(40, photo.shape[1] - 40)
    wide_width = np.median(wide.mask[near, columns].sum(axis=0))
    kept_width = np.median(kept.mask[near, columns].sum(axis=0))
    assert wide_width >= 9  # the 3 px crack grown by 2 px on each side at 0.71x, resized back
    assert 3 <= kept_width <= 7 and kept_width < wide_width  # narrowed to the line's profile in the photo
    assert (kept.mask <= wide.mask).all()  # the rule only takes pixels away
    assert ScaledMapper(WideningMapper(), ref, width_rule=rule).settings()["width_rule_at_full_resolution"]


def test_the_reference_of_files_samples_them_and_leaves_unreadable_ones_out(tmp_path):
    from crackscope.io import write_image_atomic

    paths = []
    for i in range(4):
        path = tmp_path / f"p{i}.png"
        write_image_atomic(path, with_bar(surface(seed=i), 3 + i))
        paths.append(path)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    assert reference_scale_of_files([*paths, broken]) == reference_scale(images)
    two = reference_scale_of_files(paths, max_photos=2, seed=3)
    assert two == reference_scale_of_files(list(reversed(paths)), max_photos=2, seed=3)  # a seeded sample
    assert two in [reference_scale([images[i], images[j]]) for i in range(4) for j in range(i + 1, 4)]
    assert reference_scale_of_files([broken]) is None
    with pytest.raises(ValueError, match="max_photos"):
        reference_scale_of_files(paths, max_photos=0)


def test_resample_rounds_each_side_and_refuses_a_factor_that_is_none():
    from crackscope.maps.scale import resample

    photo = surface((30, 41))
    assert resample(photo, 1.0) is photo
    assert resample(photo, 0.5).shape == (15, 20, 3) and resample(photo, 2.0).shape == (60, 82, 3)
    assert resample(photo, 1e-6).shape == (1, 1, 3)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="factor must be a finite number > 0"):
            resample(photo, bad)
