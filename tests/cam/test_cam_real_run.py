"""`crackscope explain` and `crackscope layers` on a run made by `crackscope.training.train` (the shared fixture)."""

from __future__ import annotations

import csv
import json

import numpy as np
from typer.testing import CliRunner


def test_explain_a_trained_run_from_the_cli(tiny_run, synth_dir, tmp_path):
    from crackscope.cli import app

    images = sorted((synth_dir / "images").glob("*.png"))[:4]
    out = tmp_path / "explained"
    res = CliRunner().invoke(
        app,
        [
            "explain",
            str(tiny_run),
            *map(str, images),
            "--out",
            str(out),
            "--method",
            "gradcam++",
            "--normalise",
            "batch",
            "--no-panels",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((out / "predictions.csv").read_text().splitlines()))
    assert [r["filename"] for r in rows] == [p.name for p in images]
    for p in images:
        assert np.load(out / f"{p.stem}_map.npy").shape == (64, 64)  # the photo's size (run input: 32 px)
        assert (out / f"{p.stem}_overlay.png").exists()
        assert not (out / f"{p.stem}_panel.png").exists()
    settings = json.loads((out / "manifest.json").read_text())["settings"]
    assert settings["model"] == "tiny" and settings["normalise"] == "batch" and settings["layer"] == "features.4"
    res = CliRunner().invoke(app, ["layers", str(tiny_run)])
    assert res.exit_code == 0 and "features.4" in res.output
