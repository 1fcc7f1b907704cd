"""Fixtures for the CAM tests: a tiny crack classifier trained for a few seconds on synthetic cracks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch


SIZE = 32  # input size of the trained tiny model


def synthetic_batch(n: int, size: int, seed: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """n images (N x 3 x S x S, 0..255), their crack masks (N x S x S bool) and labels (half cracked)."""
    from crackscope.data.synth import generate_pair

    rng = np.random.default_rng(seed)
    images, masks, labels = [], [], []
    for i in range(n):
        cracked = i % 2 == 0
        image, mask = generate_pair(rng, size, cracked=cracked)
        images.append(image)
        masks.append(mask)
        labels.append(int(mask.any()))
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    return x, np.stack(masks), np.array(labels)


@pytest.fixture(scope="session")
def trained_tiny() -> torch.nn.Module:
    """The registry's tiny model, trained 600 Adam steps on 32 px synthetic images (~3 s idle; ~90% accuracy)."""
    from crackscope.models import create_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster on the shared 2-core machine, and deterministic
    try:
        torch.manual_seed(0)
        model = create_model("tiny")
        x, _, y = synthetic_batch(256, SIZE, seed=1)
        target = torch.from_numpy(y).float()[:, None]
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        model.train()
        for _ in range(600):
            idx = torch.randint(0, len(x), (32,))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[idx]), target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    for p in model.parameters():
        p.grad = None
    return model


@pytest.fixture(scope="session")
def run_dir(trained_tiny: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier run folder (config.json + model.safetensors) holding ``trained_tiny`` at 32 px."""
    from crackscope.training.run import save_weights

    path = tmp_path_factory.mktemp("camrun") / "tiny"
    path.mkdir()
    (path / "config.json").write_text(
        json.dumps({"kind": "classifier", "model": "tiny", "image_size": SIZE, "threshold": 0.5})
    )
    save_weights(trained_tiny, path / "model.safetensors")
    return path
