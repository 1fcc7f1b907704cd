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
    from crackscope.training import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    return train(synth_dir, model="tiny", out=out, epochs=2, image_size=32, batch_size=8, seed=0)
