"""Pixel-model inference: the tiny network, tiled prediction, ensembles, stored mask settings, masks from it."""

from __future__ import annotations

import numpy as np
import pytest

from crackscope.maps.pixel_model import (
    PixelEnsemble,
    PixelModel,
    make_pixel_net,
    pixel_model_refine_options,
    refine_with_pixel_model,
)
from crackscope.maps.refine import RefineOptions
from tests.models.helpers import randomize_batch_norms


def test_ensemble_predicts_the_mean_and_stored_mask_settings_win():
    class Const:
        def __init__(self, value, config):
            self.value, self.config, self.source = value, config, f"m{value}"

        def predict(self, image, **kw):
            return np.full(image.shape[:2], self.value, np.float32)

    refine = RefineOptions(min_size=7).as_dict()
    mask = RefineOptions(min_size=3, region_level=0.0, region_dilation=0).as_dict()
    ens = PixelEnsemble([Const(0.2, {"refine": refine, "mask": mask}), Const(0.6, {"refine": refine})])
    img = np.zeros((4, 6, 3), np.uint8)
    assert np.allclose(ens.predict(img), 0.4) and ens.source == "m0.2,m0.6"
    assert pixel_model_refine_options(ens).min_size == 3  # the first model's stored mask settings
    assert pixel_model_refine_options(ens.models[1]).min_size == 7  # no mask settings: the pseudo-label ones
    assert pixel_model_refine_options(Const(0.1, {})) is None
    with pytest.raises(ValueError):
        PixelEnsemble([])


def test_pixel_net_shapes_and_tiled_prediction_match():
    import torch

    net = make_pixel_net(4)
    assert net(torch.zeros(2, 3, 32, 48)).shape == (2, 1, 32, 48)

    model = PixelModel(net, {"width": 4})
    img = np.random.default_rng(0).integers(0, 255, (64, 64, 3)).astype(np.uint8)
    whole = model.predict(img, tile=512, margin=32)
    tiled = model.predict(img, tile=48, margin=8)  # 4 tiles of 40 x 40 px
    assert whole.shape == (64, 64) and whole.dtype == np.float32
    assert np.abs(whole - tiled).max() < 0.05  # tiles with margins agree with one pass away from the borders
    with pytest.raises(ValueError):
        model.predict(img[..., 0])


def test_half_max_sets_the_width_of_the_pixel_models_mask():
    rng = np.random.default_rng(0)
    img = rng.integers(140, 146, (48, 64, 3)).astype(np.uint8)
    img[22:25, 4:60] = 30  # a 3 px crack
    prob = np.zeros((48, 64), np.float32)
    prob[16:31, :] = 0.9  # the model marks a 15 px band around it
    cam = np.ones((48, 64), np.float32)
    opts = RefineOptions(radii=(3, 6), blur=1.0, contrast=200.0, min_size=0)
    _, wide = refine_with_pixel_model(img, cam, None, options=opts, probability=prob)
    _, thin = refine_with_pixel_model(img, cam, None, options=opts.with_(half_max=0.5), probability=prob)
    assert wide.sum() == 15 * 64 and thin[22:25, 8:56].all()
    assert thin.sum() <= 6 * 64 and not (thin & ~wide).any()


def test_fused_inference_copy_computes_the_same_function():
    import torch

    from crackscope.models.speed import inference_copy

    torch.manual_seed(0)
    net = make_pixel_net(4)
    randomize_batch_norms(net)  # non-trivial batch-norm statistics, so the folding is exercised
    net.eval()
    x = torch.rand(1, 3, 32, 40) * 255
    fused = inference_copy(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # the original is untouched
    with torch.no_grad():
        assert torch.allclose(net(x), fused(x), atol=1e-4)


@pytest.mark.parametrize(("length", "tile", "margin"), [(70, 48, 8), (64, 64, 8), (1000, 256, 32), (9, 48, 8)])
def test_even_cores_cover_the_side_once_in_equal_crops(length, tile, margin):
    from crackscope.maps.pixel_model import _even_cores

    cores, size = _even_cores(length, tile, margin)
    covered = np.zeros(length, int)
    for a, b in cores:
        covered[a:b] += 1
    assert (covered == 1).all()
    assert size % 8 == 0 and (size <= tile or len(cores) == 1)
    assert all(b - a + (margin if a else 0) <= size for a, b in cores)  # a core and its leading margin fit a crop


def test_tiled_prediction_of_an_odd_sized_photo_matches_one_pass():
    model = PixelModel(make_pixel_net(4), {"width": 4})
    img = np.random.default_rng(1).integers(0, 255, (70, 90, 3)).astype(np.uint8)
    whole = model.predict(img, tile=512, margin=32)
    tiled = model.predict(img, tile=48, margin=12)
    assert tiled.shape == (70, 90)
    assert np.abs(whole - tiled).max() < 0.05


def _faint_crack_beside_texture() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(photo, probability, crack): a faint 1 px crack along row 30 with dark pores 3 px above it every 12 px; the
    pixel model marks the crack alone."""
    img = np.full((60, 120, 3), 200, np.uint8)
    img[30, 6:114] = 185  # the crack, 15 grey levels deep
    for x in range(10, 114, 12):
        img[26:28, x : x + 2] = 120  # pores, much darker, beside it
    crack = np.zeros((60, 120), bool)
    crack[30, 6:114] = True
    return img, np.where(crack, np.float32(0.9), np.float32(0.0)), crack


def test_width_rule_last_keeps_a_faint_crack_the_rule_splits():
    img, prob, crack = _faint_crack_beside_texture()
    cam = np.ones(prob.shape, np.float32)
    opts = RefineOptions(radii=(3, 6), blur=1.0, contrast=80.0, min_size=30, half_max=0.6, half_max_radius=3)
    _, first = refine_with_pixel_model(img, cam, None, options=opts, probability=prob)
    assert not first.any()  # split beside each pore into pieces below min_size, and dropped
    _, last = refine_with_pixel_model(img, cam, None, options=opts.with_(width_rule_last=True), probability=prob)
    assert last.any() and not (last & ~crack).any()
    assert 0.3 * crack.sum() < last.sum() < crack.sum()  # the pieces between the pores, not the whole line
    specks = opts.with_(width_rule_last=True, trimmed_min_size=last.sum())
    _, fewer = refine_with_pixel_model(img, cam, None, options=specks, probability=prob)
    assert not fewer.any()  # every trimmed piece is smaller than the whole


def test_hysteresis_joins_a_fainter_stretch_to_the_crack():
    img, prob, crack = _faint_crack_beside_texture()
    prob[30, 60:114] = 0.3  # the model is less sure of the crack's right half
    cam = np.ones(prob.shape, np.float32)
    opts = RefineOptions(radii=(3, 6), contrast=80.0, min_size=0, pixel_threshold=0.5)
    _, plain = refine_with_pixel_model(img, cam, None, options=opts, probability=prob)
    _, joined = refine_with_pixel_model(img, cam, None, options=opts.with_(hysteresis=0.5), probability=prob)
    assert plain.sum() == 54 and np.array_equal(joined, crack)
    prob[30, 59] = 0.0  # cut off from the confident half, the faint one stays out
    _, cut = refine_with_pixel_model(img, cam, None, options=opts.with_(hysteresis=0.5), probability=prob)
    assert cut.sum() == 53


def test_joining_never_loses_a_crack_to_the_shape_rule():
    img = np.full((60, 120, 3), 200, np.uint8)
    img[30, 50:70] = 150  # a short crack
    crack = np.zeros((60, 120), bool)
    crack[30, 50:70] = True
    prob = np.where(crack, np.float32(0.9), np.float32(0.0))
    prob[20:41, 45:76] = np.maximum(prob[20:41, 45:76], 0.3)  # the models' doubt smeared into a patch around it
    cam = np.ones(prob.shape, np.float32)
    opts = RefineOptions(radii=(3, 6), contrast=80.0, min_size=10, max_fill=0.4, pixel_threshold=0.5)
    opts = opts.with_(width_rule_last=True)
    _, plain = refine_with_pixel_model(img, cam, None, options=opts, probability=prob)
    assert np.array_equal(plain, crack)
    joined_opts = opts.with_(hysteresis=0.5)
    grown = refine_with_pixel_model(img, cam, None, options=joined_opts.with_(max_fill=None), probability=prob)[1]
    assert grown.sum() == 21 * 31  # joined to the patch around it, the crack is a blob the shape rule drops...
    _, joined = refine_with_pixel_model(img, cam, None, options=joined_opts, probability=prob)
    assert np.array_equal(joined, crack)  # ...and its pixels at the threshold stay, judged on their own


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_halving_by_max_gives_torchs_pooling_values(dtype):
    import torch
    from torch.nn import functional as F

    from crackscope.maps.pixel_model import halve_by_max

    torch.manual_seed(1)
    x = torch.randn(2, 5, 12, 18).to(getattr(torch, dtype)).contiguous(memory_format=torch.channels_last)
    x[0, 0, 0, :2] = 7.0  # a tie inside one window
    with torch.no_grad():
        assert torch.equal(halve_by_max(x), F.max_pool2d(x, 2))
        odd = x[..., :11, :]  # odd height: torch's pooling (the last row dropped)
        assert torch.equal(halve_by_max(odd), F.max_pool2d(odd, 2))
    grad = x.float().requires_grad_()
    halve_by_max(grad).sum().backward()  # with gradients: torch's pooling, one element of a tie gets it
    assert grad.grad is not None and grad.grad[0, 0, 0, :2].tolist() in ([1.0, 0.0], [0.0, 1.0])


def test_a_trained_like_network_predicts_the_same_with_torchs_pooling(monkeypatch):
    """The fast pooling changes no probability of a prediction (bf16 where the CPU runs it)."""
    import torch
    from torch.nn import functional as F

    import crackscope.maps.pixel_model as pixel_model

    torch.manual_seed(0)
    net = make_pixel_net(4)
    randomize_batch_norms(net)
    image = (np.random.default_rng(0).random((90, 140, 3)) * 255).astype(np.uint8)
    fast = PixelModel(net, {}).predict(image, tile=64, margin=8)
    monkeypatch.setattr(pixel_model, "halve_by_max", lambda x: F.max_pool2d(x, 2))
    assert np.array_equal(PixelModel(net, {}).predict(image, tile=64, margin=8), fast)


def test_a_network_predicts_the_same_with_its_convolutions_and_relus_fused(monkeypatch):
    """Running each convolution with its ReLU as one call changes no probability (bf16 where the CPU runs it)."""
    import crackscope.models.speed as speed
    from crackscope.models.speed import ConvReLU

    net = make_pixel_net(4)
    randomize_batch_norms(net)
    image = (np.random.default_rng(1).random((90, 140, 3)) * 255).astype(np.uint8)
    model = PixelModel(net, {})
    fast = model.predict(image, tile=64, margin=8)
    assert sum(isinstance(m, ConvReLU) for m in model._fast.modules()) == 14  # two in each of the seven blocks
    monkeypatch.setattr(speed, "fuse_conv_relu", lambda net: net)
    two_steps = PixelModel(net, {})
    assert np.array_equal(two_steps.predict(image, tile=64, margin=8), fast)
    assert not any(isinstance(m, ConvReLU) for m in two_steps._fast.modules())  # the copy really ran unfused
