"""`explain` on a photo larger than the run's tile sees it as `map` does: in tiles, with map's verdict."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from crackscope.io import read_image, write_image_atomic

if TYPE_CHECKING:
    from crackscope.training.run import ClassifierRun


@pytest.fixture()
def red_run(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A hand-made classifier that calls an input "cracked" when its mean red is high (logit 0.05 x mean red
    - 5), in a run folder of its own: a 32x32 red square is a crack, a photo squeezed whole hides it."""
    from crackscope.training.run import ClassifierRun
    from tests.cam.handnets import HandNet

    config = {"kind": "classifier", "model": "hand", "image_size": 32, "threshold": 0.5}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    return ClassifierRun(path=tmp_path / "run", config=config, model=HandNet(w=(0.05,), b=-5.0).eval())


@pytest.fixture()
def wall(tmp_path: Path) -> Path:
    """A 128x128 grey wall with a red 32x32 square in a corner."""
    wall = np.full((128, 128, 3), (0, 120, 120), np.uint8)
    wall[:32, :32, 0] = 200
    return write_image_atomic(tmp_path / "wall.png", wall)


def _rows(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(open(out / "predictions.csv")))


def test_a_large_photo_gets_the_verdict_of_map(red_run, wall: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from crackscope.cam.api import ExplainOptions, explain_images
    from crackscope.maps.factory import make_mapper

    report = explain_images(red_run, [wall], out=tmp_path / "tiles")
    (row,) = _rows(tmp_path / "tiles")
    assert report.tiled == ["wall.png"] and row["view"] == "tiles"
    mapped = make_mapper(red_run, "cam").map_image(read_image(wall))
    assert float(row["probability"]) == pytest.approx(mapped.crack_probability, abs=1e-6)
    assert row["class"] == "cracked" and mapped.cracked
    heat = np.load(tmp_path / "tiles" / "wall_map.npy")
    assert heat.shape == (128, 128) and heat[:32, :32].mean() > 10 * heat[64:, 64:].mean()

    resized = ExplainOptions(tiles=False)
    whole = explain_images(red_run, [wall], out=tmp_path / "resized", options=resized)
    (squeezed,) = _rows(tmp_path / "resized")
    assert whole.tiled == [] and squeezed["view"] == "resized"
    assert float(squeezed["probability"]) == pytest.approx(
        float(red_run.predict_proba([read_image(wall)])[0]), abs=1e-5
    )
    # the photo the two views disagree on: a tile sees the square, the photo squeezed to 32 px does not
    assert squeezed["class"] == "uncracked" and float(squeezed["probability"]) < 0.05


def test_small_photos_and_the_no_crack_target_are_explained_whole(
    tiny_run: Path, synth_dir: Path, tmp_path: Path
) -> None:
    from crackscope.cam.api import explain_images

    small = sorted((synth_dir / "images").glob("*.png"))[:2]
    report = explain_images(tiny_run, small, out=tmp_path / "small")
    assert report.tiled == [] and {r["view"] for r in _rows(tmp_path / "small")} == {"resized"}


def test_the_no_crack_target_sees_a_large_photo_whole(red_run: ClassifierRun, wall: Path, tmp_path: Path) -> None:
    from crackscope.cam.api import ExplainOptions, explain_images

    options = ExplainOptions(target="no-crack")
    report = explain_images(red_run, [wall], out=tmp_path / "other", options=options)
    (row,) = _rows(tmp_path / "other")
    assert report.tiled == [] and row["view"] == "resized"
    assert json.loads((tmp_path / "other" / "manifest.json").read_text())["settings"]["target"] == "no-crack"


def test_a_run_whose_recipe_rescales_photos_is_explained(red_run, wall: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from crackscope.cam.api import explain_images
    from crackscope.maps.recipe import MapRecipe
    from crackscope.maps.scale import ScaleOptions

    MapRecipe(route="classifier", refine=False, scale=ScaleOptions(factor=2.0), name="enlarging").save(red_run.path)
    report = explain_images(red_run, [wall], out=tmp_path / "tiles")  # the scale rule used to fail an assert here
    (row,) = _rows(tmp_path / "tiles")
    assert report.tiled == ["wall.png"] and row["class"] == "cracked"


def test_fill_around_a_photo_is_left_out_of_its_explanation(red_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from crackscope.cam.api import explain_images

    wall = np.full((128, 128, 3), (0, 120, 120), np.uint8)
    wall[:32, 40:72, 0] = 200
    wall[:, 96:] = 255  # white fill on the right: the hand-made classifier calls it a crack (high red)
    path = write_image_atomic(tmp_path / "filled.png", wall)
    explain_images(red_run, [path], out=tmp_path / "tiles")
    heat = np.load(tmp_path / "tiles" / "filled_map.npy")
    assert not heat[:, 96:].any() and heat[:32, 40:72].mean() > 0
