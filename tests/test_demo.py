"""The end-to-end demo in its quick form: every step runs and the report and headline figures come out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_quick(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from crackscope.cli import app

    out = tmp_path / "demo-out"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--quick"])
    assert result.exit_code == 0, result.output
    assert "report:" in result.output and "test accuracy" in result.output and "map F1" in result.output
    # the last lines say how to open the report and serve the run, with the real paths
    assert f"webbrowser {(out / 'report.html').resolve().as_uri()}" in result.output
    assert f"serve {out / 'run'}" in result.output
    # not a terminal: plain progress lines, one per step and not one per image
    assert "training epochs: 1/1 (100%) done in" in result.output and "mapping: 0/" in result.output

    summary = json.loads((out / "summary.json").read_text())
    assert summary["quick"] is True and summary["model"] == "crackfast"
    assert summary["test_images"] >= 1 and summary["mapped_images"] == summary["test_images"]
    assert summary["scored_images"] == summary["test_images"]
    for key in ("test_accuracy", "test_recall", "map_f1_exact", "map_f1_2px"):
        assert 0.0 <= summary[key] <= 1.0, key
    assert summary["map_f1_2px"] >= summary["map_f1_exact"]  # a tolerance can only help

    report = (out / "report.html").read_text()
    assert '<section id="scores">' in report and '<section id="gallery">' in report
    assert "http://" not in report and "https://" not in report
    assert (out / "explanations" / "predictions.csv").is_file()
    assert (out / "maps" / "cracks.csv").is_file()
    assert json.loads((out / "scores.json").read_text())["n_images"] == summary["test_images"]


def test_demo_rejects_bad_sizes(tmp_path: Path) -> None:
    from crackscope.demo import DemoOptions

    with pytest.raises(ValueError, match="n must be"):
        DemoOptions(n=4, quick=True)
    with pytest.raises(ValueError, match="size must be"):
        DemoOptions(size=8, quick=True)
    with pytest.raises(ValueError, match="unknown method"):
        DemoOptions(quick=True, method="nonsense")
    with pytest.raises(ValueError, match="unknown preset"):
        DemoOptions(preset="nonsense")
    assert DemoOptions(quick=True).sizes == {"n": 40, "size": 48, "epochs": 1, "batch_size": 16}
    assert DemoOptions(n=50).sizes["n"] == 50 and DemoOptions().sizes["size"] == 96


def test_next_steps_name_the_real_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the folder above ``demo-out`` (as ``make demo`` is), the commands are short and work as printed."""
    from crackscope.cli.app_commands import next_steps, program

    monkeypatch.chdir(tmp_path)
    lines = next_steps({"report": str(tmp_path / "demo-out" / "report.html"), "run": "demo-out/run"})
    assert lines[0] == "report: demo-out/report.html"
    assert "-m webbrowser " + (tmp_path / "demo-out" / "report.html").as_uri() in lines[1]
    assert "xdg-open demo-out/report.html" in lines[1]
    assert f"{program()} serve demo-out/run " in lines[2] and "http://127.0.0.1:8000" in lines[2]
    assert program().endswith("crackscope")  # on the PATH, or the script beside this Python
