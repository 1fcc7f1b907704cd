"""fit: classifier + self-trained pixel models in one run folder, one budget, resumable; the CLI around it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from crackscope.errors import BadInputError
from crackscope.maps.fit import FIT_LOG, FitOptions, fit, photo_paths
from crackscope.maps.pixel_model import load_pixel_model
from crackscope.maps.recipe import PIXEL_MODELS_DIR, read_run_recipe


@pytest.mark.slow
def test_fit_writes_everything_map_needs(fitted_run):
    recipe = read_run_recipe(fitted_run)
    assert recipe is not None and recipe.name == "small-selftrained"
    for name in ("a1", "a2", "b1", "b2"):
        model = load_pixel_model(fitted_run / PIXEL_MODELS_DIR / name)
        assert model.config["stage"] == name and model.config["steps"] >= 1 and model.config["photos"] == 24
    assert load_pixel_model(fitted_run / PIXEL_MODELS_DIR / "a2").config["teacher"].endswith("a1")
    log = json.loads((fitted_run / FIT_LOG).read_text())
    names = ["classifier", "scale reference", "class maps", "a1", "a2", "b1", "b2", "exposure reference"]
    assert [s["name"] for s in log["steps"]] == names
    assert recipe.scale.mode == "auto" and recipe.scale.texture_period is not None
    assert recipe.exposure is not None and recipe.exposure.measured  # the range of the photos fitted on
    assert log["preset"] == "small-selftrained" and log["photos"] == 24 and log["photos_given"] == []
    # the budget holds (0.3 min, stages get at least 5 s each, with labelling and saving around them)
    assert log["seconds"] < 0.3 * 60 + 4 * 5 + 15
    assert json.loads((fitted_run / "config.json").read_text())["complete"] is True


@pytest.mark.slow
def test_a_finished_fit_resumes_without_redoing_work(fitted_run, small_recipe, synth_dir, tmp_path):
    run = tmp_path / "again"
    shutil.copytree(fitted_run, run)
    res = fit(synth_dir, run, preset=small_recipe, options=FitOptions(minutes=0.3))
    assert all(s.resumed for s in res.steps) and res.seconds < 10
    shutil.rmtree(run / PIXEL_MODELS_DIR / "b2")  # a fit stopped in its last round
    res = fit(synth_dir, run, preset=small_recipe, options=FitOptions(minutes=0.1))
    assert [s.name for s in res.steps if not s.resumed] == ["class maps", "b2"]
    assert load_pixel_model(run / PIXEL_MODELS_DIR / "b2").config["teacher"].endswith("b1")


def test_fit_refuses_what_it_cannot_do(synth_dir, tmp_path):
    with pytest.raises(BadInputError, match="fit trains classifier presets"):
        fit(synth_dir, tmp_path / "r", preset="restorer-paper")
    with pytest.raises(ValueError, match="minutes must be positive"):
        FitOptions(minutes=0)
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    with pytest.raises(BadInputError):
        photo_paths(empty, layout=None, max_photos=5, seed=0)


def test_photos_given_that_name_nothing_stop_the_fit_before_it_trains(synth_dir, tmp_path):
    empty = tmp_path / "no-photos"
    empty.mkdir()
    for given, problem in ((tmp_path / "missing", "no such file or folder"), (empty, "holding no image file")):
        with pytest.raises(BadInputError, match=problem) as info:
            fit(synth_dir, tmp_path / "r", options=FitOptions(minutes=1, photos=(given,)))
        assert info.value.path == given and "--photos" in str(info.value)
    assert not (tmp_path / "r" / "config.json").exists()  # nothing was trained
    # one path given as a string is one path, not its characters
    assert FitOptions(photos=str(empty)).photos == (empty,)
    assert FitOptions(photos=[str(empty), empty]).photos == (empty, empty)


@pytest.mark.slow
def test_fit_self_trains_on_the_photos_given_too(small_recipe, synth_dir, tmp_path):
    from crackscope.data.synth import synthesize

    other = synthesize(tmp_path / "other", n=6, size=96, seed=3) / "images"
    run = tmp_path / "run"
    res = fit(synth_dir, run, preset=small_recipe, options=FitOptions(minutes=0.2, max_photos=20, photos=(other,)))
    # about half of max_photos from DATA (10 of its 24), the rest from the photos given (all 6)
    assert res.photos == 16
    assert load_pixel_model(run / PIXEL_MODELS_DIR / "a1").config["photos"] == 16
    log = json.loads((run / FIT_LOG).read_text())
    assert log["photos_given"] == [str(other)]
    # the scale reference is DATA's: the same as a fit without the photos measures
    assert res.recipe.scale.texture_period is not None


def test_photos_given_are_prepared_as_map_shows_them():
    from crackscope.maps.fit import photo_as_mapped
    from crackscope.maps.recipe import MapRecipe
    from crackscope.maps.scale import ScaleOptions

    rng = np.random.default_rng(0)
    photo = rng.integers(90, 160, (200, 300, 3)).astype(np.uint8)
    photo[:, :60] = 0  # black fill along the left edge, as around a photo turned to level
    as_is = MapRecipe(name="as-is", no_data=None)
    np.testing.assert_array_equal(photo_as_mapped(photo, recipe=as_is), photo)
    painted = photo_as_mapped(photo, recipe=MapRecipe(name="filled"))
    assert painted.shape == photo.shape and painted[:, :60].min() > 60  # the fill is painted in the photo's colour
    halved = photo_as_mapped(photo, recipe=MapRecipe(name="half", no_data=None, scale=ScaleOptions(factor=0.5)))
    assert halved.shape == (100, 150, 3)


def test_photo_sample_is_seeded_and_sorted(synth_dir):
    every = photo_paths(synth_dir, layout=None, max_photos=100, seed=0)
    assert len(every) == 24 and every == sorted(every)
    some = photo_paths(synth_dir, layout=None, max_photos=5, seed=1)
    assert len(some) == 5 and some == sorted(some) and set(some) <= set(every)
    assert some == photo_paths(synth_dir, layout=None, max_photos=5, seed=1)


@pytest.mark.slow
def test_fit_and_presets_commands(fitted_run, tmp_path):
    from typer.testing import CliRunner

    from crackscope.cli import app
    from crackscope.maps.recipe import list_presets

    listing = CliRunner().invoke(app, ["presets"])
    assert listing.exit_code == 0
    for p in list_presets():
        assert any(line.startswith(p.name + " ") for line in listing.output.splitlines()), p.name
    bad = CliRunner().invoke(app, ["fit", str(tmp_path), "--out", str(tmp_path / "r"), "--minutes", "0"])
    assert bad.exit_code != 0 and "minutes must be positive" in bad.output


def test_fit_command_names_photos_it_cannot_find(synth_dir, tmp_path):
    from typer.testing import CliRunner

    from crackscope.cli import app

    missing = tmp_path / "my-surface"
    res = CliRunner().invoke(app, ["fit", str(synth_dir), "--out", str(tmp_path / "r"), "--photos", str(missing)])
    assert res.exit_code != 0 and "my-surface" in res.output and "no such file or folder" in res.output
    assert not (tmp_path / "r" / "config.json").exists()
