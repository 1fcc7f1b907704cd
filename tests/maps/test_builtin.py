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


def test_map_exposure_stretches_a_dark_photo_only_when_asked(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from crackscope.cli import app
    from crackscope.maps.exposure import exposure_of
    from crackscope.maps.recipe import read_run_recipe

    recipe = read_run_recipe(builtin_run_dir())
    assert recipe is not None and recipe.exposure is not None and recipe.exposure.measured
    assert not recipe.exposure.apply  # measured on the fitted photos, off by default
    rng = np.random.default_rng(1)
    dark = rng.integers(20, 32, (200, 260, 3)).astype(np.uint8)
    dark[100:103, 20:240] = 8  # a faint crack in a photo under a deck
    assert exposure_of(dark).median < recipe.exposure.median[0]
    photo = write_image_atomic(tmp_path / "dark.png", dark)
    runner = CliRunner()
    for flag, out in (("--exposure", "on"), ("--no-exposure", "off")):
        res = runner.invoke(app, ["map", "builtin", str(photo), "-o", str(tmp_path / out), flag])
        assert res.exit_code == 0, res.output
    on = json.loads((tmp_path / "on" / "summary.json").read_text())["manifest"]["settings"]["exposure"]
    assert on["apply"] is True and on["median"] == list(recipe.exposure.median)
    assert "exposure" not in json.loads((tmp_path / "off" / "summary.json").read_text())["manifest"]["settings"]


def test_map_join_faint_sets_the_masks_hysteresis_and_checks_its_range(photo: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from crackscope.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["map", "builtin", str(photo), "-o", str(tmp_path / "joined"), "--join-faint", "0.25"])
    assert res.exit_code == 0, res.output
    settings = json.loads((tmp_path / "joined" / "summary.json").read_text())["manifest"]["settings"]
    assert settings["refine_options"]["hysteresis"] == 0.25
    assert settings["refine_options"]["half_max"] == 0.6  # the run's own mask settings otherwise
    for bad in ("0", "1.5"):
        res = runner.invoke(app, ["map", "builtin", str(photo), "-o", str(tmp_path / "bad"), "--join-faint", bad])
        assert res.exit_code == 2 and "join_faint must be a fraction" in res.output, res.output


def test_map_exposure_needs_a_measured_range(photo: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from crackscope.cli import app

    args = ["map", "builtin", str(photo), "-o", str(tmp_path / "o"), "--preset", "refined", "--exposure"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code != 0 and "no measured exposure range" in res.output


def test_the_web_api_maps_a_dark_photo_within_the_exposure_range_when_asked() -> None:
    import io

    from fastapi.testclient import TestClient
    from PIL import Image

    from crackscope.serve.app import create_app

    rng = np.random.default_rng(2)
    dark = rng.integers(20, 32, (160, 200, 3)).astype(np.uint8)
    dark[80:83, 20:180] = 8
    buffer = io.BytesIO()
    Image.fromarray(dark).save(buffer, format="PNG")
    with TestClient(create_app()) as client:
        assert client.get("/api/info").json()["exposure_available"] is True
        answers = {}
        for flag in ("true", "false"):
            files = {"file": ("dark.png", buffer.getvalue(), "image/png")}
            r = client.post("/api/map", files=files, data={"exposure": flag})
            assert r.status_code == 200, r.text
            answers[flag] = r.json()
    assert answers["true"]["exposure"] is True and answers["false"]["exposure"] is False
    assert answers["true"]["mask"] != answers["false"]["mask"]  # mapped differently, not served from one cache entry


def test_serve_uses_the_bundled_run_when_none_is_given() -> None:
    from fastapi.testclient import TestClient

    from crackscope.serve.app import create_app

    with TestClient(create_app()) as client:
        info = client.get("/api/info").json()
    assert info["kind"] == "classifier" and info["preset"] == "selftrained" and info["model"] == "crackfast"
