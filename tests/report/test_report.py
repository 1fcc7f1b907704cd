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
    map_images(tiny_run, images, out, recipe=MapRecipe(method="gradcam"), mm_per_px=0.5)
    return out


def test_report_of_a_run(tiny_run: Path, tmp_path: Path) -> None:
    from crackscope.report import build_report

    path = build_report(tiny_run, out=tmp_path / "r" / "report.html")
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
    # the probability is labelled as what it is, beside the predicted class, never as "uncracked 41.8%"
    assert "crack probability" in text
    assert not re.search(r"(?:cracked|uncracked)\s*\d+(?:\.\d+)?%", text)
    assert "class-activation map (gradcam++)" in text  # the gallery's CAM column names its method
    # no maps: the cracks' headline is the gallery's, at the top, and each image has its own line
    summary = text[text.index('<section id="summary">') : text.index('<section id="data">')]
    assert '<div class="headline cracks">' in summary and "gallery images, in pixels" in summary
    assert text.count('class="case-headline"') == text.count('<div class="case"><div class="label">')
    assert '<dialog id="lightbox"' in text  # images open full size
    _no_external_refs(text)


def test_report_with_maps_scores_them(tiny_run: Path, synth_dir: Path, maps_dir: Path, tmp_path: Path) -> None:
    from crackscope.report import build_report

    path = build_report(tiny_run, data=synth_dir, maps_dir=maps_dir, out=tmp_path / "report.html")
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

    out = tmp_path / "cli"  # --out is a folder: the report is OUT/report.html
    result = CliRunner().invoke(app, ["report", str(tiny_run), "--out", str(out), "--method", "gradcam"])
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file() and "report:" in result.output


def test_report_layout_decides_the_ground_truth(
    tiny_run: Path, synth_dir: Path, maps_dir: Path, tmp_path: Path
) -> None:
    from crackscope.errors import BadInputError
    from crackscope.report import build_report

    given = build_report(tiny_run, data=synth_dir, maps_dir=maps_dir, out=tmp_path / "a.html", layout="image-mask")
    text = given.read_text()
    assert "(layout image-mask)" in text and '<section id="scores">' in text
    # read as class folders or file-name labels the data has no masks: nothing to score the maps against
    plain = build_report(tiny_run, data=synth_dir, maps_dir=maps_dir, out=tmp_path / "b.html", layout="filename-labels")
    assert '<section id="scores">' not in plain.read_text()
    no_masks = tmp_path / "no-masks"
    (no_masks / "images").mkdir(parents=True)
    with pytest.raises(BadInputError, match="image-mask layout needs a masks folder"):
        build_report(tiny_run, data=no_masks, maps_dir=maps_dir, out=tmp_path / "c.html", layout="image-mask")
    with pytest.raises(ValueError, match="unknown layout 'folders'"):
        build_report(tiny_run, data=synth_dir, out=tmp_path / "d.html", layout="folders")


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


class BarMapper:
    """Maps every photo to one 40 x 3 px bar, so the report's numbers are known."""

    def settings(self) -> dict[str, object]:
        return {"mapper": "bar"}

    def map_image(self, image, *, name=None, on_progress=None):  # type: ignore[no-untyped-def]
        from crackscope.maps.base import MapResult

        mask = np.zeros(image.shape[:2], bool)
        mask[20:23, 10:50] = True
        return MapResult(mask.astype(np.float32), mask, cracked=True, crack_probability=0.418)


def test_report_headline_per_batch_and_per_photo(tiny_run: Path, synth_dir: Path, tmp_path: Path) -> None:
    from crackscope.maps.measure import measure_cracks
    from crackscope.maps.pipeline import map_images
    from crackscope.report import build_report

    images = sorted((synth_dir / "images").glob("*.png"))[:3]
    maps = tmp_path / "maps"
    map_images(tiny_run, images, maps, mapper=BarMapper(), mm_per_px=0.5)
    calls: list[tuple[str, int, int | None]] = []
    path = build_report(tiny_run, maps_dir=maps, out=tmp_path / "report.html", on_progress=lambda *a: calls.append(a))
    text = path.read_text()
    summary = text[text.index('<section id="summary">') : text.index('<section id="data">')]
    bar = np.zeros((64, 64), bool)
    bar[20:23, 10:50] = True
    (one,) = measure_cracks(bar, mm_per_px=0.5)
    assert one.length_mm == pytest.approx(20, abs=0.5) and one.max_width_mm == 1.5
    # batch: 3 photos, 3 bars, at the top of the summary
    assert summary.index('<div class="headline cracks">') < summary.index("<h3>Classifier</h3>")
    expected = (
        ("3", "photos"),
        ("3", "cracks"),
        (f"{3 * (one.length_mm or 0):.1f} mm", "total length"),
        ("1.50 mm", "max width"),
        (f"{one.mean_width_mm:.2f} mm", "mean width"),
    )
    for value, label in expected:
        assert f"<b>{value}</b><span>{label}</span>" in summary, (value, label)
    # per photo: the crack probability and the same numbers, millimetres first
    measurements = text[text.index('<section id="measurements">') :]
    photos = measurements[measurements.index('<table class="photos">') :]
    photos = photos[: photos.index("</table>")]
    assert photos.index("total length mm") < photos.index("total length px")
    assert "<th>crack probability</th>" in photos and "<td>41.8%</td>" in photos
    assert photos.count(f"<td>{one.length_mm:.2f}</td>") == 3  # each photo's total length in mm
    cracks = measurements[measurements.index('<table class="cracks">') :]
    head = cracks[: cracks.index("</thead>")]
    assert head.index("length mm") < head.index("length px") < head.index("bbox (y0, x0, y1, x1) px")
    assert cracks.count("<td>20, 10, 23, 50</td>") == 3  # the bar's box, in the stated order
    # progress: the report's steps and the gallery's images, each task from 0 to its total
    assert calls[0] == ("report", 0, 6) and calls[-1] == ("report", 6, 6)
    gallery = [c for c in calls if c[0] == "gallery"]
    assert gallery and gallery[0][1] == 0 and gallery[-1][1] == gallery[-1][2]


def test_gallery_names_are_readable() -> None:
    import doctest

    from crackscope.report import html

    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(html._short_name, globs=vars(html)):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0 and runner.tries == 2
    assert html._short_name("a/b/photo.jpg") == "photo.jpg"
    assert html._short_name("a/photo.jpg#x") == "photo.jpg#x"  # not a box: left as it is


def test_report_shows_each_sources_scores(tiny_run: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from crackscope.report import build_report

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    metrics = json.loads((run / "metrics.json").read_text())
    scores = {"n": 10, "accuracy": 0.9, "precision": 0.8, "recall": 0.875, "f1": 0.83, "roc_auc": 0.95, "ece": 0.04}
    metrics["test"]["per_source"] = {
        "threshold": 0.5,
        "overall": scores,
        "sources": {"decks": scores, "walls": {**scores, "accuracy": 0.6125}},
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    html = build_report(run, out=tmp_path / "report.html").read_text()
    assert "Per source (test)" in html and "decks" in html and "walls" in html and "0.613" in html
    assert "<th>ece</th>" in html
    plain = build_report(tiny_run, out=tmp_path / "plain.html").read_text()
    assert "Per source" not in plain
