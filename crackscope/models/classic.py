"""Classic backbones: ``simple-cnn``, ``vgg16`` and ``resnet50``.

VGG-16 and ResNet-50 (Bottleneck v1.5: the stride sits in the 3x3 conv) are written out here with
torchvision's exact parameter names (``features.0.weight`` ... ``classifier.6.bias``; ``conv1``, ``bn1``,
``layer1.0.conv1`` ... ``layer4.2.downsample.1`` ..., ``fc``), because torchvision itself is not available on
this machine. So a user's torchvision ImageNet file loads with ``weights=PATH`` (see
:mod:`crackscope.models.weights`); only the head differs: ``classifier.6`` is ``Linear(4096, 1)`` and
``fc`` is ``Linear(2048, 1)``, a single crack logit.

Input: RGB 0..255, N x 3 x H x W with H, W >= 32; ImageNet mean/std normalisation happens inside (the
constants are non-persistent buffers, so they never appear in state dicts). Adaptive pooling makes any
size >= 32 work.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from crackscope.models.registry import Recipe, register_model
from crackscope.models.weights import with_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MIN_INPUT = 32


class ImageNetNormalize(nn.Module):
    """0..255 RGB -> ImageNet-normalised input (no state dict entries)."""

    mean: torch.Tensor  # buffers registered in __init__
    std: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] < MIN_INPUT or x.shape[-2] < MIN_INPUT:
            raise ValueError(f"input must be at least {MIN_INPUT}x{MIN_INPUT} pixels, got {tuple(x.shape[-2:])}")
        return (x - self.mean) / self.std


# --- VGG-16 (configuration "D") -------------------------------------------------------------------

VGG16_CFG: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    "M",
)


class VGG16(nn.Module):
    """torchvision ``vgg16`` layout (no BN) with a one-logit ``classifier.6``."""

    def __init__(self, *, dropout: float = 0.5) -> None:
        super().__init__()
        self.normalize = ImageNetNormalize()
        layers: list[nn.Module] = []
        cin = 3
        for v in VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(cin, int(v), kernel_size=3, padding=1), nn.ReLU()]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(4096, 1),
        )
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                assert m.bias is not None  # VGG's convs all have biases
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(self.normalize(x)))
        logits: torch.Tensor = self.classifier(torch.flatten(x, 1))
        return logits


# --- ResNet-50 (Bottleneck v1.5) ------------------------------------------------------------------


class Bottleneck(nn.Module):
    """torchvision's ``Bottleneck``: 1x1 -> 3x3 (stride here, v1.5) -> 1x1 (x4), BN after each."""

    expansion = 4

    def __init__(self, cin: int, width: int, *, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        result: torch.Tensor = self.relu(out + identity)
        return result


class ResNet50(nn.Module):
    """torchvision ``resnet50`` layout with a one-logit ``fc``."""

    # the four stages, set in __init__ under torchvision's names
    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(self, *, layers: tuple[int, int, int, int] = (3, 4, 6, 3)) -> None:
        super().__init__()
        self.normalize = ImageNetNormalize()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        cin = 64
        for index, (blocks, width, stride) in enumerate(
            zip(layers, (64, 128, 256, 512), (1, 2, 2, 2), strict=False), start=1
        ):
            stage, cin = self._make_layer(cin, width, blocks, stride)
            setattr(self, f"layer{index}", stage)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, 1)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def _make_layer(cin: int, width: int, blocks: int, stride: int) -> tuple[nn.Sequential, int]:
        cout = width * Bottleneck.expansion
        downsample = None
        if stride != 1 or cin != cout:
            downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        stage = [Bottleneck(cin, width, stride=stride, downsample=downsample)]
        stage += [Bottleneck(cout, width) for _ in range(1, blocks)]
        return nn.Sequential(*stage), cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(self.normalize(x)))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        logits: torch.Tensor = self.fc(torch.flatten(self.avgpool(x), 1))
        return logits


# --- a plain small CNN ----------------------------------------------------------------------------


class SimpleCNN(nn.Module):
    """Three conv-ReLU-maxpool blocks (32, 64, 128 channels), GAP, dropout, one logit."""

    def __init__(self, *, width: int = 32, dropout: float = 0.3) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be positive, got {width}")
        w = width
        self.features = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(3, w, 3, padding=1),
                act1=nn.ReLU(),
                pool1=nn.MaxPool2d(2),
                conv2=nn.Conv2d(w, 2 * w, 3, padding=1),
                act2=nn.ReLU(),
                pool2=nn.MaxPool2d(2),
                conv3=nn.Conv2d(2 * w, 4 * w, 3, padding=1),
                act3=nn.ReLU(),
            )
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(4 * w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x / 255.0)
        logits: torch.Tensor = self.fc(self.dropout(torch.flatten(self.pool(x), 1)))
        return logits


# --- registration ---------------------------------------------------------------------------------


@register_model(
    "simple-cnn",
    description="a plain small CNN (3 conv blocks, GAP, one logit)",
    recipe=Recipe(
        optimizer="adam", lr=1e-3, epochs=20, patience=5, batch_size=32, image_size=128, augment="rot90-flip"
    ),
    tags=("classic",),
)
def simple_cnn(width: int = 32, dropout: float = 0.3, weights: str | None = None) -> nn.Module:
    return with_weights(SimpleCNN(width=width, dropout=dropout), weights, model_name="simple-cnn")


# Fine-tuning recipes for the ImageNet backbones (lower lr; meant to be used with --weights).
@register_model(
    "vgg16",
    description="VGG-16 with torchvision names (ImageNet weights via --weights)",
    recipe=Recipe(
        optimizer="sgd",
        lr=1e-3,
        momentum=0.9,
        weight_decay=1e-4,
        epochs=10,
        patience=3,
        batch_size=16,
        image_size=224,
        augment="rot90-flip",
    ),
    tags=("classic", "imagenet"),
)
def vgg16(dropout: float = 0.5, weights: str | None = None) -> nn.Module:
    return with_weights(VGG16(dropout=dropout), weights, model_name="vgg16")


@register_model(
    "resnet50",
    description="ResNet-50 v1.5 with torchvision names (ImageNet weights via --weights)",
    recipe=Recipe(
        optimizer="adamw",
        lr=3e-4,
        weight_decay=1e-4,
        epochs=10,
        patience=3,
        batch_size=16,
        image_size=224,
        augment="rot90-flip",
    ),
    tags=("classic", "imagenet"),
)
def resnet50(weights: str | None = None) -> nn.Module:
    return with_weights(ResNet50(), weights, model_name="resnet50")
