"""A run's data from several sources: items labelled by source, split within each, recorded; evaluation."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from crackscope.data.sources import DataSource, read_sources
from crackscope.errors import BadInputError
from crackscope.training import TrainOptions
from crackscope.training.splitting import load_items_and_split, recorded_sources
from tests.data.helpers import make_folders, write_image

SETTINGS = TrainOptions(model="tiny", image_size=32, batch_size=8, patch_size=32, stride=32).resolve()


def _walls(root: Path) -> Path:
    """20 class-folder images: 10 cracked, 10 uncracked."""
    return make_folders(root, {"cracked": 10, "uncracked": 10})


def test_sources_are_labelled_split_within_each_and_recorded(tmp_path: Path, synth_dir: Path) -> None:
    sources = read_sources([_walls(tmp_path / "walls"), synth_dir])
    out = tmp_path / "run"
    splits, info = load_items_and_split(sources, out, SETTINGS, resume=False)
    assert set(splits) == {"train", "val", "test"}
    everything = [item for members in splits.values() for item in members]
    assert {item.source for item in everything} == {"walls", "set"}
    # each source keeps its fractions: the 20 walls images split 14/3/3 (7/1-2/1-2 per class)
    walls_train = [i for i in splits["train"] if i.source == "walls"]
    assert sorted(i.label for i in walls_train) == [0] * 7 + [1] * 7
    assert info["root"] is None and info["items"] == len(everything)
    recorded = info["sources"]
    assert [(s["name"], s["layout"], s["weight"]) for s in recorded] == [
        ("walls", "class-folders", 1.0),
        ("set", "image-mask", 1.0),
    ]
    assert recorded[0]["counts"] == {"cracked": 10, "uncracked": 10} and recorded[0]["patch_settings"] == {}
    assert recorded[1]["patch_settings"]["patch_size"] == 32 and info["patch_settings"] == recorded[1]["patch_settings"]
    assert recorded_sources(info) == (
        replace(sources[0], path=sources[0].path.resolve(), layout="class-folders"),
        replace(sources[1], path=sources[1].path.resolve(), layout="image-mask"),
    )  # absolute folders and the detected layouts: a resume reads the sources the same way
    assert recorded_sources({"root": "x"}) is None
    with pytest.raises(ValueError, match="data sources must be a non-empty list"):
        recorded_sources({"sources": []})
    with open(out / "split.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {row["source"] for row in rows} == {"walls", "set"} and len(rows) == len(everything)
    # resuming reads the same split back, sources and all
    again, _ = load_items_and_split(sources, out, SETTINGS, resume=True)
    assert {n: [(i.key, i.source) for i in m] for n, m in again.items()} == {
        n: [(i.key, i.source) for i in m] for n, m in splits.items()
    }


def test_one_folder_keeps_the_single_source_record(tmp_path: Path) -> None:
    walls = _walls(tmp_path / "walls")
    splits, info = load_items_and_split(walls, tmp_path / "run", SETTINGS, resume=False)
    assert "sources" not in info and info["root"] == str(walls)
    assert {i.source for m in splits.values() for i in m} == {""}
    assert (tmp_path / "run" / "split.csv").read_text().splitlines()[0] == "key,group,label,split"


def test_one_class_over_all_sources_is_refused(tmp_path: Path) -> None:
    a = make_folders(tmp_path / "a", {"cracked": 3})
    b = make_folders(tmp_path / "b", {"cracked": 2})
    with pytest.raises(BadInputError, match=r"one class only in the sources a, b: all 5 sample\(s\) are cracked"):
        load_items_and_split(read_sources([a, b]), tmp_path / "run", SETTINGS, resume=False)


def test_evaluate_reports_each_source(tiny_run: Path, synth_dir: Path, tmp_path: Path) -> None:
    from crackscope.training.classifier_scores import evaluate, run_patch_options
    from crackscope.training.run import load_run

    walls = tmp_path / "walls"
    rng = np.random.default_rng(0)
    for cls in ("cracked", "uncracked"):
        for i in range(3):
            write_image(walls / cls / f"{cls}{i}.png", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    sources = read_sources([synth_dir, walls])
    report = evaluate(tiny_run, sources)
    assert list(report["sources"]) == ["set", "walls"]
    assert report["sources"]["walls"]["n"] == 6 and report["sources"]["walls"]["cracked"] == 3
    set_n = report["sources"]["set"]["n"]
    assert report["n"] == set_n + 6 and 0.0 <= report["ece"] <= 1.0
    assert [s["name"] for s in report["data"]] == ["set", "walls"]
    single = evaluate(tiny_run, synth_dir)
    assert (
        "sources" not in single
        and single["n"] == set_n
        and single["ece"] == pytest.approx(report["sources"]["set"]["ece"])
    )
    run = load_run(tiny_run)
    assert run_patch_options(run, sources[0]) == run_patch_options(run)  # a one-folder run: its own settings


def test_run_patch_options_of_a_trained_source(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from crackscope.training.classifier_scores import run_patch_options

    config = {
        "data": {
            "patch_settings": {"patch_size": 96, "stride": 96},
            "sources": [
                {"path": str(tmp_path / "walls"), "name": "walls", "patch_settings": {}},
                {"path": str(tmp_path / "crack500"), "name": "c5", "patch_settings": {"patch_size": 90, "stride": 45}},
            ],
        }
    }
    run = SimpleNamespace(config=config)
    assert run_patch_options(run) == {"patch_size": 96, "stride": 96}  # type: ignore[arg-type]
    crack500 = DataSource(tmp_path / "crack500", "any name")
    assert run_patch_options(run, crack500) == {"patch_size": 90, "stride": 45}  # type: ignore[arg-type]
    other = DataSource(tmp_path / "elsewhere", "c5")  # matched by folder, not by name
    assert run_patch_options(run, other) == {"patch_size": 96, "stride": 96}  # type: ignore[arg-type]
