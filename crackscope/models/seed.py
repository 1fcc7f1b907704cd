"""The four Keras CNNs of the crack study, layer for layer in PyTorch.

Registered as ``seed-baseline``, ``seed-v2``, ``seed-v3`` and ``seed-v3-aug``. Each one takes RGB pixel
values 0..255 (``Rescaling(1/255)`` is the first layer, as in Keras) and returns crack logits N x 1: the
final ``Dense(1, sigmoid)`` is a ``Linear(.., 1)`` here, the sigmoid is applied outside the network.

Keras semantics kept on purpose:

- ``padding="same"`` for stride-1 odd kernels is symmetric padding ``dilation * (k - 1) // 2``;
  ``padding="valid"`` is no padding; pooling layers use Keras' default ``valid`` (floor) behaviour.
- ``BatchNormalization()``: ``eps=1e-3`` and ``momentum=0.99`` (PyTorch ``momentum=0.01``).
- The layer order is the study's: Baseline/V2 use ``Conv(activation="relu") -> BN``; V3 uses
  ``Conv(use_bias=False) -> BN -> LeakyReLU(0.1)``.
- Keras initialisers: Glorot-uniform kernels and zero biases.
- Parameter counts: :func:`keras_parameter_count` counts like ``model.summary()`` (the BN moving
  mean/variance are Keras' non-trainable parameters).

**L2 regularisation contract (for the trainer).** Keras' ``kernel_regularizer=l2(c)`` adds
``c * sum(w ** 2)`` to the loss for that kernel only (never biases or BN). Every model here carries
``model.l2_penalty: dict[str, float]`` mapping parameter names (as in ``named_parameters()``) to ``c``;
models without L2 have an empty dict. The trainer adds :func:`l2_penalty_loss(model)` to the training
loss (it returns a zero tensor for models without the attribute). The recipes therefore keep
``weight_decay=0.0``: do not also pass the L2 as optimiser weight decay, that would double it and decay
biases/BN too.

Recipes (``crackscope.models.registry.Recipe``): image size 256 and batch 32 as in the study, early
stopping on validation loss (``monitor="val_loss"``, restore best). Baseline: Adam with Keras' default
lr 1e-3. V2: SGD lr 1e-3 momentum 0.9. V3: SGD lr 1e-2 momentum 0.9, label smoothing 0.05 (Keras'
binary smoothing: ``y * (1 - s) + 0.5 * s``). V3-aug: V3 + ``keras-v3`` augmentation, 75 epochs,
patience 15. The study does not fix epochs/patience for the others; we use 30 epochs, patience 5.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TypedDict

import torch
from torch import nn

from crackscope.models.registry import Recipe, register_model
from crackscope.models.weights import with_weights

KERAS_BN_EPS = 1e-3
KERAS_BN_MOMENTUM = 0.01  # Keras momentum 0.99 == PyTorch momentum 1 - 0.99
V3_L2 = 1e-5


def keras_bn(channels: int) -> nn.BatchNorm2d:
    """``keras.layers.BatchNormalization()`` with Keras' defaults."""
    return nn.BatchNorm2d(channels, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM)


def keras_conv(
    in_ch: int, out_ch: int, kernel: int, *, padding: str = "same", dilation: int = 1, bias: bool = True
) -> nn.Conv2d:
    """``Conv2D`` with stride 1 and Keras ``same``/``valid`` padding (odd kernels only)."""
    if padding not in ("same", "valid"):
        raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
    if kernel % 2 != 1:
        raise ValueError("only odd kernels are supported (Keras 'same' padding is then symmetric)")
    pad = dilation * (kernel - 1) // 2 if padding == "same" else 0
    return nn.Conv2d(in_ch, out_ch, kernel, padding=pad, dilation=dilation, bias=bias)


class Rescaling(nn.Module):
    """``keras.layers.Rescaling(scale)``: multiplies the 0..255 input by ``scale``."""

    def __init__(self, scale: float = 1.0 / 255.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale:.6g}"


class KerasCNN(nn.Module):
    """``Rescaling -> features -> GAP -> head``; the head ends in a single crack logit.

    ``features`` and ``head`` are ``nn.Sequential`` with readable layer names (``conv1``, ``bn1``, ...),
    so CAM layers can be picked by name (the last conv block is ``features.conv_last``/its activation).
    """

    def __init__(
        self, features: OrderedDict[str, nn.Module], head: OrderedDict[str, nn.Module], *, l2: float = 0.0
    ) -> None:
        super().__init__()
        self.rescale = Rescaling(1.0 / 255.0)
        self.features = nn.Sequential(features)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(head)
        _keras_init(self)
        # parameter name -> Keras l2 coefficient (see the module docstring)
        self.l2_penalty: dict[str, float] = {
            f"{name}.weight": l2 for name, module in self.named_modules() if l2 and getattr(module, "_keras_l2", False)
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.rescale(x))
        out: torch.Tensor = self.head(torch.flatten(self.pool(x), 1))
        return out


def _keras_init(model: nn.Module) -> None:
    """Keras defaults: Glorot-uniform kernels, zero biases (BN: gamma 1, beta 0, as PyTorch)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def _with_l2(module: nn.Module) -> nn.Module:
    # marks a kernel that carries kernel_regularizer=l2; torch's stubs only allow tensors and modules as
    # module attributes, though any value is accepted at run time
    module._keras_l2 = True  # type: ignore[assignment]
    return module


def l2_penalty_loss(model: nn.Module) -> torch.Tensor:
    """``sum(c * ||w||^2)`` over ``model.l2_penalty`` (Keras ``l2(c)`` semantics); 0 when there is none."""
    penalty: dict[str, float] = getattr(model, "l2_penalty", {}) or {}
    params = dict(model.named_parameters())
    total = torch.zeros((), device=next(model.parameters()).device)
    for name, coef in penalty.items():
        total = total + coef * params[name].pow(2).sum()
    return total


def keras_parameter_count(model: nn.Module) -> tuple[int, int]:
    """``(total, trainable)`` as Keras' ``model.summary()`` counts them.

    Trainable = all PyTorch parameters; Keras' non-trainable part = BN ``running_mean`` + ``running_var``
    (``num_batches_tracked`` has no Keras counterpart and is not counted).
    """
    trainable = sum(p.numel() for p in model.parameters())
    frozen = sum(
        m.running_mean.numel() + m.running_var.numel()
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None and m.running_var is not None
    )
    return trainable + frozen, trainable


# --- the four architectures ----------------------------------------------------------------------


def build_baseline() -> KerasCNN:
    """Baseline: 599,585 parameters (599,137 trainable) in Keras."""
    f = OrderedDict(
        conv1=keras_conv(3, 32, 3), act1=nn.ReLU(), bn1=keras_bn(32),
        conv2=keras_conv(32, 32, 3), act2=nn.ReLU(),
        pool1=nn.MaxPool2d(2),
        conv3=keras_conv(32, 64, 3), act3=nn.ReLU(), bn2=keras_bn(64),
        conv4=keras_conv(64, 64, 3), act4=nn.ReLU(),
        pool2=nn.MaxPool2d(2),
        conv5=keras_conv(64, 128, 3), act5=nn.ReLU(), bn3=keras_bn(128),
        conv6=keras_conv(128, 128, 3), act6=nn.ReLU(),
        conv_last=keras_conv(128, 256, 3), act_last=nn.ReLU(),
    )  # fmt: skip
    head = OrderedDict(dropout=nn.Dropout(0.3), fc1=nn.Linear(256, 64), act=nn.ReLU(), fc2=nn.Linear(64, 1))
    return KerasCNN(f, head)


def build_v2() -> KerasCNN:
    """V2: valid first conv, Dropout 0.2 after the first two BNs, dilation 2 on both 128-filter convs,
    Dropout 0.4 before the head, Dense 16.

    The study's code builds ``Dense(16)`` while its printed summary shows ``Dense(64)``; we follow the
    code (587,201 parameters, 586,753 trainable; with Dense 64 it would be 599,585 like the Baseline).
    """
    f = OrderedDict(
        conv1=keras_conv(3, 32, 3, padding="valid"), act1=nn.ReLU(), bn1=keras_bn(32), drop1=nn.Dropout(0.2),
        conv2=keras_conv(32, 32, 3), act2=nn.ReLU(),
        pool1=nn.MaxPool2d(2),
        conv3=keras_conv(32, 64, 3), act3=nn.ReLU(), bn2=keras_bn(64), drop2=nn.Dropout(0.2),
        conv4=keras_conv(64, 64, 3), act4=nn.ReLU(),
        pool2=nn.MaxPool2d(2),
        conv5=keras_conv(64, 128, 3, dilation=2), act5=nn.ReLU(), bn3=keras_bn(128),
        conv6=keras_conv(128, 128, 3, dilation=2), act6=nn.ReLU(),
        conv_last=keras_conv(128, 256, 3), act_last=nn.ReLU(),
    )  # fmt: skip
    head = OrderedDict(dropout=nn.Dropout(0.4), fc1=nn.Linear(256, 16), act=nn.ReLU(), fc2=nn.Linear(16, 1))
    return KerasCNN(f, head)


def build_v3() -> KerasCNN:
    """V3: 5x5 first conv, bias-free convs + BN + LeakyReLU(0.1), L2 1e-5 on kernels, AveragePool,
    a dilated 256 conv, Dropout 0.1, Dense 16 (L2, LeakyReLU). 1,180,801 parameters (1,178,881 trainable)."""

    def block(name: str, cin: int, cout: int, k: int = 3, dilation: int = 1) -> list[tuple[str, nn.Module]]:
        return [
            (f"conv{name}", _with_l2(keras_conv(cin, cout, k, dilation=dilation, bias=False))),
            (f"bn{name}", keras_bn(cout)),
            (f"act{name}", nn.LeakyReLU(0.1)),
        ]

    layers = [
        *block("1", 3, 32, k=5), *block("2", 32, 32), ("pool1", nn.AvgPool2d(2)),
        *block("3", 32, 64), *block("4", 64, 64), ("pool2", nn.AvgPool2d(2)),
        *block("5", 64, 128), *block("6", 128, 128), *block("7", 128, 256),
        *block("_last", 256, 256, dilation=2),
    ]  # fmt: skip
    head = OrderedDict(
        dropout=nn.Dropout(0.1), fc1=_with_l2(nn.Linear(256, 16)), act=nn.LeakyReLU(0.1), fc2=nn.Linear(16, 1)
    )
    return KerasCNN(OrderedDict(layers), head, l2=V3_L2)


# --- registration --------------------------------------------------------------------------------


class _SeedFields(TypedDict):
    image_size: int
    batch_size: int
    monitor: str


class _V3Fields(_SeedFields):
    optimizer: str
    lr: float
    momentum: float
    weight_decay: float
    label_smoothing: float


_SEED: _SeedFields = {"image_size": 256, "batch_size": 32, "monitor": "val_loss"}


@register_model(
    "seed-baseline",
    description="the study's Baseline Keras CNN (Keras count 599,585), Adam",
    recipe=Recipe(optimizer="adam", lr=1e-3, epochs=30, patience=5, augment="none", **_SEED),
    tags=("seed",),
)
def seed_baseline(weights: str | None = None) -> nn.Module:
    return with_weights(build_baseline(), weights, model_name="seed-baseline")


@register_model(
    "seed-v2",
    description="the study's V2 Keras CNN (dilation, dropout, Dense 16), SGD lr 1e-3",
    recipe=Recipe(optimizer="sgd", lr=1e-3, momentum=0.9, epochs=30, patience=5, augment="none", **_SEED),
    tags=("seed",),
)
def seed_v2(weights: str | None = None) -> nn.Module:
    return with_weights(build_v2(), weights, model_name="seed-v2")


_V3_RECIPE: _V3Fields = {
    "optimizer": "sgd",
    "lr": 1e-2,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "label_smoothing": 0.05,
    **_SEED,
}


@register_model(
    "seed-v3",
    description="the study's V3 Keras CNN (Keras count 1,180,801; LeakyReLU, L2 1e-5), SGD lr 1e-2, smoothing 0.05",
    recipe=Recipe(epochs=30, patience=5, augment="none", **_V3_RECIPE),
    tags=("seed",),
)
def seed_v3(weights: str | None = None) -> nn.Module:
    return with_weights(build_v3(), weights, model_name="seed-v3")


@register_model(
    "seed-v3-aug",
    description="V3 trained behind the keras-v3 augmentation, up to 75 epochs, patience 15",
    recipe=Recipe(epochs=75, patience=15, augment="keras-v3", **_V3_RECIPE),
    tags=("seed",),
)
def seed_v3_aug(weights: str | None = None) -> nn.Module:
    return with_weights(build_v3(), weights, model_name="seed-v3-aug")
