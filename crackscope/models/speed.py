"""Fast inference helpers: channels_last memory format, bfloat16 autocast, batch norms folded into their
convolutions and convolutions run with their ReLUs as one call.

On this machine's CPU (AVX-512 BF16) oneDNN runs convolutions in channels_last + bf16 markedly faster
than in float32 (see ``benchmarks/results/inference.md``, which also measures that the decisions agree).
Logits come back as float32 either way. On a CPU without native bf16 the autocast is skipped (it would be
emulated and slow).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeGuard

import torch
from torch import nn


def bf16_supported(device_type: str = "cpu") -> bool:
    """True where bfloat16 autocast runs natively (CPU: oneDNN's AVX-512 BF16 / AMX check)."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@contextmanager
def fast_inference(model: nn.Module, *, channels_last: bool = True, bf16: bool = True) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode under ``inference_mode`` (+ channels_last, + bf16 autocast).

    The model is converted to channels_last in place (harmless for results); its train/eval mode is
    restored on exit. Feed inputs through :func:`to_fast_input` (or use :func:`predict_logits`).
    """
    was_training = model.training
    model.eval()
    if channels_last:
        # torch's stubs lack the memory_format overload of Module.to (it is accepted at run time)
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    device_type = _device_type(model)
    use_bf16 = bf16 and bf16_supported(device_type)
    try:
        with torch.inference_mode(), torch.autocast(device_type, dtype=torch.bfloat16, enabled=use_bf16):
            yield model
    finally:
        model.train(was_training)


def fold_batch_norms(model: nn.Module) -> nn.Module:
    """An inference copy of ``model``: each ``BatchNorm2d`` that directly follows a ``Conv2d`` in an
    ``nn.Sequential`` is folded into that convolution (``torch.nn.utils.fusion.fuse_conv_bn_eval``) and replaced by
    ``nn.Identity``, so every module keeps its name (a CAM target layer such as ``features.last`` stays valid).

    The copy is in eval mode and computes the same function up to float rounding, with one convolution instead
    of a convolution and a normalisation (in bf16 ``crackfast``'s probabilities come closer to float32 than the
    unfolded model's: ``benchmarks/bench_mosaic_parts.py``); ``model`` is untouched.
    A batch norm used any other way (inside a module's own ``forward``) is left as it is. Parameters and buffers
    that are not folded are shared with ``model``, not copied (a large network costs no second copy): make a new
    copy after training ``model`` further.

    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    >>> [type(m).__name__ for m in fold_batch_norms(net)]
    ['Conv2d', 'Identity', 'ReLU']
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    shared: dict[int, object] = {id(t): t for t in (*model.parameters(), *model.buffers())}
    folded = copy.deepcopy(model, shared).eval()
    for seq in folded.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        names = list(seq._modules)
        for first, second in itertools.pairwise(names):
            conv, norm = seq._modules[first], seq._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                seq._modules[first] = fuse_conv_bn_eval(conv, norm)
                seq._modules[second] = nn.Identity()
    return folded


class ConvReLU(nn.Module):
    """A convolution and the ReLU after it, as one oneDNN call where they can be one.

    Under bfloat16 autocast on the CPU, without gradients, with oneDNN in the build, the pair runs as
    ``torch.ops.mkldnn._convolution_pointwise`` with the ReLU as the convolution's post-op (the fused kernel torch's
    own compiler emits for it; private, so a test checks it against the two steps on every torch this project pins):
    the input and weights in bf16 as autocast casts them, the same values as ``relu(conv(x))`` there, without a second
    pass over the activations. Written by hand because the measured speed asks for it: the ReLUs took about a
    quarter of a pixel network's time on this CPU (``benchmarks/bench_conv_relu.py``). Anywhere else (float32, a
    GPU, gradients, no oneDNN) it is ``relu(conv(x))``. ``conv`` is kept, not copied: its parameters stay shared.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if not fusable_conv(conv):
            raise ValueError(f"only a Conv2d with numeric padding and zero padding mode fuses with a ReLU, got {conv}")
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _fused_kernel_applies(x):
            return torch.relu(self.conv(x))
        c = self.conv
        bias = None if c.bias is None else c.bias.to(torch.bfloat16)
        out: torch.Tensor = torch.ops.mkldnn._convolution_pointwise(
            x.to(torch.bfloat16), c.weight.to(torch.bfloat16), bias, c.padding, c.stride, c.dilation, c.groups,
            "relu", [], "",
        )  # fmt: skip
        return out


def fusable_conv(module: nn.Module | None) -> TypeGuard[nn.Conv2d]:
    """Whether ``module`` is a convolution :class:`ConvReLU` can run fused: a ``Conv2d`` with numeric padding
    (not ``"same"``) and the zero padding mode."""
    return isinstance(module, nn.Conv2d) and isinstance(module.padding, tuple) and module.padding_mode == "zeros"


def _fused_kernel_applies(x: torch.Tensor) -> bool:
    return (
        x.device.type == "cpu"
        and not torch.is_grad_enabled()
        and torch.is_autocast_enabled("cpu")
        and torch.get_autocast_dtype("cpu") == torch.bfloat16
        and torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]
    )


def fuse_conv_relu(model: nn.Module) -> nn.Module:
    """``model`` with each convolution that a ``ReLU`` follows in an ``nn.Sequential`` (with only ``Identity``
    modules between them, as :func:`fold_batch_norms` leaves a folded norm) made a :class:`ConvReLU`, and that
    ``ReLU`` an ``Identity``, so every module keeps its name. In place; returns ``model`` (fuse an inference copy,
    such as :func:`fold_batch_norms` makes).

    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Identity(), nn.ReLU(), nn.Conv2d(4, 4, 3))
    >>> [type(m).__name__ for m in fuse_conv_relu(net)]
    ['ConvReLU', 'Identity', 'Identity', 'Conv2d']
    """
    for seq in list(model.modules()):
        if not isinstance(seq, nn.Sequential):
            continue
        names = list(seq._modules)
        for i, name in enumerate(names):
            conv = seq._modules[name]
            if not fusable_conv(conv):
                continue
            after = next((n for n in names[i + 1 :] if not isinstance(seq._modules[n], nn.Identity)), None)
            if after is not None and isinstance(seq._modules[after], nn.ReLU):
                seq._modules[name] = ConvReLU(conv)
                seq._modules[after] = nn.Identity()
    return model


def inference_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` for inference: each convolution folded with the batch norm after it
    (:func:`fold_batch_norms`, about 1.2x faster on this CPU) and run with its ReLU as one call where the device
    allows (:func:`fuse_conv_relu`), eval mode, channels_last. The same function as ``model`` up to float rounding;
    ``model`` itself (trainable, savable) is untouched."""
    fast = fuse_conv_relu(fold_batch_norms(model))
    # torch's stubs lack the memory_format overload of Module.to (it is accepted at run time)
    fast.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # in place, as Module.to always is
    return fast


def to_fast_input(batch: torch.Tensor, *, channels_last: bool = True) -> torch.Tensor:
    """A float N x 3 x H x W batch in the memory format :func:`fast_inference` expects."""
    if batch.ndim != 4:
        raise ValueError(f"expected an N x 3 x H x W batch, got shape {tuple(batch.shape)}")
    batch = batch.float()
    return batch.contiguous(memory_format=torch.channels_last) if channels_last else batch


def predict_logits(
    model: nn.Module, batch: torch.Tensor, *, bf16: bool = True, channels_last: bool = True
) -> torch.Tensor:
    """Crack logits (float32, N x 1) for a 0..255 batch, using channels_last and bf16 where supported."""
    with fast_inference(model, channels_last=channels_last, bf16=bf16) as fast_model:
        logits: torch.Tensor = fast_model(to_fast_input(batch.to(_device(model)), channels_last=channels_last))
    return logits.float()


def _device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _device_type(model: nn.Module) -> str:
    return _device(model).type
