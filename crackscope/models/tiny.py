"""Tiny models that keep tests fast (a few thousand parameters)."""

from __future__ import annotations

import torch
from torch import nn

from crackscope.models.registry import Recipe, register_model


class TinyCrackNet(nn.Module):
    """Two conv blocks, global average pooling and a linear crack logit (a classic-CAM-ready head)."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(inplace=False),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(inplace=False),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x / 255.0
        out: torch.Tensor = self.fc(torch.flatten(self.pool(self.features(x)), 1))
        return out


@register_model(
    "tiny",
    description="a tiny two-layer CNN for tests and smoke runs",
    recipe=Recipe(optimizer="adam", lr=3e-3, epochs=3, patience=2, batch_size=16, image_size=32),
    tags=("test",),
)
def tiny(width: int = 8) -> nn.Module:
    return TinyCrackNet(width=width)
