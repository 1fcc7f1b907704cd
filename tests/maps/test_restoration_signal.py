"""The restoration error as a second weak signal: its scale, the fused class map, and the pseudo-labels it changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crackscope.errors import BadInputError
from crackscope.maps.recipe import PixelStage, PseudoLabelOptions
from crackscope.maps.refine import RefineOptions
from crackscope.maps.restoration_signal import fuse_class_map, restoration_error, restoration_evidence
from crackscope.maps.selftrain import IGNORE, ClassMaps, pseudo_labels, stage_labels


def test_restoration_error_counts_only_what_is_darker_than_the_restoration():
    photo = np.full((6, 6, 3), 150, np.uint8)
    photo[:, 1] = 100  # darker than restored: a crack
    photo[:, 4] = 220  # brighter than restored: not a crack
    err = restoration_error(photo, np.full((6, 6, 3), 150, np.uint8), blur=0)
    assert err.dtype == np.float32
    assert err[:, 1].tolist() == [50.0] * 6
    assert err[:, [0, 2, 3, 4, 5]].max() == 0.0
    with pytest.raises(ValueError, match="differ in shape"):
        restoration_error(photo, np.zeros((6, 5, 3), np.uint8))


def test_restoration_evidence_is_relative_to_the_photos_mean_error():
    err = np.zeros((10, 10), np.float32)
    err[:, 0] = 20.0  # mean 2: unit 4 x 2 = 8 grey levels
    ev = restoration_evidence(err, contrast=4.0)
    assert ev[:, 0].tolist() == [1.0] * 10 and ev[:, 1:].max() == 0.0
    rough = err + 2.0  # the same crack on a surface the restorer restores worse: mean 4, unit 16
    assert restoration_evidence(rough, contrast=4.0)[0, 0] == 1.0  # 22 grey levels >= 16
    assert restoration_evidence(rough, contrast=4.0)[0, 5] == pytest.approx(2 / 16)
    flat = np.full((4, 4), 0.5, np.float32)  # below one grey level on average: the unit is at least 1 x contrast
    assert restoration_evidence(flat, contrast=2.0).max() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="contrast"):
        restoration_evidence(err, contrast=0)


def test_fuse_class_map_takes_the_larger_of_map_and_weighted_evidence():
    cam = np.array([[0.2, 0.9, 0.0]], np.float32)
    ev = np.array([[1.0, 0.5, 0.0]], np.float32)
    assert fuse_class_map(cam, ev, weight=0.5).tolist() == [[0.5, 0.8999999761581421, 0.0]]
    assert np.array_equal(fuse_class_map(cam, ev, weight=0.0), cam)
    with pytest.raises(ValueError, match="differ in shape"):
        fuse_class_map(cam, ev[:, :2], weight=1.0)
    with pytest.raises(ValueError, match="negative"):
        fuse_class_map(cam, ev, weight=-1.0)


def _faint_crack_outside_the_map(size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A photo with a crack the class map sees (row 20) and one it misses (column 44), the map, the error."""
    rng = np.random.default_rng(0)
    img = rng.integers(140, 150, (size, size, 3)).astype(np.uint8)
    img[20:22, 4:36] = 40
    img[30:60, 44:46] = 90
    cam = np.zeros((size, size), np.float32)
    cam[14:28, :40] = 0.9
    error = np.zeros((size, size), np.float32)
    error[20:22, 4:36] = 100.0
    error[30:60, 44:46] = 50.0  # the restorer cannot restore the missed crack either
    return img, cam, error


def test_the_restoration_error_brings_a_crack_the_class_map_missed_into_the_labels():
    img, cam, error = _faint_crack_outside_the_map()
    refine = RefineOptions(min_size=0)
    alone = pseudo_labels(img, cam, refine=refine, options=PseudoLabelOptions(outside_dilation=2))
    fused = pseudo_labels(
        img, cam, refine=refine, options=PseudoLabelOptions(outside_dilation=2, restoration=1.0), error=error
    )
    assert (alone[35:55, 44:46] == 0).all()  # the map alone teaches that the missed crack is background
    assert (fused[35:55, 44:46] == 1).all()  # fused: it is a crack
    assert (fused[20:22, 8:32] == 1).all() and (alone[20:22, 8:32] == 1).all()  # the seen crack stays
    assert (fused[2:10, 2:30] == 0).all()  # flat surface far from both is background
    assert set(np.unique(fused)) <= {0, 1, IGNORE}


def test_fused_labels_need_an_error_map():
    img, cam, _ = _faint_crack_outside_the_map()
    with pytest.raises(ValueError, match="restorer's error"):
        pseudo_labels(img, cam, options=PseudoLabelOptions(restoration=1.0))
    maps = ClassMaps(images=(img,), cams=(cam.astype(np.float16),), used=("a.png",), skipped=())
    stage = PixelStage("a1", refine=RefineOptions(min_size=0), labels=PseudoLabelOptions(restoration=1.0))
    with pytest.raises(ValueError, match="map with a restorer"):
        stage_labels(maps, stage)
    with pytest.raises(ValueError, match="restoration must not be negative"):
        PseudoLabelOptions(restoration=-0.5)


def test_self_train_and_fit_ask_for_a_restorer_before_any_work(tiny_run: Path, synth_dir: Path, tmp_path: Path):
    from crackscope.maps.fit import FitOptions, fit
    from crackscope.maps.presets import SELFTRAINED_RESTORER
    from crackscope.maps.selftrain import self_train

    assert SELFTRAINED_RESTORER.needs_restorer
    with pytest.raises(BadInputError, match="--restorer RUN"):
        fit(synth_dir, tmp_path / "fit", preset="selftrained-restorer")
    assert not (tmp_path / "fit").exists()  # nothing trained
    with pytest.raises(BadInputError, match="needs a restorer run"):
        fit(synth_dir, tmp_path / "fit", preset="selftrained-restorer", options=FitOptions(restorer=str(tiny_run)))
    stage = PixelStage("a1", labels=PseudoLabelOptions(restoration=1.0))
    with pytest.raises(BadInputError, match="give a restorer run"):
        self_train(tiny_run, [synth_dir / "images"], tmp_path / "st", stage=stage)


def test_fit_fuses_the_restorers_error_into_its_first_round(
    synth_dir: Path, tiny_restorer: Path, small_recipe, tmp_path: Path
):
    import json

    from crackscope.maps.fit import FitOptions, fit
    from crackscope.maps.recipe import read_run_recipe

    stages = tuple(
        s if s.teacher else PixelStage(s.name, s.refine, PseudoLabelOptions(restoration=1.0), mask=s.mask)
        for s in small_recipe.stages[:2]
    )
    recipe = small_recipe.with_(stages=stages, pixel_models=("a2",))
    assert recipe.needs_restorer
    out = tmp_path / "run"
    res = fit(synth_dir, out, preset=recipe, options=FitOptions(minutes=0.2, restorer=str(tiny_restorer)))
    assert [s.name for s in res.steps][:4] == ["classifier", "scale reference", "class maps", "a1"]
    first = json.loads((out / "pixel-models" / "a1" / "pixel_model.json").read_text())
    assert first["restorer"] == str(tiny_restorer) and first["pseudo_labels"]["restoration"] == 1.0
    assert "restorer" not in json.loads((out / "pixel-models" / "a2" / "pixel_model.json").read_text())
    stored = read_run_recipe(out)
    assert stored is not None and stored.stages[0].labels.restoration == 1.0
    assert json.loads((out / "fit.json").read_text())["restorer"] == str(tiny_restorer)


def test_commands_ask_for_the_restorer_they_need(tiny_run: Path, synth_dir: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from crackscope.cli import app

    runner = CliRunner()
    fit = runner.invoke(app, ["fit", str(synth_dir), "-o", str(tmp_path / "f"), "--preset", "selftrained-restorer"])
    assert fit.exit_code == 2 and "--restorer RUN" in fit.output
    weight = runner.invoke(
        app, ["selftrain", str(tiny_run), str(synth_dir / "images"), "-o", str(tmp_path / "s"), "--restoration", "1"]
    )
    assert weight.exit_code == 2 and "--restorer RUN" in weight.output
    not_a_restorer = runner.invoke(
        app,
        ["selftrain", str(tiny_run), str(synth_dir / "images"), "-o", str(tmp_path / "s"), "--restorer", str(tiny_run)],
    )
    assert not_a_restorer.exit_code == 2 and "not a restorer run" in not_a_restorer.output
    both = runner.invoke(
        app,
        ["selftrain", str(tiny_run), str(synth_dir / "images"), "-o", str(tmp_path / "s"), "--restorer", "r",
         "--teacher", "t"],
    )  # fmt: skip
    assert both.exit_code == 2 and "--teacher" in both.output
    assert not (tmp_path / "f").exists() and not (tmp_path / "s").exists()
