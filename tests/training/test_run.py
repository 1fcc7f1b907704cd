"""A loaded classifier run's predictions: they run an inference copy of the network (crackscope.training.run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from crackscope.models.speed import ConvReLU
from crackscope.training.loop import autocast
from crackscope.training.run import load_run
from crackscope.training.torchdata import resize_square, to_batch_tensor


def test_predictions_run_a_kept_inference_copy_with_the_networks_values(tiny_run: Path) -> None:
    run = load_run(tiny_run, device="cpu")
    rng = np.random.default_rng(0)
    images = [(rng.random((40, 50, 3)) * 255).astype(np.uint8) for _ in range(5)]
    logits = run.predict_logits(images)
    fast = run.inference_model()
    assert fast is not run.model and run.inference_model() is fast  # made once, kept
    assert sum(isinstance(m, ConvReLU) for m in fast.modules()) == 2  # the tiny net's two conv + ReLU pairs
    assert not any(isinstance(m, ConvReLU) for m in run.model.modules())  # the run's own network is untouched
    x = to_batch_tensor(np.stack([resize_square(im, run.image_size) for im in images]))
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast(run.precision, "cpu"):  # the run's precision (bf16 where the CPU has it)
        plain = run.model(x).float().reshape(-1).numpy()
    assert np.array_equal(logits, plain)  # no batch norm to fold here: the two steps' values, bit for bit
    assert run.to("cpu").inference_model() is not fast  # moving the run makes a new copy where the network is
    assert np.array_equal(run.predict_logits(images), logits)
