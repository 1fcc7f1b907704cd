"""The data commands through typer's CliRunner on the real app."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from crackscope.cli import app
from tests.data.helpers import make_folders

runner = CliRunner()


def test_synth_inspect_split(tmp_path: Path) -> None:
    data = tmp_path / "synth"
    result = runner.invoke(app, ["synth", "-o", str(data), "--n", "8", "--size", "48", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert len(list((data / "images").iterdir())) == 8 and (data / "labels.csv").is_file()

    out = tmp_path / "inspect"
    result = runner.invoke(app, ["inspect", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 8 and summary["layout"] == "image-mask"
    assert "cracked" in result.output and "uncracked" in result.output and "48x48 (8)" in result.output

    result = runner.invoke(
        app, ["split", str(data), "--out", str(tmp_path / "split"), "--seed", "1", "--val", "0.25", "--test", "0.25"]
    )
    csv_path = tmp_path / "split" / "split.csv"  # --out is a folder, as on every command
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(csv_path.open()))
    assert rows and set(rows[0]) == {"key", "group", "label", "split"}
    assert {r["split"] for r in rows} <= {"train", "val", "test"}
    again = tmp_path / "again"
    runner.invoke(app, ["split", str(data), "-o", str(again), "--seed", "1", "--val", "0.25", "--test", "0.25"])
    assert (again / "split.csv").read_text() == csv_path.read_text()


def test_split_class_folders_with_layout_option(tmp_path: Path) -> None:
    data = make_folders(tmp_path / "set", {"cracked": 10, "uncracked": 10})
    result = runner.invoke(app, ["split", str(data), "--out", str(tmp_path / "s"), "--layout", "class-folders"])
    assert result.exit_code == 0, result.output
    csv_path = tmp_path / "s" / "split.csv"
    rows = list(csv.DictReader(csv_path.open()))
    assert sorted(r["split"] for r in rows).count("train") == 14


def test_bad_input_gives_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["inspect", str(empty), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "folder is empty" in result.output and "expected one of" in result.output
    result = runner.invoke(app, ["split", str(empty), "--out", str(tmp_path / "s"), "--layout", "zip"])
    assert result.exit_code == 2 and "unknown layout 'zip'" in result.output
    data = make_folders(tmp_path / "set", {"cracked": 2, "uncracked": 2})
    result = runner.invoke(app, ["split", str(data), "--out", str(tmp_path / "s"), "--val", "0.5", "--test", "0.5"])
    assert result.exit_code == 2 and "nothing to train on" in result.output
