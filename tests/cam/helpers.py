"""Helpers of the CAM tests: the trained tiny model's input size and batches of synthetic cracks."""

from __future__ import annotations

import numpy as np
import torch

SIZE = 32  # input size of the trained tiny model (the ``trained_tiny`` fixture)


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
