"""Helpers for network tests."""

from __future__ import annotations

import torch


def randomize_batch_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Give every ``BatchNorm2d`` of ``model`` non-trivial statistics and affine weights (so folding a batch norm
    into its convolution is exercised); returns ``model``."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model
