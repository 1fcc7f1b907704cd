"""Training in several processes: ``torchrun`` with 2 CPU processes and the gloo backend on the tiny model."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from crackscope.errors import DeviceError
from crackscope.training.distributed import (
    ProcessGroup,
    _rank_device,
    agree_mean,
    broadcast,
    distributed_training,
    torchrun_environment,
)

SCRIPT = textwrap.dedent(
    """
    import sys
    from crackscope.training import TrainOptions, train

    options = TrainOptions(model="tiny", epochs=2, image_size=32, batch_size=4, seed=0, device="cpu", threads=1)
    train(sys.argv[1], out=sys.argv[2], options=options)
    """
)


def test_torchrun_environment_is_read_from_the_variables() -> None:
    assert torchrun_environment({"RANK": "1", "LOCAL_RANK": "0", "WORLD_SIZE": "4"}) == (1, 0, 4)
    assert torchrun_environment({"RANK": "0", "WORLD_SIZE": "1"}) is None  # one process: a plain run
    assert torchrun_environment({}) is None
    with pytest.raises(ValueError, match="whole numbers"):
        torchrun_environment({"RANK": "x", "WORLD_SIZE": "2"})


def test_without_a_group_values_pass_unchanged() -> None:
    import torch

    assert broadcast({"a": 1}, None) == {"a": 1}
    assert agree_mean([1.0, 2.0], None, torch.device("cpu")) == [1.0, 2.0]
    assert ProcessGroup(rank=0, local_rank=0, world_size=2, backend="gloo").is_main


def test_each_process_takes_the_gpu_of_its_local_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    current = {"index": 0}  # torch is made to see two GPUs; nothing runs on them
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: current["index"])
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: current.update(index=int(index)))
    assert _rank_device("auto", 1) == torch.device("cuda", 1)
    assert _rank_device("cuda", 0) == torch.device("cuda", 0)
    with pytest.raises(DeviceError, match=r"^device 'cuda:0' names one GPU, but torchrun started several"):
        _rank_device("cuda:0", 1)
    assert _rank_device("cpu", 1) == torch.device("cpu")


def test_without_torchrun_training_is_one_plain_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    with distributed_training("cpu") as (device, group):
        assert device == torch.device("cpu") and group is None


@pytest.mark.slow
def test_two_cpu_processes_train_one_run_with_ddp(synth_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT)
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    done = subprocess.run(
        [*command, str(script), str(synth_dir), str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["complete"] and config["epochs_run"] == 2
    assert config["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert config["device"]["device"] == "cpu"
    # each process took half of every epoch (DistributedSampler pads to equal shares), batch size per process
    per_process = math.ceil(config["split_counts"]["train"] / 2)
    with (out / "history.csv").open() as fh:
        steps = [float(row["steps"]) for row in csv.DictReader(fh)]
    assert steps == [math.ceil(per_process / 4)] * 2
    # the second process wrote nothing into the run folder, and the run loads and predicts
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    from crackscope.training.run import load_run

    run = load_run(out, device="cpu")
    images = [np.full((32, 32, 3), v, np.uint8) for v in (0, 128, 255)]
    assert np.isfinite(run.predict_proba(images)).all()
