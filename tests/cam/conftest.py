"""Fixtures for the CAM tests: a tiny crack classifier trained by the product's ``train`` on synthetic cracks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.cam.helpers import SIZE


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier run folder made by ``crackscope.training.train``: the registry's tiny model, 30 epochs on
    512 synthetic 32 px images (80/20 train/validation; about 10 s; ~85% accuracy), fp32, threshold 0.5."""
    from crackscope.data.synth import synthesize
    from crackscope.training import TrainOptions, train

    root = tmp_path_factory.mktemp("camrun")
    data = synthesize(root / "data", n=512, size=SIZE, seed=1)
    threads = torch.get_num_threads()
    try:  # one thread: tiny tensors train faster on the shared 2-core machine, and deterministically
        return train(
            data,
            out=root / "tiny",
            options=TrainOptions(
                model="tiny",
                epochs=30,
                image_size=SIZE,
                batch_size=16,
                seed=0,
                precision="fp32",
                threads=1,
                patience=30,
                fractions=(0.8, 0.2, 0.0),
            ),
        )
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def trained_tiny(run_dir: Path) -> torch.nn.Module:
    """The network of ``run_dir`` (its best weights), in eval mode, with no gradients."""
    from crackscope.training.run import load_run

    model = load_run(run_dir).model
    for p in model.parameters():
        p.grad = None
    return model
