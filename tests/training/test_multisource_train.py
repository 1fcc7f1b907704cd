"""``train`` on several data sources: balanced sampling, per-source metrics, resume; progress as a callback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crackscope.data.sources import DataSource
from crackscope.training import TrainOptions, train
from crackscope.training.torchdata import SourceBalancedSampler

FAST = TrainOptions(model="tiny", epochs=1, image_size=32, batch_size=8, patch_size=48, seed=0, augment="robust")
Call = tuple[str, int, "int | None"]


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataSource, DataSource]:
    """Two synthetic image + mask sets of 24 photos each (one patch per photo), the second weighing twice."""
    from crackscope.data.synth import synthesize

    root = tmp_path_factory.mktemp("sources")
    walls = synthesize(root / "walls", n=24, size=48, seed=1)
    decks = synthesize(root / "decks", n=24, size=48, seed=2)
    return DataSource(walls, "walls"), DataSource(decks, "decks", weight=2.0)


def _spy_loaders(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record the keyword arguments and dataset of every loader the trainer makes."""
    from crackscope.training import trainer

    made: list[dict[str, Any]] = []
    real = trainer.make_loader

    def spy(dataset: Any, **kwargs: Any) -> Any:
        made.append({"dataset": dataset, **kwargs})
        return real(dataset, **kwargs)

    monkeypatch.setattr(trainer, "make_loader", spy)
    return made


def test_two_sources_train_balanced_and_report_each(
    two_sources: tuple[DataSource, DataSource], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _spy_loaders(monkeypatch)
    calls: list[Call] = []
    run = train(two_sources, out=tmp_path / "run", options=FAST, on_progress=lambda *a: calls.append(a))

    train_loader = made[0]
    sampler = train_loader["sampler"]
    assert isinstance(sampler, SourceBalancedSampler) and train_loader["shuffle"] is False
    assert set(train_loader["dataset"].sources) == {"walls", "decks"}
    assert train_loader["dataset"].augment == "robust"  # the preset reaches the training dataset
    # decks weigh twice: two thirds of the draws come from it
    by_source = dict.fromkeys(("walls", "decks"), 0.0)
    for source, p in zip(train_loader["dataset"].sources, sampler.probabilities, strict=True):
        by_source[source] += p
    assert by_source["decks"] == pytest.approx(2 / 3)

    metrics = json.loads((run / "metrics.json").read_text())
    for part in ("val", "test"):
        assert 0.0 <= metrics[part]["ece"] <= 1.0
        per_source = metrics[part]["per_source"]
        assert set(per_source["sources"]) == {"walls", "decks"}
        assert per_source["threshold"] == metrics["threshold"]
        assert per_source["overall"]["n"] == metrics[part]["n"]
    config = json.loads((run / "config.json").read_text())
    assert [s["name"] for s in config["data"]["sources"]] == ["walls", "decks"] and config["data"]["root"] is None

    steps = len(sampler) // 8 + (len(sampler) % 8 > 0)
    epoch = [c for c in calls if c[0] == "epoch 1/1"]
    assert epoch[0] == ("epoch 1/1", 0, steps) and epoch[-1] == ("epoch 1/1", steps, steps)
    assert [c[1] for c in epoch] == list(range(steps + 1))
    assert ("decoding train", len(sampler), len(sampler)) in calls

    # resume: no DATA, the recorded sources are read again and the split is kept
    split = (run / "split.csv").read_text()
    made.clear()
    train(None, out=run, options=TrainOptions(epochs=2), resume=True)
    assert isinstance(made[0]["sampler"], SourceBalancedSampler)
    assert json.loads((run / "config.json").read_text())["epochs_run"] == 2
    assert (run / "split.csv").read_text() == split
    resumed = json.loads((run / "metrics.json").read_text())
    assert set(resumed["test"]["per_source"]["sources"]) == {"walls", "decks"}


def test_a_time_limit_ends_the_epoch_at_its_true_count(synth_dir: Path, tmp_path: Path) -> None:
    calls: list[Call] = []
    options = TrainOptions(model="tiny", epochs=3, image_size=32, batch_size=4, time_limit=1e-6)
    run = train(synth_dir, out=tmp_path / "run", options=options, on_progress=lambda *a: calls.append(a))
    epoch = [c for c in calls if c[0].startswith("epoch")]
    total = epoch[0][2]
    assert total is not None and total > 1
    assert epoch == [("epoch 1/3", 0, total), ("epoch 1/3", 1, total), ("epoch 1/3", 1, 1)]
    config = json.loads((run / "config.json").read_text())
    assert config["epochs_run"] == 1 and config["stopped_early"] is True
    metrics = json.loads((run / "metrics.json").read_text())
    assert "per_source" not in metrics["test"] and "ece" in metrics["test"]  # one folder: no sources


def test_sources_must_be_data_sources(synth_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="DataSource values"):
        train([synth_dir], out=tmp_path / "run", options=FAST)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="no data sources given"):
        train([], out=tmp_path / "run", options=FAST)


def test_each_process_takes_a_disjoint_share_of_one_draw() -> None:
    sources, labels = ["a"] * 6 + ["b"] * 3, [0, 1, 0, 1, 0, 1, 0, 1, 1]
    whole = SourceBalancedSampler(sources, labels, seed=5, num_samples=10)
    shares = [SourceBalancedSampler(sources, labels, seed=5, num_samples=10, rank=r, num_replicas=3) for r in range(3)]
    assert [len(s) for s in shares] == [4, 4, 4]  # 10 rounded up to 12: every process takes the same steps
    for share in (whole, *shares):
        share.set_epoch(2)
    drawn = [list(s) for s in shares]
    padded = SourceBalancedSampler(sources, labels, seed=5, num_samples=12)
    padded.set_epoch(2)
    assert [i for r in range(3) for i in drawn[r]] == [i for r in range(3) for i in list(padded)[r::3]]
    with pytest.raises(ValueError, match="rank"):
        SourceBalancedSampler(sources, labels, rank=3, num_replicas=3)


DDP_SCRIPT = """
import sys
from crackscope.data.sources import read_sources
from crackscope.training import TrainOptions, train

options = TrainOptions(
    model="tiny", epochs=1, image_size=32, batch_size=4, patch_size=48, seed=0, device="cpu", threads=1
)
train(read_sources(sys.argv[1:3]), out=sys.argv[3], options=options)
"""


@pytest.mark.slow
def test_two_cpu_processes_share_the_balanced_draw(two_sources: tuple[DataSource, DataSource], tmp_path: Path) -> None:
    import csv
    import math
    import os
    import subprocess
    import sys

    script = tmp_path / "train_ddp.py"
    script.write_text(DDP_SCRIPT)
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    done = subprocess.run(
        [*command, *(str(s.path) for s in two_sources), str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["complete"] and config["distributed"] == {"world_size": 2, "backend": "gloo"}
    with (out / "history.csv").open() as fh:
        steps = [float(row["steps"]) for row in csv.DictReader(fh)]
    assert steps == [math.ceil(math.ceil(config["split_counts"]["train"] / 2) / 4)]  # each process: half the draw
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["test"]["per_source"]["sources"]) == {"walls", "decks"}


def test_several_sources_train_with_the_robust_augmentation_unless_told(
    two_sources: tuple[DataSource, DataSource], synth_dir: Path, tmp_path: Path
) -> None:
    from dataclasses import replace

    from crackscope.training.trainer import MULTI_SOURCE_AUGMENT

    plain = replace(FAST, augment=None)
    several = train(two_sources, out=tmp_path / "several", options=plain)
    one = train(synth_dir, out=tmp_path / "one", options=plain)
    named = train(two_sources, out=tmp_path / "named", options=replace(FAST, augment="none"))

    def augment(run: Path) -> str:
        return str(json.loads((run / "config.json").read_text())["options"]["recipe"]["augment"])

    assert augment(several) == MULTI_SOURCE_AUGMENT == "robust"
    assert augment(one) != "robust"  # one folder keeps the model's own recipe
    assert augment(named) == "none"  # a named preset wins
