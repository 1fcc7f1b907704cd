"""The inference helpers of crackscope.models.speed that the architecture tests do not cover: ConvReLU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from crackscope.models import speed
from crackscope.models.speed import ConvReLU, bf16_supported, fuse_conv_relu

needs_bf16 = pytest.mark.skipif(not bf16_supported("cpu"), reason="this CPU runs no native bf16 autocast")


def _conv(cin: int, cout: int, **kwargs: object) -> nn.Conv2d:
    torch.manual_seed(cin * 10 + cout)
    conv = nn.Conv2d(cin, cout, 3, **kwargs)  # type: ignore[arg-type]
    conv.weight.data.normal_(0, 0.3)  # weights of both signs, so the ReLU cuts
    return conv.eval()


def test_fuse_conv_relu_fuses_only_a_plain_conv_then_a_relu_and_keeps_the_names():
    net = nn.Sequential(
        _conv(3, 4, padding=1),
        nn.Identity(),  # a folded batch norm between them
        nn.ReLU(),
        _conv(4, 4, padding="same"),  # a string padding: not fused
        nn.ReLU(),
        _conv(4, 4, padding=1, padding_mode="reflect"),  # another padding mode: not fused
        nn.ReLU(),
        _conv(4, 4, padding=1),
        nn.BatchNorm2d(4),  # not folded: the ReLU does not follow the conv
        nn.ReLU(),
    )
    names = [n for n, _ in net.named_modules()]
    fused = fuse_conv_relu(net)
    assert [type(m).__name__ for m in fused] == [
        "ConvReLU", "Identity", "Identity", "Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU"
    ]  # fmt: skip
    assert [n for n, _ in fused.named_modules()] == [*names[:2], "0.conv", *names[2:]]


def test_conv_relu_refuses_a_conv_it_cannot_fuse():
    with pytest.raises(ValueError, match="padding"):
        ConvReLU(_conv(3, 4, padding="same"))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("layout", [{"padding": 1}, {"padding": 2, "stride": 2, "dilation": 2, "groups": 2}])
def test_conv_relu_gives_the_two_steps_values_in_float32_and_in_bf16(bias, layout):
    conv = _conv(4, 6, bias=bias, **layout)
    fused = ConvReLU(conv)
    x = (torch.randn(2, 4, 21, 30) * 2).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        assert torch.equal(fused(x), torch.relu(conv(x)))  # float32: the two steps themselves
    if bf16_supported("cpu"):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            assert speed._fused_kernel_applies(x)  # the fused kernel runs here, not the two steps
            one, two = fused(x), torch.relu(conv(x))
        assert one.dtype == two.dtype == torch.bfloat16 and (one > 0).any() and (one == 0).any()
        assert torch.equal(one, two)  # the fused kernel, bit for bit


@needs_bf16
def test_conv_relu_with_gradients_takes_the_two_steps():
    conv = _conv(3, 4, padding=1)
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ConvReLU(conv)(x)
    out.float().sum().backward()
    assert x.grad is not None and conv.weight.grad is not None


@pytest.mark.parametrize(
    ("name", "pairs"),
    [
        ("crackfast", 6),
        ("crackfast-mixstyle", 6),
        ("resnet50", 0),
        ("seed-baseline", 7),
        ("seed-v3", 0),
        ("simple-cnn", 3),
        ("vgg16", 13),
    ],
)
def test_every_kind_of_network_keeps_its_function_folded_and_fused(name, pairs):
    from crackscope.models import create_model
    from crackscope.models.speed import fold_batch_norms
    from tests.models.helpers import randomize_batch_norms

    torch.manual_seed(0)
    model = randomize_batch_norms(create_model(name)).eval()
    folded = fold_batch_norms(model)
    fast = fuse_conv_relu(fold_batch_norms(model))
    assert sum(isinstance(m, ConvReLU) for m in fast.modules()) == pairs  # a conv, a folded norm, a ReLU in a row
    x = (torch.rand(2, 3, 64, 64) * 255).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        reference = model(x)
        assert torch.allclose(fast(x), reference, atol=1e-4 * (1 + reference.abs().max().item()))
    if bf16_supported("cpu"):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.equal(fast(x), folded(x))  # fusing changes no value; folding only the rounding
