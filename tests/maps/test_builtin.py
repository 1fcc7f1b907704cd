"""The bundled run: shipped inside the package, mapped with `builtin`, served by default, a few MB at most."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crackscope.io import write_image_atomic
from crackscope.runs import builtin_run_dir, resolve_run_dir


def test_the_bundled_run_is_in_the_package_and_small():
    folder = builtin_run_dir()
    assert folder.parent.name == "crackscope" and (folder / "config.json").is_file()
    for name in (
        "model.safetensors",
        "map_recipe.json",
        "pixel-models/a2/pixel_model.safetensors",
        "pixel-models/b2/pixel_model.safetensors",
    ):
        assert (folder / name).is_file(), name
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert size < 5 * 1024**2
    assert json.loads((folder / "map_recipe.json").read_text())["name"] == "selftrained"


def test_builtin_names_the_bundled_run_unless_a_run_of_that_name_is_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_run_dir("builtin") == builtin_run_dir()
    (tmp_path / "builtin").mkdir()
    (tmp_path / "builtin" / "config.json").write_text("{}")
    assert resolve_run_dir("builtin") == Path("builtin")


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    image = rng.integers(140, 170, (300, 420, 3)).astype(np.uint8)
    rr = np.arange(40, 260)
    image[rr, (rr * 1.3).astype(int), :] = 60  # a dark diagonal line
    return write_image_atomic(tmp_path / "photos" / "wall.jpg", image)


def test_map_builtin_from_any_folder(photo: Path, tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from crackscope.cli import app

    monkeypatch.chdir(tmp_path)  # a user's folder: no repository, no benchmarks/
    res = CliRunner().invoke(app, ["map", "builtin", str(photo), "--out", "maps"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "maps" / "summary.json").read_text())
    assert summary["counts"]["mapped"] == 1 and summary["manifest"]["settings"]["preset"] == "selftrained"
    assert (tmp_path / "maps" / "masks" / "wall.png").is_file()


def test_serve_uses_the_bundled_run_when_none_is_given() -> None:
    from fastapi.testclient import TestClient

    from crackscope.serve.app import create_app

    with TestClient(create_app()) as client:
        info = client.get("/api/info").json()
    assert info["kind"] == "classifier" and info["preset"] == "selftrained" and info["model"] == "crackfast"
