"""The pix2pix U-Net generator used by UP-CrackNet (sizes configurable)."""

from __future__ import annotations

import torch
from torch import nn


class _Down(nn.Module):
    """[LeakyReLU(0.2)] -> 4x4 stride-2 conv -> [BatchNorm] (activation first, as in the paper's code)."""

    def __init__(self, c_in: int, c_out: int, *, activation: bool, batch_norm: bool) -> None:
        super().__init__()
        self.act = nn.LeakyReLU(0.2) if activation else nn.Identity()
        self.conv = nn.Conv2d(c_in, c_out, 4, 2, 1)
        self.bn = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.bn(self.conv(self.act(x)))
        return out


class _Up(nn.Module):
    """ReLU -> 4x4 stride-2 transposed conv -> [BatchNorm] -> [Dropout(0.5)]."""

    def __init__(self, c_in: int, c_out: int, *, batch_norm: bool, dropout: bool) -> None:
        super().__init__()
        self.act = nn.ReLU()
        self.deconv = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)
        self.bn = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()
        self.drop = nn.Dropout(0.5) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.drop(self.bn(self.deconv(self.act(x))))
        return out


def encoder_channels(ngf: int, n_downs: int) -> list[int]:
    """Channels after each down-conv: ngf, 2ngf, 4ngf, 8ngf, 8ngf, ... (64..512 for ngf=64, 8 downs)."""
    return [ngf * min(2**i, 8) for i in range(n_downs)]


class UNetGenerator(nn.Module):
    """U-Net with ``n_downs`` stride-2 4x4 down-convs and as many transposed up-convs with skips.

    Paper size: ``ngf=64, n_downs=8`` on 256 px (1x1 bottleneck). The first down-conv has no activation
    and no BN, the innermost no BN; the first three decoder blocks use dropout 0.5; output is tanh in
    [-1, 1]. Input: Nx3xHxW in [-1, 1] with H, W multiples of ``2**n_downs``.
    """

    def __init__(self, *, ngf: int = 64, n_downs: int = 8, in_channels: int = 3, out_channels: int = 3) -> None:
        super().__init__()
        if n_downs < 2:
            raise ValueError(f"n_downs must be at least 2, got {n_downs}")
        if ngf < 1:
            raise ValueError(f"ngf must be positive, got {ngf}")
        self.ngf, self.n_downs = ngf, n_downs
        chans = encoder_channels(ngf, n_downs)
        downs = []
        for i, c_out in enumerate(chans):
            c_in = in_channels if i == 0 else chans[i - 1]
            downs.append(_Down(c_in, c_out, activation=i > 0, batch_norm=0 < i < n_downs - 1))
        self.downs = nn.ModuleList(downs)
        ups = []
        for j in range(n_downs):
            enc_index = n_downs - 1 - j  # encoder level this decoder block starts from
            c_in = chans[enc_index] if j == 0 else 2 * chans[enc_index]
            last = j == n_downs - 1
            c_out = out_channels if last else chans[enc_index - 1]
            ups.append(_Up(c_in, c_out, batch_norm=not last, dropout=j < 3 and not last))
        self.ups = nn.ModuleList(ups)
        self.reset_parameters()

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this."""
        return int(2**self.n_downs)

    def reset_parameters(self, std: float = 0.02) -> None:
        """N(0, 0.02) conv weights, as pix2pix and the paper's code."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, std)
                if m.bias is not None:  # every conv here is built with a bias
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise ValueError(f"input {h}x{w} is not a multiple of {self.multiple} (2**n_downs)")
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.ups[0](skips[-1])
        for j, up in enumerate(self.ups[1:], start=1):
            x = up(torch.cat([x, skips[-1 - j]], dim=1))
        return torch.tanh(x)
