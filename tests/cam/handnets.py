"""Small hand-built networks whose CAMs are known exactly."""

from __future__ import annotations

import torch
from torch import nn


class HandNet(nn.Module):
    """1x1 conv picking fixed multiples of the red channel (A_k = m_k * R), GAP, Linear(weight w, bias b)."""

    def __init__(self, multiples: tuple[float, ...] = (1.0,), w: tuple[float, ...] = (2.0,), b: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, len(multiples), 1, bias=False)
        with torch.no_grad():
            self.features.weight.zero_()
            self.features.weight[:, 0, 0, 0] = torch.tensor(multiples)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(len(multiples), 1)
        with torch.no_grad():
            self.fc.weight[:] = torch.tensor([w])
            self.fc.bias.fill_(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def pattern_batch(pattern: torch.Tensor) -> torch.Tensor:
    """A 1 x 3 x h x w batch whose red channel is ``pattern``."""
    x = torch.zeros(1, 3, *pattern.shape)
    x[0, 0] = pattern
    return x


PATTERN = torch.tensor([[0.0, 1.0, 2.0, 0.5], [3.0, 0.0, 1.0, 4.0], [0.25, 2.0, 0.0, 1.5], [1.0, 0.0, 5.0, 2.0]])
