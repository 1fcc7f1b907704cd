"""Bad input never crashes a command or costs finished work (issue 15), over the corpus of ``tests/corpus.py``.

Every command meets the corpus (about 80 bad, odd and good files, a FIFO, link loops, a folder named
``x.jpg``...): no traceback, every bad file named with a reason (in the output or in the summary it writes),
every good file finished, and the exit status of README's "Exit status": 0 when at least one input succeeded,
3 when inputs were given and none succeeded, 2 for usage errors.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
import traceback
from collections.abc import Iterable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from crackscope.cli import app
from tests.corpus import Entry, write_corpus, write_mask_corpus

pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Entry]]:
    folder = tmp_path_factory.mktemp("corpus") / "flat"
    return folder, write_corpus(folder)


@pytest.fixture(scope="module")
def mask_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Entry]]:
    folder = tmp_path_factory.mktemp("corpus") / "masks"
    return folder, write_mask_corpus(folder)


@pytest.fixture(scope="module")
def all_bad(corpus: tuple[Path, list[Entry]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of bad files only (copies of some of the corpus's)."""
    folder, entries = corpus
    out = tmp_path_factory.mktemp("corpus") / "all-bad"
    out.mkdir()
    for e in entries:
        if e.ok is False and e.listed and (folder / e.name).is_file() and not (folder / e.name).is_symlink():
            shutil.copy(folder / e.name, out / e.name)
    return out


def bad_names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def invoke(*args: object) -> Result:
    """Run the command line; it must end by itself (an exit status), never with a traceback."""
    result = runner.invoke(app, [str(a) for a in args])
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        trace = "".join(traceback.format_exception(exc))
        pytest.fail(f"crackscope {' '.join(str(a) for a in args[:2])} crashed:\n{trace}\n{result.output}")
    return result


def skipped_in_output(output: str) -> set[str]:
    """File names of the ``skipped PATH: PROBLEM`` lines the commands print."""
    return {
        Path(line[len("skipped ") :].split(": ", 1)[0]).name
        for line in output.splitlines()
        if line.startswith("skipped ")
    }


def names_of(paths: Iterable[str]) -> set[str]:
    return {Path(p.split("#", 1)[0]).name for p in paths}


def skipped_file(path: Path) -> set[str]:
    """File names in a ``path<TAB>problem`` skipped list (every line must give a reason)."""
    if not path.is_file():
        return set()
    lines = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line]
    assert all(len(parts) == 2 and parts[1].strip() for parts in lines), lines
    return names_of(parts[0] for parts in lines)


def check(entries: Iterable[Entry], *, done: set[str], reported: set[str], what: str) -> None:
    """Good entries finished and not reported; bad ones reported and not finished; odd ones one of the two."""
    wrong = []
    for e in entries:
        finished, named = e.name in done, e.name in reported
        if (e.ok is True and not (finished and not named)) or (e.ok is False and not (named and not finished)):
            wrong.append(f"{e.name} ({e.kind}, ok={e.ok}): finished={finished} reported={named}")
        elif e.ok is None and not (finished or named):
            wrong.append(f"{e.name} ({e.kind}): neither finished nor reported")
    assert not wrong, f"{what}:\n" + "\n".join(wrong)


def listed(entries: list[Entry]) -> list[Entry]:
    """The entries a folder listing takes (image extension)."""
    return [e for e in entries if e.listed]


# -- predict, map, explain, selftrain: files, folders, names given one by one -------------------------------------


def test_predict_over_the_corpus(tiny_run: Path, corpus: tuple[Path, list[Entry]], all_bad: Path, tmp_path: Path):
    folder, entries = corpus
    table = tmp_path / "named.csv"
    res = invoke("predict", tiny_run, *(folder / e.name for e in entries), "--csv", table)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    check(entries, done={r["filename"] for r in rows}, reported=skipped_in_output(res.output), what="predict NAMES")

    table = tmp_path / "folder.csv"
    res = invoke("predict", tiny_run, folder, "--csv", table)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    check(
        listed(entries), done={r["filename"] for r in rows}, reported=skipped_in_output(res.output), what="predict DIR"
    )

    table = tmp_path / "none.csv"
    res = invoke("predict", tiny_run, all_bad, folder / "folder.jpg", tmp_path / "missing.png", "--csv", table)
    assert res.exit_code == 3, res.output
    assert table.read_text().splitlines() == ["filename,class"]  # written, with no row
    assert skipped_in_output(res.output) == bad_names(all_bad) | {"folder.jpg", "missing.png"}


def test_map_over_the_corpus_resumes_after_a_kill(
    tiny_run: Path, corpus: tuple[Path, list[Entry]], all_bad: Path, tmp_path: Path
):
    from crackscope.io import TEMP_PREFIX

    folder, entries = corpus
    out = tmp_path / "maps"
    options = ("--out", out, "--tile", "48", "--no-refine")
    res = invoke("map", tiny_run, folder, *options)
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    done = {e.name for e in entries if (out / "records" / f"{Path(e.name).stem}.json").is_file()}
    assert all(p.is_file() for e in entries if e.name in done for p in (out / "masks" / f"{Path(e.name).stem}.png",))
    errors = names_of(err["file"] for err in summary["errors"])
    assert all(err["problem"] for err in summary["errors"])
    check(listed(entries), done=done, reported=errors, what="map DIR")
    assert (out / "cracks.csv").is_file()

    # a run killed half-way: a temporary file left in a sub-folder, an image whose record was never written
    stale = out / "masks" / f"{TEMP_PREFIX}abcd1234.png"
    stale.write_bytes(b"half a png")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    (out / "records" / "good_crack_0.json").unlink()
    res = invoke("map", tiny_run, folder, *options)
    assert res.exit_code == 0, res.output
    assert not stale.exists()
    assert (out / "records" / "good_crack_0.json").is_file()
    counts = json.loads((out / "summary.json").read_text(encoding="utf-8"))["counts"]
    first = summary["counts"]
    assert counts["mapped"] == 1 and counts["skipped"] == first["mapped"] - 1  # only the unfinished image is redone
    assert counts["errors"] == first["errors"] and counts["done"] == first["done"]

    none = tmp_path / "none"
    res = invoke("map", tiny_run, all_bad, folder / "folder.jpg", *options[2:], "--out", none)
    assert res.exit_code == 3, res.output
    summary = json.loads((none / "summary.json").read_text(encoding="utf-8"))
    assert names_of(err["file"] for err in summary["errors"]) == bad_names(all_bad) | {"folder.jpg"}
    assert summary["counts"]["done"] == 0 and (none / "cracks.csv").is_file()


def test_explain_over_the_corpus(tiny_run: Path, corpus: tuple[Path, list[Entry]], all_bad: Path, tmp_path: Path):
    folder, entries = corpus
    out = tmp_path / "explained"
    res = invoke("explain", tiny_run, *(folder / e.name for e in entries), "--out", out, "--no-panels")
    assert res.exit_code == 0, res.output
    done = {e.name for e in entries if (out / f"{Path(e.name).stem}_overlay.png").is_file()}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    reported = names_of(s["path"] for s in manifest["settings"]["skipped"])
    assert reported == skipped_in_output(res.output)
    check(entries, done=done, reported=reported, what="explain NAMES")
    rows = list(csv.DictReader((out / "predictions.csv").open(encoding="utf-8")))
    assert len(rows) == len(list(out.glob("*_overlay.png")))  # one row per photo explained (same stems renamed)

    res = invoke("explain", tiny_run, all_bad, "--out", tmp_path / "none")
    assert res.exit_code == 3, res.output  # was 1
    assert skipped_in_output(res.output) == bad_names(all_bad)


def test_selftrain_over_the_corpus(tiny_run: Path, corpus: tuple[Path, list[Entry]], all_bad: Path, tmp_path: Path):
    folder, entries = corpus
    out = tmp_path / "pixel-model"
    res = invoke("selftrain", tiny_run, *(folder / e.name for e in entries), "--out", out, "--minutes", "0.01")
    assert res.exit_code == 0, res.output
    used = names_of(json.loads((out / "manifest.json").read_text(encoding="utf-8"))["inputs"])
    check(entries, done=used, reported=skipped_in_output(res.output), what="selftrain NAMES")

    res = invoke("selftrain", tiny_run, all_bad, folder / "fifo.png", "--out", tmp_path / "none")
    assert res.exit_code == 3, res.output
    assert all(name in res.output for name in bad_names(all_bad) | {"fifo.png"}), res.output
    assert not (tmp_path / "none" / "manifest.json").exists()


# -- data folders: inspect, train, evaluate, train-restorer, score -------------------------------------------------


def test_inspect_over_the_corpus(
    corpus: tuple[Path, list[Entry]], mask_corpus: tuple[Path, list[Entry]], all_bad: Path, tmp_path: Path
):
    for (folder, entries), name in ((corpus, "flat"), (mask_corpus, "masks")):
        out = tmp_path / name
        res = invoke("inspect", folder, "--out", out)
        assert res.exit_code == 0, res.output
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        reported = {str(Path(s["path"]).relative_to(folder)) for s in summary["skipped"]}
        bad = {e.name for e in listed(entries) if e.ok is False}
        assert bad <= reported, f"inspect {name}: not reported: {sorted(bad - reported)}"
        assert not reported & {e.name for e in entries if e.ok}, f"inspect {name}: good files reported"
        assert (out / "samples.png").is_file()

    res = invoke("inspect", all_bad, "--out", tmp_path / "none")
    assert res.exit_code == 3, res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert invoke("inspect", empty, "--out", tmp_path / "e").exit_code == 2  # no data set at all: usage


TRAIN = ("--model", "tiny", "--epochs", "1", "--image-size", "32", "--batch-size", "8", "--precision", "fp32", "-q")


def test_train_and_evaluate_over_the_corpus(corpus: tuple[Path, list[Entry]], all_bad: Path, tmp_path: Path):
    folder, entries = corpus
    run = tmp_path / "run"
    res = invoke("train", folder, "--out", run, *TRAIN)
    assert res.exit_code == 0, res.output
    reported = skipped_file(run / "skipped.txt")
    bad = {e.name for e in listed(entries) if e.ok is False}
    assert bad <= reported, f"train: not reported: {sorted(bad - reported)}"
    assert not reported & {e.name for e in entries if e.ok}, "train: good files reported"
    assert (run / "model.safetensors").is_file()

    res = invoke("evaluate", run, folder, "--out", tmp_path)
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "metrics-flat.json").read_text(encoding="utf-8"))
    reported = names_of(s["item"] for s in metrics["skipped"])
    assert bad <= reported, f"evaluate: not reported: {sorted(bad - reported)}"
    assert metrics["n"] == len([e for e in listed(entries) if e.ok is not False and e.name not in reported])

    two_classes = tmp_path / "all-bad-classes"  # both classes by name, none readable
    for name in ("cracked", "uncracked"):
        shutil.copytree(all_bad, two_classes / name)
    res = invoke("train", two_classes, "--out", tmp_path / "none", *TRAIN)
    assert res.exit_code == 3, res.output
    assert skipped_file(tmp_path / "none" / "skipped.txt") == bad_names(all_bad)
    assert len((tmp_path / "none" / "skipped.txt").read_text().splitlines()) == 2 * len(bad_names(all_bad))
    res = invoke("evaluate", run, all_bad, "--out", tmp_path)
    assert res.exit_code == 3, res.output
    assert all(name in res.output for name in bad_names(all_bad)), res.output


def test_training_refuses_a_single_class(corpus: tuple[Path, list[Entry]], tmp_path: Path):
    folder, entries = corpus
    data = tmp_path / "one-class"
    data.mkdir()
    for e in entries:
        if e.name.startswith("noncrack_good"):
            shutil.copy(folder / e.name, data / e.name)
    res = invoke("train", data, "--out", tmp_path / "run", *TRAIN)
    assert res.exit_code == 3, res.output
    message = " ".join(res.output.split())
    assert "one class only" in message and "uncracked" in message and str(data) in message.replace(" ", "")
    assert not (tmp_path / "run" / "model.safetensors").exists()

    from crackscope.errors import BadInputError
    from crackscope.training import TrainOptions, train

    with pytest.raises(BadInputError, match=r"one class only: all \d+ sample\(s\) are uncracked") as info:
        train(data, out=tmp_path / "run2", options=TrainOptions(model="tiny", epochs=1, image_size=32))
    assert info.value.path == data


def test_train_restorer_skips_bad_files(corpus: tuple[Path, list[Entry]], all_bad: Path, tmp_path: Path):
    folder, entries = corpus
    run = tmp_path / "restorer"
    options = ("--epochs", "1", "--image-size", "32", "--ngf", "8", "--batch-size", "4", "--steps-per-epoch", "2")
    res = invoke("train-restorer", folder, "--out", run, *options, "--style", "off")
    assert res.exit_code == 0, res.output
    reported = skipped_file(run / "skipped.txt")
    bad = {e.name for e in listed(entries) if e.ok is False}
    assert bad <= reported, f"train-restorer: not reported: {sorted(bad - reported)}"
    assert not reported & {e.name for e in entries if e.ok}, "train-restorer: good files reported"
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert names_of(s["path"] for s in manifest["settings"]["skipped"]) == reported
    assert (run / "model.safetensors").is_file()

    res = invoke("train-restorer", all_bad, "--out", tmp_path / "none", *options, "--style", "off")
    assert res.exit_code == 3, res.output
    assert "could be read" in res.output


def test_score_over_bad_masks(mask_corpus: tuple[Path, list[Entry]], tmp_path: Path):
    import numpy as np
    from PIL import Image

    folder, _ = mask_corpus
    gt = folder / "masks"
    pred = tmp_path / "pred"
    pred.mkdir()
    for mask in gt.iterdir():
        Image.fromarray(np.zeros((64, 64), np.uint8)).save(pred / f"{mask.stem}.png")
    out = tmp_path / "scores"
    res = invoke("score", pred, gt, "--out", out)
    assert res.exit_code == 0, res.output
    scores = json.loads((out / "scores.json").read_text(encoding="utf-8"))
    bad = {"mask_empty", "mask_wrong_size", "mask_truncated", "mask_text"}
    assert {Path(s["file"]).stem for s in scores["skipped"]} == bad
    assert {row["name"] for row in scores["per_image"]} == {m.stem for m in gt.iterdir()} - bad

    only_bad = tmp_path / "only-bad"
    only_bad.mkdir()
    for mask in gt.iterdir():
        if mask.stem in bad:
            shutil.copy(mask, only_bad / mask.name)
    res = invoke("score", pred, only_bad, "--out", tmp_path / "none")
    assert res.exit_code == 3, res.output
    assert (tmp_path / "none" / "scores.json").is_file()
    assert invoke("score", pred, tmp_path / "nowhere").exit_code == 2


# -- the web API ---------------------------------------------------------------------------------------------------


def test_api_answers_every_corpus_file(tiny_run: Path, corpus: tuple[Path, list[Entry]]):
    from fastapi.testclient import TestClient

    from crackscope.serve.app import create_app

    folder, entries = corpus
    files = [e for e in entries if (folder / e.name).is_file() and os.access(folder / e.name, os.R_OK)]
    wrong = []
    with TestClient(create_app(tiny_run)) as client:
        for e in files:
            data = (folder / e.name).read_bytes()
            for route in ("/api/predict", "/api/map"):
                r = client.post(route, files={"file": (e.name, data, "application/octet-stream")})
                fine = r.status_code == 200
                if r.status_code >= 500 or (e.ok is not None and fine != e.ok):
                    wrong.append(f"{route} {e.name} ({e.kind}): {r.status_code} {r.text[:120]}")
                elif not fine and e.name not in r.json()["detail"]:
                    wrong.append(f"{route} {e.name}: the error does not name the file: {r.json()['detail']}")
    assert not wrong, "\n".join(wrong)
