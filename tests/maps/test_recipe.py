"""Map recipes and the preset registry: typed, frozen, validated, round-tripped through JSON."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError

import pytest

from crackscope.errors import BadInputError
from crackscope.maps.recipe import (
    RECIPE_FILE,
    MapRecipe,
    PixelStage,
    get_preset,
    list_presets,
    read_run_recipe,
    register_preset,
)
from crackscope.maps.refine import RefineOptions


def test_presets_are_listed_with_a_doc_line_and_round_trip():
    presets = list_presets()
    names = [p.name for p in presets]
    assert names[:5] == ["cam", "refined", "refined-v2", "selftrained", "restorer-paper"]
    assert get_preset("refined").refine_options == RefineOptions()  # v1: map's default since the first session
    for p in presets:
        assert p.doc and "\n" not in p.doc
        assert p.recipe.name == p.name
        assert MapRecipe.from_dict(json.loads(json.dumps(p.recipe.to_dict()))) == p.recipe
    assert [p.name for p in presets if p.needs_fit] == ["selftrained", "selftrained-restorer"]


def test_a_stages_crop_augmentation_round_trips_and_defaults_to_none():
    from dataclasses import replace

    from crackscope.data.augment import RobustAugment

    plain = get_preset("selftrained")
    assert all(s.augment is None for s in plain.stages)
    augmented = plain.with_(stages=tuple(replace(s, augment=RobustAugment(gamma=0.1)) for s in plain.stages))
    assert MapRecipe.from_dict(json.loads(json.dumps(augmented.to_dict()))) == augmented
    # a recipe written before stages had an augmentation reads as none
    written = plain.to_dict()
    for stage in written["stages"]:  # type: ignore[attr-defined]
        del stage["augment"]
    assert MapRecipe.from_dict(written) == plain


def test_selftrained_is_the_measured_five_command_recipe():
    r = get_preset("selftrained")
    assert r.pixel_models == ("a2", "b2") and r.gate == "pixels"
    stages = {s.name: s for s in r.stages}
    assert stages["a2"].teacher == "a1" and stages["b2"].teacher == "b1"
    assert stages["a1"].labels.outside_lines_unlabelled and stages["a1"].labels.blobs_background
    assert stages["a1"].refine.relative_contrast and not stages["b1"].refine.relative_contrast
    assert r.refine_options.pixel_threshold == 0.4 and r.refine_options.region_level == 0.0


def test_recipes_are_frozen_and_validated():
    r = MapRecipe()
    with pytest.raises(FrozenInstanceError):
        r.gate = "pixels"  # type: ignore[misc]
    assert r.with_(gate="pixels").gate == "pixels" and r.gate == "photo"
    with pytest.raises(ValueError, match="unknown route"):
        MapRecipe(route="magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an earlier stage"):
        MapRecipe(stages=(PixelStage("a2", teacher="a1"), PixelStage("a1")))
    with pytest.raises(ValueError, match="repeat"):
        MapRecipe(stages=(PixelStage("a"), PixelStage("a")))
    with pytest.raises(ValueError, match="not trained by any stage"):
        MapRecipe(pixel_models=("x",), stages=(PixelStage("a"),))
    with pytest.raises(ValueError, match="unknown recipe fields: colour"):
        MapRecipe.from_dict({"colour": "red"})


def test_registry_refuses_a_taken_name_and_unknown_names():
    with pytest.raises(ValueError, match="already registered"):
        register_preset("cam", MapRecipe(), doc="again")
    with pytest.raises(ValueError, match="unknown preset 'nope'; choose one of cam, refined"):
        get_preset("nope")


def test_a_run_folder_records_its_recipe(tmp_path):
    assert read_run_recipe(tmp_path) is None
    recipe = MapRecipe(method="gradcam", refine_options=RefineOptions(min_size=7), name="mine")
    recipe.save(tmp_path)
    assert read_run_recipe(tmp_path) == recipe
    (tmp_path / RECIPE_FILE).write_text('{"gate": "sideways"}')
    with pytest.raises(BadInputError, match=r"map_recipe.json.*not a valid map recipe"):
        read_run_recipe(tmp_path)


def test_join_faint_sets_only_the_masks_hysteresis():
    recipe = get_preset("selftrained")
    joined = recipe.with_join_faint(0.25)
    assert joined.refine_options == recipe.refine_options.with_(hysteresis=0.25)
    assert joined.with_(refine_options=recipe.refine_options) == recipe
    for bad in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match=r"join_faint must be a fraction of the threshold in \(0, 1\)"):
            recipe.with_join_faint(bad)
