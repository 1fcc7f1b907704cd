"""VGG-19 feature extractor with torchvision's parameter names (``features.N.weight``).

torchvision does not work on this machine, so the network is written out here; torchvision's
``vgg19-dcbb9e9d.pth`` (ImageNet weights) loads into it unchanged with ``load_vgg19(path)``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from crackscope.errors import BadInputError

VGG19_FILE = "vgg19-dcbb9e9d.pth"
#: torchvision's configuration "E": channels per conv, "M" = 2x2 max-pool.
_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def _layer_names() -> dict[str, int]:
    """'relu1_1' -> index of that ReLU in ``features`` (relu1_1 = 1, relu2_2 = 8, relu5_2 = 31, ...)."""
    names, block, conv, i = {}, 1, 0, 0
    for v in _CFG:
        if v == "M":
            block, conv, i = block + 1, 0, i + 1
            continue
        conv += 1
        names[f"relu{block}_{conv}"] = i + 1
        i += 2
    return names


LAYER_INDEX = _layer_names()


class VGG19Features(nn.Module):
    """``features`` as torchvision's ``vgg19().features`` (up to the deepest ReLU in ``layers``); forward
    returns the named ReLU outputs.

    Inputs go in as given (the paper's code feeds the generator's [-1, 1] images straight in).
    """

    def __init__(self, layers: tuple[str, ...] = ("relu2_2", "relu3_4", "relu4_4", "relu5_2")) -> None:
        super().__init__()
        unknown = [n for n in layers if n not in LAYER_INDEX]
        if unknown or not layers:
            raise ValueError(f"unknown VGG-19 layers {unknown}; choose from {sorted(LAYER_INDEX)}")
        self.layers = tuple(layers)
        self._last = max(LAYER_INDEX[n] for n in layers)
        mods: list[nn.Module] = []
        c_in = 3
        for v in _CFG:
            if v == "M":
                mods.append(nn.MaxPool2d(2, 2))
            else:
                mods += [nn.Conv2d(c_in, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                c_in = int(v)
        # Only the prefix up to the deepest layer used is kept; indices (and so parameter names) stay
        # torchvision's, e.g. features.30.weight is conv5_2 in both.
        self.features = nn.Sequential(*mods[: self._last + 1])
        self.requires_grad_(False)

    def random_init(self, seed: int = 0) -> VGG19Features:
        """torchvision's VGG init (Kaiming-normal fan-out convs, zero bias) from a fixed seed."""
        gen = torch.Generator().manual_seed(seed)
        for m in self.features:
            if isinstance(m, nn.Conv2d):
                std = (2.0 / (m.out_channels * 9)) ** 0.5
                with torch.no_grad():
                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
                    if m.bias is not None:  # every conv here is built with a bias
                        m.bias.zero_()
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        wanted = {LAYER_INDEX[n]: n for n in self.layers}
        out = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                out[wanted[i]] = x
            if i >= self._last:
                break
        return out


def load_vgg19(
    path: str | Path, *, layers: tuple[str, ...] = ("relu2_2", "relu3_4", "relu4_4", "relu5_2")
) -> VGG19Features:
    """VGG-19 features with torchvision's ImageNet weights from ``path`` (its ``vgg19-dcbb9e9d.pth``)."""
    from crackscope.models.weights import read_state_dict

    path = Path(path)
    state = read_state_dict(path, model_name="vgg19")  # missing/unreadable files: BadInputError naming VGG19_FILE
    net = VGG19Features(layers)
    expected = set(net.state_dict())
    feats = {k: v for k, v in state.items() if k in expected}
    if set(feats) != expected:
        missing = sorted(expected - set(feats))[:4]
        raise BadInputError(path, f"not torchvision VGG-19 weights (missing {missing}); expected {VGG19_FILE}")
    try:
        net.load_state_dict(feats)
    except RuntimeError as exc:
        raise BadInputError(path, f"VGG-19 weights do not fit ({str(exc).splitlines()[0]})") from None
    return net
