"""Target layers: list the candidates with their output sizes and choose one automatically."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
from torch import nn

# Modules that only rescale or rectify a feature map element-wise. The automatic choice moves from the last
# convolution over these, so the explained map is the rectified feature map the head actually sees.
ELEMENTWISE = (
    nn.BatchNorm2d,
    nn.GroupNorm,
    nn.InstanceNorm2d,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Dropout,
    nn.Dropout2d,
    nn.Identity,
)


class LayerInfo(NamedTuple):
    """One candidate layer: its ``named_modules()`` name, type and output shape (C, H, W) for one image."""

    name: str
    type: str
    out_shape: tuple[int, ...]


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode and restore every module's own train/eval flag afterwards."""
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        yield model
    finally:
        for module, training in modes:
            module.training = training


def _size(image_size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        return image_size, image_size
    h, w = (int(v) for v in image_size)
    if h < 1 or w < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    return h, w


def _device(model: nn.Module) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


def _dry_run(model: nn.Module, image_size: int | tuple[int, int]) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    """Forward one grey image with hooks on every module; (name, module, out shape) in completion order."""
    h, w = _size(image_size)
    records: dict[str, tuple[int, nn.Module, tuple[int, ...]]] = {}
    handles = []
    counter = [0]

    def make_hook(name: str) -> Callable[[nn.Module, tuple[object, ...], object], None]:
        def hook(module: nn.Module, _inputs: tuple[object, ...], output: object) -> None:
            if isinstance(output, torch.Tensor) and output.ndim == 4:
                counter[0] += 1
                records[name] = (counter[0], module, tuple(output.shape[1:]))

        return hook

    try:
        for name, module in model.named_modules():
            if name:
                handles.append(module.register_forward_hook(make_hook(name)))
        with eval_mode(model), torch.inference_mode():
            model(torch.full((1, 3, h, w), 128.0, device=_device(model)))
    finally:
        for handle in handles:
            handle.remove()
    ordered = sorted(records.items(), key=lambda item: item[1][0])
    return [(name, module, shape) for name, (_, module, shape) in ordered]


def layers(model: nn.Module, image_size: int | tuple[int, int]) -> list[LayerInfo]:
    """Every module whose output is a feature map (N x C x H x W), in forward order, with its output shape."""
    return [LayerInfo(name, type(module).__name__, shape) for name, module, shape in _dry_run(model, image_size)]


def auto_layer(model: nn.Module, image_size: int | tuple[int, int], *, min_size: int = 8) -> str:
    """The automatic target layer for this input size.

    1. The last ``nn.Conv2d`` (in forward order) whose output is at least ``min_size`` x ``min_size``, moved
       forward over the normalisation/activation modules that directly follow it (conv -> BN -> ReLU gives the
       ReLU's output: the rectified map the head sees).
    2. If that sits inside a block (a container other than ``nn.Sequential``, e.g. a residual block): the block's
       output when it has the same size (so the residual sum is included), else the block's input (the output
       of the previous stage: the conv was in the middle of a block that downsamples afterwards).
    """
    if min_size < 1:
        raise ValueError(f"min_size must be at least 1, got {min_size}")
    records = _dry_run(model, image_size)
    position = {name: i for i, (name, _, _) in enumerate(records)}
    leaves = [(i, r) for i, r in enumerate(records) if not any(True for _ in r[1].children())]
    conv_index = None
    for k, (_, (_, module, shape)) in enumerate(leaves):
        if isinstance(module, nn.Conv2d) and min(shape[1:]) >= min_size:
            conv_index = k
    if conv_index is None:
        sizes = ", ".join(f"{n} {s[1]}x{s[2]}" for _, (n, m, s) in leaves if isinstance(m, nn.Conv2d)) or "none"
        raise ValueError(
            f"no convolution gives a map of at least {min_size}x{min_size} for input {_size(image_size)} "
            f"(convolutions: {sizes}); pass a layer name or a smaller min_size"
        )
    _, (chosen, _, shape) = leaves[conv_index]
    for _, (name, module, out_shape) in leaves[conv_index + 1 :]:
        if not isinstance(module, ELEMENTWISE) or out_shape != shape:
            break
        chosen = name
    block = _enclosing_block(model, chosen, position)
    if block is None:
        return chosen
    block_name, block_shape = block, records[position[block]][2]
    if block_shape == shape:
        return block_name
    first = min(position[n] for n, _ in _descendants(model, block_name) if n in position)
    for name, _, out_shape in reversed(records[:first]):
        if min(out_shape[1:]) >= min_size and not block_name.startswith(name + "."):
            return name
    return chosen


def _descendants(model: nn.Module, name: str) -> list[tuple[str, nn.Module]]:
    module = dict(model.named_modules())[name]
    return [(f"{name}.{sub}", m) for sub, m in module.named_modules() if sub]


def _enclosing_block(model: nn.Module, name: str, position: dict[str, int]) -> str | None:
    """The nearest ancestor of ``name`` that is a container other than nn.Sequential and ran in the dry pass."""
    modules = dict(model.named_modules())
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        parent = ".".join(parts[:cut])
        module = modules.get(parent)
        if module is not None and not isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return parent if parent in position else None
    return None


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The module called ``name`` in ``model.named_modules()``; a ValueError with close matches otherwise."""
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        hints = difflib.get_close_matches(name, [n for n in modules if n], n=3)
        hint = f"; did you mean {', '.join(hints)}?" if hints else "; list them with `crackscope layers RUN`"
        raise ValueError(f"model has no layer named {name!r}{hint}")
    module: nn.Module = modules[name]
    return module
