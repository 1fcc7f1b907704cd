"""make_mapper: one factory for every caller; the run's own recipe by default; clear errors."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from crackscope.errors import BadInputError
from crackscope.maps.classifier import ClassifierMapper
from crackscope.maps.exposure import ExposureMapper
from crackscope.maps.factory import default_recipe, make_mapper
from crackscope.maps.no_data import NoDataMapper, NoDataOptions
from crackscope.maps.recipe import MapRecipe, get_preset
from crackscope.maps.scale import ScaledMapper


def _unwrapped(mapper: object) -> object:
    """The mapper inside the no-data rule every recipe has by default."""
    assert isinstance(mapper, NoDataMapper) and mapper.options == NoDataOptions()
    return mapper.inner


def test_a_trained_run_maps_with_the_refined_preset_by_default(tiny_run):
    mapper = _unwrapped(make_mapper(tiny_run))
    assert isinstance(mapper, ClassifierMapper) and mapper.pixel_model is None
    assert mapper.recipe == get_preset("refined") and mapper.settings()["preset"] == "refined"
    cam = _unwrapped(make_mapper(tiny_run, "cam"))
    assert isinstance(cam, ClassifierMapper) and cam.recipe == get_preset("cam")
    own = MapRecipe(method="gradcam", name="mine")
    plain = make_mapper(tiny_run, own.with_(no_data=None))
    assert isinstance(plain, ClassifierMapper) and plain.recipe == own.with_(no_data=None)


@pytest.mark.slow
def test_a_fitted_run_maps_with_its_own_recipe(fitted_run):
    recipe = default_recipe(fitted_run)
    assert recipe.name == "small-selftrained" and recipe.pixel_models == ("a2", "b2")
    assert recipe.scale.mode == "auto" and recipe.scale.texture_period is not None  # fit measured its photos
    assert recipe.exposure is not None and recipe.exposure.measured and not recipe.exposure.apply
    scaled = _unwrapped(make_mapper(fitted_run))  # the exposure range is measured, not applied
    assert isinstance(scaled, ScaledMapper) and scaled.options == recipe.scale
    mapper = scaled.inner
    assert isinstance(mapper, ClassifierMapper)
    assert mapper.pixel_model is not None and mapper.pixel_model.source.endswith("pixel-models/b2")
    assert "pixel-models/a2" in mapper.settings()["pixel_model"]
    assert scaled.settings()["scale"] == recipe.scale.as_dict()
    native = _unwrapped(make_mapper(fitted_run, recipe.with_(scale=recipe.scale.with_(mode="native"))))
    assert isinstance(native, ClassifierMapper)
    exposed = _unwrapped(make_mapper(fitted_run, recipe.with_(exposure=replace(recipe.exposure, apply=True))))
    assert isinstance(exposed, ExposureMapper) and exposed.options.active and isinstance(exposed.inner, ScaledMapper)


@pytest.mark.slow
def test_errors_name_what_is_missing(tiny_run, fitted_run, tmp_path):
    with pytest.raises(BadInputError, match=r"pixel-models/a2.*`crackscope fit`"):
        make_mapper(tiny_run, "selftrained")
    with pytest.raises(BadInputError, match="maps with a restorer run, and this is a classifier run"):
        make_mapper(tiny_run, "restorer-paper")
    with pytest.raises(BadInputError, match="unknown preset 'nope'"):
        make_mapper(tiny_run, "nope")
    with pytest.raises(BadInputError, match=r"no config.json"):
        make_mapper(tmp_path / "nothing")
    broken = tmp_path / "broken"
    shutil.copytree(fitted_run, broken)
    shutil.rmtree(broken / "pixel-models" / "b2")
    with pytest.raises(BadInputError, match="b2"):
        make_mapper(broken)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["cam", "refined", "refined-v2", "selftrained"])
def test_every_classifier_preset_maps_a_synthetic_photo(fitted_run, synth_dir, preset):
    from crackscope.io import read_image

    image = read_image(sorted((synth_dir / "images").glob("*.png"))[0])
    mapper = make_mapper(fitted_run, preset)
    result = mapper.map_image(image)
    assert result.mask.shape == result.probability.shape == image.shape[:2]
    assert mapper.settings()["preset"] == preset
    assert (mapper.settings()["pixel_model"] is not None) == bool(get_preset(preset).pixel_models)
