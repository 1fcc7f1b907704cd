"""Devices in classifier training and loading: every path that takes a device, with ``cpu`` (this machine has no
GPU; a device that is not there is refused in one line before anything is written)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from crackscope.errors import DeviceError
from crackscope.training import TrainOptions, train
from crackscope.training.loop import autocast, past_deadline, to_device, unwrap
from crackscope.training.run import as_run, load_run

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


def test_device_is_an_option_checked_when_made() -> None:
    assert TrainOptions(device="CPU").device == "cpu"
    assert TrainOptions().device == "auto"
    with pytest.raises(ValueError, match=r"^device must be auto, cpu, cuda, cuda:N or mps, got 'gpu'$"):
        TrainOptions(device="gpu")


@NO_GPU
def test_a_missing_device_is_refused_before_anything_is_written(synth_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match=r"^device 'cuda' is not available on this machine \("):
        TrainOptions(model="tiny", device="cuda").resolve()
    out = tmp_path / "run"
    with pytest.raises(DeviceError):
        train(synth_dir, out=out, options=TrainOptions(model="tiny", device="cuda"))
    assert not out.exists()


def test_training_on_the_cpu_with_loader_workers_records_the_device(synth_dir: Path, tmp_path: Path) -> None:
    options = TrainOptions(model="tiny", epochs=1, image_size=32, batch_size=8, device="cpu", num_workers=1)
    out = train(synth_dir, out=tmp_path / "run", options=options)
    config = json.loads((out / "config.json").read_text())
    assert config["device"]["device"] == "cpu" and config["device"]["name"]
    assert config["distributed"] is None and config["complete"]
    assert config["options"]["num_workers"] == 1 and "device" not in config["options"]  # where, not what


def test_a_run_loads_on_the_device_asked_for(tiny_run: Path) -> None:
    run = load_run(tiny_run, device="cpu")
    assert run.device == torch.device("cpu") and not run.model.training
    assert run.to(torch.device("cpu")) is run
    assert as_run(tiny_run, device="cpu").device == torch.device("cpu")
    images = [np.full((40, 50, 3), v, np.uint8) for v in (10, 200)]
    assert np.array_equal(run.predict_logits(images), load_run(tiny_run).predict_logits(images))  # auto: the CPU


@NO_GPU
def test_loading_on_a_missing_device_is_refused(tiny_run: Path) -> None:
    with pytest.raises(DeviceError, match=r"^device 'cuda:0' is not available"):
        load_run(tiny_run, device="cuda:0")
    with pytest.raises(DeviceError):
        load_run(tiny_run).to("cuda")


def test_loop_helpers_on_one_process() -> None:
    cpu = torch.device("cpu")
    x = torch.ones(2, 3)
    assert to_device(x, cpu) is x
    assert not past_deadline(time.perf_counter() + 60, cpu) and past_deadline(time.perf_counter() - 1, cpu)
    net = torch.nn.Linear(3, 1)
    assert unwrap(net) is net
    with autocast("bf16", "cpu"):
        assert net(x).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="precision must be one of"):
        autocast("fp16", "cpu")
