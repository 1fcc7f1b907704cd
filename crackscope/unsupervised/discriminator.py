"""The conditional PatchGAN discriminator of pix2pix / UP-CrackNet."""

from __future__ import annotations

import torch
from torch import nn


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, *, stride: int, activation: bool, batch_norm: bool) -> None:
        super().__init__()
        self.act = nn.LeakyReLU(0.2) if activation else nn.Identity()
        self.conv = nn.Conv2d(c_in, c_out, 4, stride, 1)
        self.bn = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.bn(self.conv(self.act(x)))
        return out


class PatchDiscriminator(nn.Module):
    """PatchGAN on the 6-channel pair (corrupted input, real or restored image); returns patch logits.

    Paper size: ``ndf=64, n_strided=3`` (64-128-256 stride 2, then 512 stride 1, then 1 stride 1: a
    70x70 receptive field). Logits go to ``BCEWithLogitsLoss`` (the paper's sigmoid + BCE, fused).
    """

    def __init__(self, *, ndf: int = 64, n_strided: int = 3, in_channels: int = 6) -> None:
        super().__init__()
        if n_strided < 1:
            raise ValueError(f"n_strided must be at least 1, got {n_strided}")
        layers: list[nn.Module] = []
        c_in = in_channels
        for i in range(n_strided):
            c_out = ndf * min(2**i, 8)
            layers.append(_Block(c_in, c_out, stride=2, activation=i > 0, batch_norm=i > 0))
            c_in = c_out
        c_out = ndf * min(2**n_strided, 8)
        layers.append(_Block(c_in, c_out, stride=1, activation=True, batch_norm=True))
        layers.append(_Block(c_out, 1, stride=1, activation=True, batch_norm=False))
        self.layers = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:  # every conv here is built with a bias
                    nn.init.zeros_(m.bias)

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.layers(torch.cat([condition, image], dim=1))
        return logits
