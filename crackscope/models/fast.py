"""Fast crack classifiers of our own: ``crackfast`` (the package default), ``crackfast-s`` and ``crackfast-mixstyle``
(crackfast trained with MixStyle layers, :mod:`crackscope.models.style_mixing`; the same network afterwards).

Designed for this job and this machine (a 2-core CPU):

- plain 3x3 convolutions + BN + ReLU (oneDNN runs them far better per FLOP on CPU than depthwise
  convolutions), downsampling only three times, so the final feature map has **stride 8**: a 128 px
  input gives a 16 x 16 map, fine enough for sharp CAM crack maps;
- two residual dilated 3x3 blocks (dilation 2 and 4) at stride 8 widen the receptive field to the
  whole patch without losing resolution; the last one is ``features.last`` (the CAM layer);
- global average pooling, dropout, one linear crack logit (classic-CAM ready); input 0..255 RGB,
  normalised inside; output logits N x 1.

Measured (``benchmarks/results/inference.md``, loaded machine, images per CPU-second, best path): crackfast
8.4x / 8.0x faster than ``seed-baseline`` at 128 / 227 px, crackfast-s 16x / 17x. Design check on 3,000
Ozgenel images (5 epochs): 99.7% (crackfast) and 99.9% (crackfast-s) on 750 held-out images.

Training recipe (``Recipe`` fields only): AdamW, lr 2e-3, weight decay 5e-4 (decoupled, all
parameters), ``rot90-flip`` augmentation, 128 px, batch 32, 8 epochs, patience 4, early stopping on
validation loss. Eight epochs fit the 10-minute budget by estimate: a 32-image bf16 training step costs
0.20 CPU-s, so ~50 s per epoch of 8,000 images on one free core, before data loading.
**Schedule assumption for the trainer:** the recipe was designed for a cosine decay of
the learning rate from ``lr`` to ~0 over ``epochs`` (per step, no warm-up needed: BN everywhere). The
``Recipe`` has no schedule field, so these models carry the tag ``"fast"``, which
``crackscope.training.options`` maps to its ``cosine`` scheduler.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from crackscope.models.registry import Recipe, register_model
from crackscope.models.style_mixing import MixStyle
from crackscope.models.weights import with_weights

# Fixed input normalisation: 0..255 -> roughly zero mean, unit scale.
_MEAN = 127.5
_STD = 64.0


class ConvBNReLU(nn.Sequential):
    """3x3 (or k x k) conv without bias, BN, ReLU; ``padding`` keeps the size (``/ stride``)."""

    def __init__(self, cin: int, cout: int, *, stride: int = 1, dilation: int = 1, kernel: int = 3) -> None:
        super().__init__(
            OrderedDict(
                conv=nn.Conv2d(
                    cin,
                    cout,
                    kernel,
                    stride=stride,
                    padding=dilation * (kernel - 1) // 2,
                    dilation=dilation,
                    bias=False,
                ),
                bn=nn.BatchNorm2d(cout),
                act=nn.ReLU(),
            )
        )


class DilatedResidual(nn.Module):
    """``relu(x + bn(conv3x3_dilated(x)))``: receptive field without downsampling."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act(x + self.bn(self.conv(x)))
        return out


class CrackFast(nn.Module):
    """Stride-8 CNN: ``stem (/2) -> stage2 (/4) -> stage3 (/8) -> context (d=2) -> last (d=4) -> GAP -> fc``.

    ``widths`` are the channels at stride 2, 4 and 8. ``output_stride`` is 8 for every input size.
    ``style_mixing`` puts a ``MixStyle`` layer after the stem and after stage 2 (training only; no parameters, so
    the weights are the same network's either way).
    """

    output_stride = 8
    mean: torch.Tensor  # buffers registered in __init__
    std: torch.Tensor

    def __init__(
        self, widths: Sequence[int] = (24, 48, 96), *, dropout: float = 0.2, style_mixing: bool = False
    ) -> None:
        super().__init__()
        if len(widths) != 3 or any(int(w) < 1 for w in widths):
            raise ValueError(f"widths must be three positive channel counts, got {widths!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        c1, c2, c3 = (int(w) for w in widths)
        self.register_buffer("mean", torch.tensor(_MEAN), persistent=False)
        self.register_buffer("std", torch.tensor(_STD), persistent=False)
        # built in this order (it fixes the random initial weights for a given seed)
        stem = nn.Sequential(ConvBNReLU(3, c1, stride=2), ConvBNReLU(c1, c1))
        stage2 = nn.Sequential(ConvBNReLU(c1, c2, stride=2), ConvBNReLU(c2, c2))
        stage3 = nn.Sequential(ConvBNReLU(c2, c3, stride=2), ConvBNReLU(c3, c3))
        context = DilatedResidual(c3, dilation=2)
        last = DilatedResidual(c3, dilation=4)
        blocks: OrderedDict[str, nn.Module] = OrderedDict(stem=stem)
        if style_mixing:  # after the first two stages, where style shows (the paper's placement)
            blocks["stem_mix"] = MixStyle()
        blocks["stage2"] = stage2
        if style_mixing:
            blocks["stage2_mix"] = MixStyle()
        blocks.update(stage3=stage3, context=context, last=last)
        self.features = nn.Sequential(blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c3, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # Residual branches start near identity (zero-init the last BN of each branch).
        for block in (context, last):
            nn.init.zeros_(block.bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        x = self.features(x)
        logits: torch.Tensor = self.fc(self.dropout(torch.flatten(self.pool(x), 1)))
        return logits


_FAST_RECIPE = Recipe(
    optimizer="adamw",
    lr=2e-3,
    weight_decay=5e-4,
    epochs=8,
    patience=4,
    batch_size=32,
    image_size=128,
    augment="rot90-flip",
    monitor="val_loss",
)


def _build(
    widths: Sequence[int], dropout: float, weights: str | None, name: str, *, style_mixing: bool = False
) -> nn.Module:
    return with_weights(CrackFast(widths, dropout=dropout, style_mixing=style_mixing), weights, model_name=name)


@register_model(
    "crackfast",
    description="our fast default: stride-8 plain-conv CNN with dilated context (CPU-fast)",
    recipe=_FAST_RECIPE,
    tags=("fast", "default"),
)
def crackfast(widths: Sequence[int] = (24, 48, 96), dropout: float = 0.2, weights: str | None = None) -> nn.Module:
    return _build(widths, dropout, weights, "crackfast")


@register_model(
    "crackfast-s",
    description="a narrower crackfast (16/32/64 channels) for the slowest machines",
    recipe=_FAST_RECIPE,
    tags=("fast",),
)
def crackfast_s(widths: Sequence[int] = (16, 32, 64), dropout: float = 0.2, weights: str | None = None) -> nn.Module:
    return _build(widths, dropout, weights, "crackfast-s")


@register_model(
    "crackfast-mixstyle",
    description="crackfast trained with feature-statistics mixing (MixStyle) for photos of unseen surfaces",
    recipe=_FAST_RECIPE,
    tags=("fast",),
)
def crackfast_mixstyle(
    widths: Sequence[int] = (24, 48, 96), dropout: float = 0.2, weights: str | None = None
) -> nn.Module:
    return _build(widths, dropout, weights, "crackfast-mixstyle", style_mixing=True)
