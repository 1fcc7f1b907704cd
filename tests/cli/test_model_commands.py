"""The classifier commands through typer's CliRunner (tiny model, synthetic data)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from crackscope.cli import app

runner = CliRunner()


def test_models_lists_the_registry() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "tiny" in result.output and "crackfast" in result.output


def test_train_predict_evaluate_compare(synth_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            str(synth_dir),
            "--model",
            "tiny",
            "--out",
            str(run),
            "--epochs",
            "1",
            "--image-size",
            "32",
            "--batch-size",
            "8",
            "--seed",
            "0",
            "--lr",
            "0.005",
            "--precision",
            "fp32",
            "--weight-average",
            "0.2",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert config["recipe"]["lr"] == 0.005 and config["recipe"]["epochs"] == 1
    assert config["weight_average"] == 0.2 and (run / "average.safetensors").is_file()

    out_csv = tmp_path / "out.csv"
    result = runner.invoke(
        app, ["predict", str(run), str(synth_dir / "images"), "--csv", str(out_csv), "--probability"]
    )
    assert result.exit_code == 0, result.output
    lines = out_csv.read_text().splitlines()
    assert lines[0] == "filename,class,probability" and len(lines) == 25

    result = runner.invoke(app, ["evaluate", str(run), str(synth_dir), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / f"metrics-{synth_dir.name}.json").read_text())
    from crackscope.data.items import dataset_items

    assert metrics["n"] == len(dataset_items(synth_dir)) and "roc_auc" in metrics

    result = runner.invoke(app, ["compare", str(run), str(run)])
    assert result.exit_code == 0, result.output
    assert "tiny" in result.output


def test_clear_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["predict", str(tmp_path / "nope"), "x.png"])
    assert result.exit_code == 2
    assert "config.json" in result.output
    result = runner.invoke(app, ["train", str(tmp_path / "missing"), "--out", str(tmp_path / "r"), "--model", "tiny"])
    assert result.exit_code == 2
    assert "missing" in result.output
    result = runner.invoke(app, ["train", str(tmp_path), "-o", str(tmp_path / "r"), "--weight-average", "0.5"])
    assert result.exit_code == 2
    assert "weight_average must be 0 (off) or a relative width in (0, 0.2887]" in result.output
