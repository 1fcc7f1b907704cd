"""One run and one photo give the same mask through `crackscope map`, the Python API, `POST /api/map` and
the report: all of them build their mapper with `make_mapper` and the run's own recipe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crackscope.io import read_image, read_mask, write_image_atomic

pytestmark = pytest.mark.slow  # both tests map with `fitted_run` (a 20 s `fit` the first time)


@pytest.fixture(scope="module")
def photo(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 200x150 photo made of synthetic crack images: several tiles of the fitted run."""
    images = [read_image(p) for p in sorted((synth_dir / "images").glob("*.png"))[:12]]
    grid = np.concatenate([np.concatenate(images[r * 4 : r * 4 + 4], axis=1) for r in range(3)], axis=0)
    return write_image_atomic(tmp_path_factory.mktemp("same") / "wall.png", grid[:150, :200])


def test_cli_python_and_api_give_the_same_mask(fitted_run: Path, photo: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from crackscope.cli import app
    from crackscope.maps.factory import make_mapper
    from crackscope.serve.app import create_app

    res = CliRunner().invoke(app, ["map", str(fitted_run), str(photo), "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    assert "preset small-selftrained" in res.output
    cli_mask = read_mask(tmp_path / "cli" / "masks" / "wall.png")
    settings = json.loads((tmp_path / "cli" / "summary.json").read_text())["manifest"]["settings"]
    assert settings["preset"] == "small-selftrained" and settings["gate"] == "pixels"

    python_mask = make_mapper(fitted_run).map_image(read_image(photo)).mask
    assert np.array_equal(python_mask, cli_mask)
    assert cli_mask.sum() > 0  # the comparison is about real crack pixels, not two empty masks

    with TestClient(create_app(fitted_run)) as client:
        info = client.get("/api/info").json()
        r = client.post("/api/map", files={"file": ("wall.png", photo.read_bytes(), "image/png")})
    assert r.status_code == 200, r.text
    assert info["preset"] == "small-selftrained" and r.json()["preset"] == "small-selftrained"
    assert r.json()["crack_pixels"] == int(cli_mask.sum())


def test_serve_and_report_take_a_preset(fitted_run: Path, photo: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from crackscope.maps.factory import make_mapper
    from crackscope.report import build_report
    from crackscope.serve.app import create_app

    with TestClient(create_app(fitted_run, preset="cam")) as client:
        r = client.post("/api/map", files={"file": ("wall.png", photo.read_bytes(), "image/png")})
    assert r.json()["preset"] == "cam"
    assert r.json()["crack_pixels"] == int(make_mapper(fitted_run, "cam").map_image(read_image(photo)).mask.sum())
    text = build_report(fitted_run, out=tmp_path / "report.html", preset="cam").read_text()
    assert "masks: preset cam" in text
