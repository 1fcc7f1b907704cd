"""Restorer crops (in the training process or DataLoader workers) and devices in restorer training, loading and
mapping, exercised with ``cpu``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from crackscope.devices import LoaderSettings
from crackscope.errors import BadInputError, DeviceError
from crackscope.unsupervised.config import RestorerConfig
from crackscope.unsupervised.data import Source, to_tensor
from crackscope.unsupervised.feed import CropFeed, crop_batch, to_training_tensor
from crackscope.unsupervised.train import RestorerTrainOptions, autocast_forward, restorer_precision, train_restorer

TINY = RestorerConfig(
    image_size=32,
    ngf=8,
    n_downs=5,
    ndf=8,
    d_strided=2,
    batch_size=4,
    epochs=1,
    steps_per_epoch=3,
    style="off",
    val_max=4,
    crack_margin=2,
    name="tiny",
)


def _sources(n: int, *, broken: int = 0) -> list[Source]:
    def pixels(i: int) -> np.ndarray:
        return np.full((40, 48, 3), 10 * i, np.uint8)

    def fails() -> np.ndarray:
        raise BadInputError("gone.png", "file changed during training")

    good = [Source(key=f"s{i}", group=f"g{i}", load=lambda i=i: pixels(i)) for i in range(n)]
    return good + [Source(key=f"bad{i}", group="bad", load=fails) for i in range(broken)]


def test_crops_become_the_tensors_to_tensor_made() -> None:
    rng = np.random.default_rng(3)
    crops = crop_batch(_sources(3), [], rng, {}, size=32, n=5)
    assert crops.shape == (5, 32, 32, 3) and crops.dtype == np.uint8
    made = to_training_tensor(torch.from_numpy(crops), torch.device("cpu"))
    assert made.is_contiguous() and torch.equal(made, to_tensor(list(crops)))
    kept = to_training_tensor(torch.from_numpy(crops), torch.device("cpu"), channels_last=True)
    assert kept.is_contiguous(memory_format=torch.channels_last) and torch.equal(kept, made)


def test_the_feed_without_workers_draws_what_the_loop_drew() -> None:
    bad: dict[str, str] = {}
    feed = CropFeed(_sources(3), size=32, batch_size=4, rng=np.random.default_rng(0), bad=bad)
    expected = crop_batch(_sources(3), [], np.random.default_rng(0), {}, size=32, n=4)
    assert np.array_equal(feed.next_batch().numpy(), expected)


def test_workers_make_batches_and_report_unreadable_sources() -> None:
    bad: dict[str, str] = {}
    feed = CropFeed(
        _sources(2, broken=1),
        size=32,
        batch_size=4,
        rng=np.random.default_rng(0),
        bad=bad,
        loading=LoaderSettings(num_workers=1),
    )
    batches = [feed.next_batch() for _ in range(3)]
    feed.close()
    assert all(b.shape == (4, 32, 32, 3) and b.dtype == torch.uint8 for b in batches)
    assert bad == {"bad0": "file changed during training"}


def test_a_worker_that_can_read_nothing_names_the_data() -> None:
    feed = CropFeed(
        _sources(0, broken=2),
        size=32,
        batch_size=2,
        rng=np.random.default_rng(0),
        bad={},
        loading=LoaderSettings(num_workers=1),
    )
    with pytest.raises(BadInputError, match="none of the 2 training images can be read"):
        feed.next_batch()


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"device": "gpu"}, "device"), ({"precision": "fp16"}, "precision"), ({"num_workers": -1}, "num_workers")],
)
def test_device_options_are_checked_when_made(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field} must"):
        RestorerTrainOptions(**changes)  # type: ignore[arg-type]


def test_precision_per_device_and_the_autocast_wrapper() -> None:
    cpu = torch.device("cpu")
    assert restorer_precision("auto", cpu) == "fp32" and restorer_precision("bf16", cpu) == "bf16"
    net = torch.nn.Conv2d(3, 2, 3)
    assert autocast_forward(net, cpu, "fp32") is net
    wrapped = autocast_forward(net, cpu, "bf16")
    out = wrapped(torch.ones(1, 3, 8, 8))
    assert out.dtype == torch.float32 and list(wrapped.parameters()) == list(net.parameters())
    with pytest.raises(ValueError, match="bf16 or fp32"):
        autocast_forward(net, cpu, "fp16")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_missing_device_is_refused_before_reading_data(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match=r"^device 'cuda' is not available"):
        train_restorer(tmp_path / "no-data", out=tmp_path / "r", options=RestorerTrainOptions(device="cuda"))
    assert not (tmp_path / "r").exists()


def test_cpu_training_with_workers_and_bf16_records_the_device(synth_dir: Path, tmp_path: Path) -> None:
    from crackscope.runs import open_run
    from crackscope.unsupervised.mapper import RestorerMapper
    from crackscope.unsupervised.run import load_restorer_run

    options = RestorerTrainOptions(seed=0, device="cpu", precision="bf16", num_workers=1)
    out = train_restorer(synth_dir, out=tmp_path / "run", config=TINY, options=options)
    config = json.loads((out / "config.json").read_text())
    assert config["device"]["device"] == "cpu" and config["precision"] == "bf16"
    run = load_restorer_run(out, device="cpu")
    assert run.device == torch.device("cpu") and run.to("cpu") is run
    assert open_run(out, device="cpu").device == torch.device("cpu")
    image = np.random.default_rng(0).integers(90, 160, (40, 56, 3), dtype=np.uint8)
    result = RestorerMapper(out, device="cpu").map_image(image)
    assert result.mask.shape == (40, 56) and np.isfinite(result.probability).all()
