"""The engine's promises: hooks always removed, train/eval state restored, no parameter gradients, no growth."""

from __future__ import annotations

import gc

import pytest
import torch
from torch import nn

from crackscope.cam import METHODS, create_cam, explain
from crackscope.models import create_model
from tests.cam.handnets import PATTERN, HandNet, pattern_batch


class Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


class CountingNet(nn.Module):
    """Tiny net that counts forward passes and records whether it ran in training mode."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4, 1)
        self.calls = 0
        self.seen_training: list[bool] = []

    def forward(self, x):
        self.calls += 1
        self.seen_training.append(self.training)
        a = self.drop(torch.relu(self.conv(x / 255.0)))
        return self.fc(a.mean((2, 3)))


def all_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


@pytest.mark.parametrize("method", ["gradcam", "scorecam"])
def test_hooks_come_off_on_exception_and_state_is_restored(method):
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), Boom())
    model.train()
    model[1].eval()  # a mixed state must come back exactly
    with pytest.raises(RuntimeError, match="boom"):
        explain(model, torch.rand(2, 3, 16, 16) * 255, method=method, layer="1")
    assert all_hooks(model) == 0
    assert model[1]._forward_hooks == {}
    assert [m.training for m in model] == [True, False, True]
    assert torch.is_grad_enabled()


def test_runs_in_eval_mode_restores_train_mode_and_makes_one_forward_pass():
    model = CountingNet().train()
    e = explain(model, torch.rand(3, 3, 16, 16) * 255, method="gradcam++", layer="conv")
    assert model.calls == 1  # predictions and maps from a single forward pass
    assert model.seen_training == [False]  # dropout off while explaining
    assert model.training and model.drop.training
    assert e.maps.shape == (3, 16, 16) and e.logits.shape == (3,)


def test_scorecam_batches_its_masked_passes():
    model = CountingNet()
    x = torch.rand(3, 3, 16, 16) * 255
    small = explain(model, x, method="scorecam", layer="conv", chunk_size=5)
    calls_small = model.calls
    model.calls = 0
    big = explain(model, x, method="scorecam", layer="conv", chunk_size=64)
    assert calls_small == 1 + 3  # one forward, then 3 x 4 = 12 masked images in chunks of 5 (no baseline pass)
    assert model.calls == 1 + 1
    torch.testing.assert_close(torch.from_numpy(small.maps), torch.from_numpy(big.maps), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_no_parameter_gradients_no_hooks_no_graph(method):
    torch.manual_seed(0)
    model = create_model("tiny")
    x = torch.rand(2, 3, 32, 32) * 255
    assert not x.requires_grad
    e = explain(model, x, method=method)
    assert all(p.grad is None for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())
    assert all_hooks(model) == 0
    assert e.maps.dtype == "float32" and e.normalised.dtype == "float32"
    assert torch.is_grad_enabled()


def test_frozen_model_still_explains_and_matches():
    model = HandNet()
    x = pattern_batch(PATTERN)
    before = explain(model, x, method="gradcam", layer="features").layer_maps
    for p in model.parameters():
        p.requires_grad_(False)
    after = explain(model, x, method="gradcam", layer="features").layer_maps
    assert (before == after).all()
    with torch.no_grad():  # also when the caller is inside no_grad
        inside = explain(model, x, method="gradcam", layer="features").layer_maps
    assert (inside == after).all()


def test_inplace_relu_after_the_target_layer():
    model = nn.Sequential(
        nn.Conv2d(3, 1, 1, bias=False), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, 1)
    )
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].weight[0, 0] = 1.0
        model[4].weight.fill_(2.0)
    pattern = PATTERN - 1.0  # some negative pre-ReLU activations
    e = explain(model, pattern_batch(pattern), method="hirescam", layer="0", normalise="none")
    # pre-ReLU activation A, gradient 2/16 where A > 0 else 0
    expected = torch.relu(pattern) * (2.0 / 16)
    torch.testing.assert_close(torch.from_numpy(e.layer_maps[0]), expected, atol=1e-6, rtol=1e-6)


def test_no_growth_over_many_batches():
    torch.manual_seed(0)
    model = create_model("tiny")
    extractor = create_cam("gradcam++", model)
    x = torch.rand(4, 3, 32, 32) * 255

    def live_tensors() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if issubclass(type(o), torch.Tensor))

    extractor(x)  # warm-up (layer choice cached)
    before = live_tensors()
    for _ in range(10):
        extractor(x)
    assert live_tensors() <= before
    assert all_hooks(model) == 0


def test_classic_cam_refuses_heads_that_are_not_gap_linear():
    torch.manual_seed(0)
    mlp_head = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 8),
        nn.ReLU(),
        nn.Linear(8, 1),
    )
    with pytest.raises(ValueError, match="global average pooling"):
        explain(mlp_head, torch.rand(2, 3, 16, 16) * 255, method="cam", layer="1")
    max_pooled = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(4, 1)
    )
    with pytest.raises(ValueError, match="global-average-pool"):
        explain(max_pooled, torch.rand(2, 3, 16, 16) * 255, method="cam", layer="1")


def test_bad_arguments():
    model = create_model("tiny")
    x = torch.rand(1, 3, 32, 32) * 255
    with pytest.raises(ValueError, match="unknown CAM method"):
        explain(model, x, method="gradcam+++")
    with pytest.raises(ValueError, match="target"):
        explain(model, x, target="cracked")
    with pytest.raises(ValueError, match="normalise"):
        explain(model, x, normalise="global")
    with pytest.raises(ValueError, match="precision"):
        explain(model, x, precision="fp16")
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        explain(model, x[0])
    with pytest.raises(ValueError, match="did you mean"):
        explain(model, x, layer="features.44")


def test_bf16_forward_gives_float32_maps_close_to_fp32(trained_tiny):
    from tests.cam.helpers import SIZE, synthetic_batch

    x, _, _ = synthetic_batch(4, SIZE, seed=5)
    full = explain(trained_tiny, x, method="gradcam++")
    half = explain(trained_tiny, x, method="gradcam++", precision="bf16")
    assert half.maps.dtype == "float32"
    for a, b in zip(full.normalised, half.normalised, strict=False):
        assert torch.corrcoef(torch.stack([torch.from_numpy(a).flatten(), torch.from_numpy(b).flatten()]))[0, 1] > 0.9


def test_adding_a_method_is_one_weight_function():
    from crackscope.cam import METHODS, CamMethod

    class GradTimesMeanActivation(CamMethod):  # a made-up method, for the test only
        name = "test-grad-x-mean"

        def weights(self, inputs):
            return inputs.gradients.mean((2, 3)) * inputs.activations.mean((2, 3))

    try:
        assert METHODS["test-grad-x-mean"] is GradTimesMeanActivation
        e = explain(HandNet(), pattern_batch(PATTERN), method="test-grad-x-mean", layer="features", normalise="none")
        expected = (2.0 / 16) * PATTERN.mean() * PATTERN
        torch.testing.assert_close(torch.from_numpy(e.layer_maps[0]), expected, atol=1e-6, rtol=1e-6)
    finally:
        METHODS.pop("test-grad-x-mean", None)
    assert sorted(METHODS) == sorted(
        ["cam", "gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "scorecam", "eigencam"]
    )
