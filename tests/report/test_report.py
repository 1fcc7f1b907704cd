"""The HTML report of a run: sections, embedded images, no internet references; with maps, the scores."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from crackscope.report.gallery import pick_cases

SECTIONS = ("summary", "data", "training", "metrics", "threshold", "gallery", "measurements")


def _embedded_images(text: str) -> list[str]:
    return re.findall(r'<img src="(data:image/(?:png|jpeg);base64,[A-Za-z0-9+/=]+)"', text)


def _no_external_refs(text: str) -> None:
    assert "http://" not in text and "https://" not in text
    assert not re.search(r'<(script|link)\b[^>]*\b(src|href)="(?!#|data:)', text)
    srcs = re.findall(r'src="([^"]*)"', text)
    assert all(s.startswith("data:") for s in srcs)


@pytest.fixture(scope="module")
def maps_dir(tiny_run: Path, synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crackscope.maps.pipeline import map_images
    from crackscope.maps.recipe import MapRecipe

    out = tmp_path_factory.mktemp("maps") / "maps"
    images = sorted((synth_dir / "images").glob("*.png"))[:4]
    map_images(tiny_run, images, out, recipe=MapRecipe(method="gradcam"))
    return out


def test_report_of_a_run(tiny_run: Path, tmp_path: Path) -> None:
    from crackscope.report import build_report

    path = build_report(tiny_run, out=tmp_path / "r" / "report.html", per_group=2)
    assert path == tmp_path / "r" / "report.html" and path.is_file()
    text = path.read_text()
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in text, anchor
    assert "Crack-map scores" not in text  # no maps given
    assert 'alt="training curves"' in text
    assert "Confusion matrix (test)" in text and "Most confident cracks" in text and "Errors" in text
    images = _embedded_images(text)
    # curves + sample grid + 4 panels per gallery case
    assert len(images) >= 1 + 4 + 4
    assert text.count('<div class="case">') >= 2
    _no_external_refs(text)


def test_report_with_maps_scores_them(tiny_run: Path, synth_dir: Path, maps_dir: Path, tmp_path: Path) -> None:
    from crackscope.report import build_report

    path = build_report(tiny_run, data=synth_dir, maps_dir=maps_dir, out=tmp_path / "report.html", per_group=1)
    text = path.read_text()
    assert '<section id="scores">' in text
    assert "4 images matched by name" in text
    assert "2 px tolerance" in text and "ODS exact" in text
    assert 'alt="precision-recall curve"' in text
    assert "From <code>" in text and "cracks.csv" in text  # measurements come from the maps folder
    _no_external_refs(text)


def test_report_cli(tiny_run: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from crackscope.cli import app

    out = tmp_path / "cli.html"
    result = CliRunner().invoke(app, ["report", str(tiny_run), "--out", str(out), "--method", "gradcam"])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "report:" in result.output


def test_report_bad_inputs(tiny_run: Path, tmp_path: Path) -> None:
    from crackscope.errors import BadInputError
    from crackscope.report import build_report

    with pytest.raises(BadInputError, match="run folder"):
        build_report(tmp_path)
    with pytest.raises(BadInputError, match="maps folder"):
        build_report(tiny_run, maps_dir=tmp_path / "nope", out=tmp_path / "x.html")
    with pytest.raises(BadInputError, match="data folder"):
        build_report(tiny_run, data=tmp_path / "nope", out=tmp_path / "x.html")


def test_pick_cases() -> None:
    labels = np.array([1, 1, 0, 0, 1, 0])
    probs = np.array([0.99, 0.60, 0.45, 0.97, 0.10, 0.02])
    got = pick_cases(labels, probs, threshold=0.5, per_group=2)
    assert got["errors"] == [3, 4]  # 0.97 for no crack is 0.47 off the threshold, 0.10 for a crack 0.40
    assert got["most_confident"] == [0, 1]  # then the highest probabilities
    assert got["least_confident"] == [2, 5]  # then the rest, nearest the threshold first
    flat = [i for v in got.values() for i in v]
    assert len(flat) == len(set(flat))
    with pytest.raises(ValueError):
        pick_cases(labels, probs[:3], threshold=0.5)
