"""Training, runs, metrics, thresholds, prediction CSV and the CLI, with the tiny model on synthetic data."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from crackscope.training import TrainOptions, train
from crackscope.training.loop import EpochOptions, l2_penalty_of, smoothed_bce, train_epoch
from crackscope.training.metrics import binary_metrics, roc_auc
from crackscope.training.run import load_run, load_weights, save_weights
from crackscope.training.threshold import threshold_for_recall

FAST = TrainOptions(model="tiny", image_size=32, batch_size=8)


def _train(data: Path, out: Path, **changes: object) -> Path:
    """``train`` with the FAST options changed by ``changes``."""
    return train(data, out=out, options=replace(FAST, **changes))


def _weights(run: Path, name: str = "model.safetensors") -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run / name))


# --- threshold and metrics on hand-made numbers -------------------------------------------------


def test_threshold_is_highest_reaching_target_recall() -> None:
    labels = np.array([1, 1, 1, 1, 0, 0])
    probs = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.1])
    assert threshold_for_recall(labels, probs, None) == 0.5
    assert threshold_for_recall(labels, probs, 0.5) == 0.8  # 2 of 4 cracked at >= 0.8
    assert threshold_for_recall(labels, probs, 0.75) == 0.6  # 3 of 4
    assert threshold_for_recall(labels, probs, 0.76) == 0.3  # needs all 4
    assert threshold_for_recall(labels, probs, 1.0) == 0.3
    assert binary_metrics(labels, probs, threshold=0.6)["recall"] == 0.75
    with pytest.raises(ValueError):
        threshold_for_recall(labels, probs, 1.5)
    with pytest.raises(ValueError):
        threshold_for_recall(np.zeros(3), np.ones(3), 0.9)


def test_metrics_on_a_hand_made_confusion() -> None:
    # tp: 0.9, 0.8, 0.7 | fn: 0.2 | fp: 0.6 | tn: 0.4, 0.1
    labels = np.array([1, 1, 1, 1, 0, 0, 0])
    probs = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.4, 0.1])
    m = binary_metrics(labels, probs, threshold=0.5)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (3, 1, 1, 2)
    assert m["confusion_matrix"] == [[2, 1], [1, 3]]
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert m["precision"] == pytest.approx(0.75)
    assert m["recall"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(0.75)
    # pairs (pos, neg) ranked correctly: 0.9,0.8,0.7 beat all 3 negatives (9); 0.2 beats 0.1 (1) -> 10/12
    assert m["roc_auc"] == pytest.approx(10 / 12)
    assert roc_auc(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert roc_auc(np.array([1, 1]), np.array([0.2, 0.3])) is None


# --- loss pieces ----------------------------------------------------------------------------------


def test_label_smoothing_follows_keras() -> None:
    logits = torch.tensor([2.0, -1.0, 0.5])
    labels = torch.tensor([1.0, 0.0, 1.0])
    s = 0.1
    targets = labels * (1 - s) + 0.5 * s  # Keras binary_crossentropy(label_smoothing=s)
    p = torch.sigmoid(logits)
    expected = -(targets * p.log() + (1 - targets) * (1 - p).log()).mean()
    assert float(smoothed_bce(logits, labels, label_smoothing=s)) == pytest.approx(float(expected), rel=1e-6)


def test_l2_penalty_is_added_exactly() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 1)
            self.l2_penalty = {"fc.weight": 0.5}

    net = Net()
    l2 = l2_penalty_of(net)
    assert l2 is not None
    assert float(l2().detach()) == pytest.approx(0.5 * float(net.fc.weight.detach().pow(2).sum()))
    assert l2_penalty_of(nn.Linear(2, 1)) is None


def test_a_few_training_steps_lower_the_loss(synth_dir: Path) -> None:
    from crackscope.data.items import dataset_items
    from crackscope.models import create_model
    from crackscope.training.torchdata import ItemDataset, make_loader

    torch.manual_seed(0)
    ds = ItemDataset(dataset_items(synth_dir), image_size=32)
    loader = make_loader(ds, batch_size=24, shuffle=False)
    model = create_model("tiny").to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = next(iter(loader))
    model.eval()
    with torch.no_grad():
        before = float(smoothed_bce(model(x), y))
    for _ in range(15):
        train_epoch(model, [(x, y)], optimizer, options=EpochOptions(precision="fp32"))
    model.eval()
    with torch.no_grad():
        after = float(smoothed_bce(model(x), y))
    assert after < before - 0.01


def test_dataset_caches_resized_channels_last_batches(synth_dir: Path) -> None:
    from crackscope.data.items import dataset_items
    from crackscope.training.torchdata import ItemDataset

    items = dataset_items(synth_dir)
    ds = ItemDataset(items, image_size=40)
    assert ds.cached and len(ds) == len(items)
    x, y = ds.__getitems__([0, 1, 2])
    assert x.shape == (3, 3, 40, 40) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert float(x.min()) >= 0 and float(x.max()) <= 255 and float(x.max()) > 1
    assert y.tolist() == [float(items[i].label) for i in range(3)]
    aug = ItemDataset(items, image_size=40, augment="rot90-flip", seed=3)
    aug.set_epoch(1)
    a1 = aug[0][0]
    aug.set_epoch(1)
    assert torch.equal(a1, aug[0][0])  # augmentation draws are reproducible


# --- run folder ----------------------------------------------------------------------------------


def test_tiny_run_folder(tiny_run: Path) -> None:
    for name in (
        "config.json",
        "model.safetensors",
        "last.safetensors",
        "state.pt",
        "history.csv",
        "curves.png",
        "metrics.json",
        "split.csv",
    ):
        assert (tiny_run / name).is_file(), name
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["kind"] == "classifier" and config["model"] == "tiny" and config["image_size"] == 32
    assert config["complete"] is True and config["epochs_run"] == 2 and config["seed"] == 0
    assert config["recipe"]["lr"] == 3e-3 and config["recipe"]["batch_size"] == 8
    assert "torch" in config["versions"] and config["threshold"] == 0.5
    with open(tiny_run / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    for part in ("val", "test"):
        expected = {"accuracy", "precision", "recall", "f1", "roc_auc", "confusion_matrix", "threshold"}
        assert expected <= set(metrics[part])
    with open(tiny_run / "split.csv") as fh:
        splits = {row["split"] for row in csv.DictReader(fh)}
    assert splits == {"train", "val", "test"}


def test_save_load_round_trip_gives_identical_outputs(tiny_run: Path, synth_dir: Path, tmp_path: Path) -> None:
    from crackscope.io import read_image
    from crackscope.models import create_model

    run = load_run(tiny_run)
    assert not run.model.training and run.name == "tiny" and run.image_size == 32 and run.threshold == 0.5
    images = [read_image(p) for p in sorted((synth_dir / "images").glob("*.png"))[:5]]
    first = run.predict_proba(images)
    assert first.shape == (5,) and np.all((first > 0) & (first < 1))
    np.testing.assert_array_equal(first, load_run(tiny_run).predict_proba(images))
    # a model saved and loaded again computes exactly the same logits
    saved = save_weights(run.model, tmp_path / "copy.safetensors")
    other = load_weights(create_model("tiny"), saved).eval()
    batch = torch.stack([run.preprocess(im) for im in images])
    assert batch.shape == (5, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(run.model(batch), other(batch))


def test_same_seed_gives_identical_weights(synth_dir: Path, tmp_path: Path) -> None:
    a = _train(synth_dir, tmp_path / "a", epochs=1, seed=3)
    b = _train(synth_dir, tmp_path / "b", epochs=1, seed=3)
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (a / "split.csv").read_text() == (b / "split.csv").read_text()


def test_resume_continues_an_interrupted_run(synth_dir: Path, tmp_path: Path) -> None:
    run = _train(synth_dir, tmp_path / "r", epochs=1, seed=1, patience=0)
    assert len((run / "history.csv").read_text().strip().splitlines()) == 2
    train(synth_dir, out=run, options=TrainOptions(epochs=2), resume=True)
    with open(run / "history.csv") as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [1, 2]
    # resuming reproduces an uninterrupted two-epoch run exactly
    straight = _train(synth_dir, tmp_path / "s", epochs=2, seed=1, patience=0)
    wr, ws = _weights(run, "last.safetensors"), _weights(straight, "last.safetensors")
    assert all(torch.equal(wr[k], ws[k]) for k in ws)


def test_weight_average_is_kept_and_resumes_exactly(synth_dir: Path, tmp_path: Path) -> None:
    run = _train(synth_dir, tmp_path / "r", epochs=1, seed=1, patience=0, weight_average=0.2)
    kept, average, last = (_weights(run, n) for n in ("model.safetensors", "average.safetensors", "last.safetensors"))
    # one epoch: its weights are the best, and the kept ones are the average's, not the trained network's
    assert all(torch.equal(kept[k], average[f"module.{k}"]) for k in kept)
    assert not all(torch.equal(kept[k], last[k]) for k in kept)
    with open(run / "history.csv") as fh:
        steps = sum(int(row["steps"]) for row in csv.DictReader(fh))
    assert int(average["n_averaged"]) == steps > 1  # one update after every optimiser step
    assert json.loads((run / "config.json").read_text())["weight_average"] == 0.2
    train(synth_dir, out=run, options=TrainOptions(epochs=2), resume=True)
    straight = _train(synth_dir, tmp_path / "s", epochs=2, seed=1, patience=0, weight_average=0.2)
    for name in ("last.safetensors", "average.safetensors", "model.safetensors"):
        wr, ws = _weights(run, name), _weights(straight, name)
        assert wr.keys() == ws.keys() and all(torch.equal(wr[k], ws[k]) for k in ws)
    plain = _train(synth_dir, tmp_path / "p", epochs=1, seed=1, patience=0)
    assert not (plain / "average.safetensors").exists()
    with pytest.raises(ValueError, match="weight_average"):
        TrainOptions(weight_average=0.3)


def test_given_split_and_target_recall(tiny_run: Path, synth_dir: Path, tmp_path: Path) -> None:
    run = _train(
        synth_dir,
        tmp_path / "t",
        epochs=3,
        split=tiny_run / "split.csv",
        target_recall=1.0,
        precision="fp32",
        lr=0.01,
        time_limit=1e-6,
    )
    with open(run / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and rows[0]["steps"] == "1"  # the time limit ended training after one step
    assert (run / "split.csv").read_text() == (tiny_run / "split.csv").read_text()
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert config["recipe"]["lr"] == 0.01 and config["precision"] == "fp32" and config["target_recall"] == 1.0
    assert metrics["val"]["recall"] == 1.0 and config["threshold"] == metrics["threshold"]
    assert config["stopped_early"] is True


def test_bad_options_are_refused(synth_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="no_such_option"):
        TrainOptions(no_such_option=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="unknown model"):
        _train(synth_dir, tmp_path / "x", model="no-such-net")
    with pytest.raises(ValueError, match="data is needed"):
        train(None, out=tmp_path / "nothing-to-resume", options=FAST, resume=True)
    assert not (tmp_path / "x").exists()  # refused before anything was written


# --- prediction, evaluation ------------------------------------------------------------------------


def test_predict_csv_format_and_bad_files(tiny_run: Path, synth_dir: Path, tmp_path: Path) -> None:
    from crackscope.training import predict

    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in sorted((synth_dir / "images").glob("*.png"))[:3]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "pred.csv"
    rows = predict(tiny_run, [folder], csv=out)
    assert len(rows) == 3 and [p.name for p, _ in rows.skipped] == ["broken.png"]
    lines = out.read_text().splitlines()
    assert lines[0] == "filename,class"
    names = [line.split(",")[0] for line in lines[1:]]
    assert names == ["synth_00000.png", "synth_00001.png", "synth_00002.png"]
    assert all(line.split(",")[1] in ("cracked", "uncracked") for line in lines[1:])
    rows = predict(tiny_run, str(folder / "synth_*.png"), csv=out, probability=True)
    lines = out.read_text().splitlines()
    assert lines[0] == "filename,class,probability" and len(lines) == 4
    for line, row in zip(lines[1:], rows, strict=True):
        _, cls, prob = line.split(",")
        assert float(prob) == pytest.approx(row["probability"], abs=1e-6)
        assert cls == ("cracked" if row["probability"] >= 0.5 else "uncracked")


def test_evaluate_matches_training_metrics(tiny_run: Path, synth_dir: Path) -> None:
    from crackscope.training import evaluate

    metrics = evaluate(tiny_run, synth_dir, split="test")
    stored = json.loads((tiny_run / "metrics.json").read_text())["test"]
    assert metrics["n"] == stored["n"]
    assert metrics["confusion_matrix"] == stored["confusion_matrix"]
    from crackscope.data.items import dataset_items

    everything = evaluate(tiny_run, synth_dir)
    assert everything["n"] == len(dataset_items(synth_dir))
