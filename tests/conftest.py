"""Shared fixtures: synthetic data made by crackscope itself (tests never need ../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 synthetic 64 px images (half cracked) with exact masks: images/, masks/, labels.csv."""
    from crackscope.data.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("synth") / "set", n=24, size=64, seed=7)


@pytest.fixture(scope="session")
def tiny_run(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained run of the tiny test model (a few seconds), shared by the CAM, map and app tests."""
    from crackscope.training import TrainOptions, train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    options = TrainOptions(model="tiny", epochs=2, image_size=32, batch_size=8, seed=0)
    return train(synth_dir, out=out, options=options)


@pytest.fixture(scope="session")
def fitted_run(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run made by the product's ``fit`` (tiny classifier, four pixel-model rounds, about 30 s) with the
    structure of the ``selftrained`` preset and sizes fit for 64 px synthetic photos."""
    from crackscope.maps.fit import FitOptions, fit

    out = tmp_path_factory.mktemp("runs") / "fitted"
    fit(synth_dir, out, preset=_small_selftrained(), options=FitOptions(minutes=0.3, seed=0))
    return out


@pytest.fixture(scope="session")
def tiny_restorer(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A restorer run of a tiny configuration trained for a few steps on the synthetic set's crack-free patches."""
    from crackscope.unsupervised.config import RestorerConfig
    from crackscope.unsupervised.train import RestorerTrainOptions, train_restorer

    config = RestorerConfig(
        image_size=32, ngf=8, n_downs=5, ndf=8, d_strided=2, batch_size=4, epochs=1, steps_per_epoch=3,
        style="off", val_max=4, crack_margin=2, name="tiny",
    )  # fmt: skip
    out = tmp_path_factory.mktemp("restorer") / "tiny"
    return train_restorer(synth_dir, out=out, config=config, options=RestorerTrainOptions(seed=0))


@pytest.fixture(scope="session")
def small_recipe():  # type: ignore[no-untyped-def]
    """The recipe ``fitted_run`` was fitted for."""
    return _small_selftrained()


def _small_selftrained():  # type: ignore[no-untyped-def]
    """The ``selftrained`` preset's stages and ensemble, with a tiny classifier and sizes for 64 px photos."""
    from crackscope.maps.exposure import ExposureOptions
    from crackscope.maps.recipe import ClassifierPlan, MapRecipe, PixelStage, PseudoLabelOptions
    from crackscope.maps.refine import RefineOptions
    from crackscope.maps.scale import ScaleOptions

    labels = RefineOptions(min_size=5)
    mask = RefineOptions(min_size=5, region_level=0.0, region_dilation=0, pixel_threshold=0.2)
    return MapRecipe(
        name="small-selftrained",
        refine_options=mask,
        gate="pixels",
        pixel_models=("a2", "b2"),
        stages=(
            PixelStage("a1", refine=labels, labels=PseudoLabelOptions(outside_lines_unlabelled=True), mask=mask),
            PixelStage("a2", teacher="a1"),
            PixelStage("b1", refine=labels, mask=mask),
            PixelStage("b2", teacher="b1"),
        ),
        classifier=ClassifierPlan(model="tiny", image_size=32, epochs=2, share=0.3),
        scale=ScaleOptions(mode="auto"),
        exposure=ExposureOptions(),  # measured by fit, as the preset's
    )
