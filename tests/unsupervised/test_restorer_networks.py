"""Generator, discriminator, checkerboard masks, losses and VGG-19 naming of the UP-CrackNet route."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from crackscope.errors import BadInputError
from crackscope.unsupervised.corruption import checkerboard_masks, corrupt
from crackscope.unsupervised.discriminator import PatchDiscriminator
from crackscope.unsupervised.generator import UNetGenerator, encoder_channels
from crackscope.unsupervised.inference import normalization_mode, restore_image
from crackscope.unsupervised.losses import RestorationLoss, msgms_loss, ssim
from crackscope.unsupervised.vgg19 import VGG19Features, load_vgg19


def test_generator_small_shapes_and_range():
    torch.manual_seed(0)
    g = UNetGenerator(ngf=8, n_downs=5)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = g(x)
    assert y.shape == (2, 3, 32, 32)
    assert y.min() >= -1 and y.max() <= 1
    assert g(torch.zeros(1, 3, 64, 96)).shape == (1, 3, 64, 96)  # any multiple of 2**n_downs
    with pytest.raises(ValueError, match="multiple of 32"):
        g(torch.zeros(1, 3, 40, 32))


def test_generator_paper_layout():
    g = UNetGenerator(ngf=64, n_downs=8)
    assert encoder_channels(64, 8) == [64, 128, 256, 512, 512, 512, 512, 512]
    assert [d.conv.out_channels for d in g.downs] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert all(d.conv.kernel_size == (4, 4) and d.conv.stride == (2, 2) for d in g.downs)
    has_bn = [isinstance(d.bn, nn.BatchNorm2d) for d in g.downs]
    assert has_bn == [False] + [True] * 6 + [False]  # no BN on the first and innermost
    assert isinstance(g.downs[0].act, nn.Identity) and all(isinstance(d.act, nn.LeakyReLU) for d in g.downs[1:])
    assert len(g.ups) == 8 and all(isinstance(u.deconv, nn.ConvTranspose2d) for u in g.ups)
    dropout = [isinstance(u.drop, nn.Dropout) for u in g.ups]
    assert dropout == [True] * 3 + [False] * 5
    assert [u.deconv.out_channels for u in g.ups] == [512, 512, 512, 512, 256, 128, 64, 3]
    assert [u.deconv.in_channels for u in g.ups] == [512, 1024, 1024, 1024, 1024, 512, 256, 128]  # skips
    assert sum(p.numel() for p in g.parameters()) == 54_419_459  # pix2pix unet_256


def test_discriminator_patch_logits():
    d = PatchDiscriminator(ndf=8, n_strided=3)
    a, b = torch.zeros(2, 3, 64, 64), torch.ones(2, 3, 64, 64)
    out = d(a, b)
    assert out.shape == (2, 1, 6, 6)  # a grid of patch logits
    assert d.layers[0].conv.in_channels == 6  # the (corrupted, image) pair
    paper = PatchDiscriminator(ndf=4, n_strided=3)  # paper layout, narrow: 256 px -> 30x30 patches
    assert paper(torch.zeros(1, 3, 256, 256), torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)


@pytest.mark.parametrize("size", [64, 256])
def test_six_checkerboard_masks_complementary_halves(size):
    masks = checkerboard_masks(size)
    assert masks.shape == (6, size, size)
    assert set(np.unique(masks)) == {0.0, 1.0}
    for k in range(6):
        assert masks[k].sum() == size * size / 2  # removes exactly half
    for k in (0, 2, 4):
        assert np.all(masks[k] + masks[k + 1] == 1)  # the two phases are complementary
    # square sides 1/2, 1/4, 1/8 of the image: the first row changes value every side px
    for k, frac in zip((0, 2, 4), (2, 4, 8), strict=False):
        row = masks[k][0]
        changes = np.flatnonzero(np.diff(row)) + 1
        assert list(changes) == list(range(size // frac, size, size // frac))
    assert len({m.tobytes() for m in masks}) == 6


def test_corrupt_blanks_removed_pixels_to_black():
    masks = torch.from_numpy(checkerboard_masks(32))
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    choice = torch.tensor([0, 3, 5])
    c = corrupt(x, masks, choice)
    for i, k in enumerate(choice):
        m = masks[k].bool()
        assert torch.equal(c[i][:, m], x[i][:, m])
        assert torch.all(c[i][:, ~m] == -1)


def test_losses_zero_for_identical_and_positive_otherwise():
    torch.manual_seed(0)
    a = torch.rand(2, 3, 32, 32) * 2 - 1
    b = (a + 0.3 * torch.randn_like(a)).clamp(-1, 1)
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-5)
    assert float(msgms_loss(a, a)) == pytest.approx(0.0, abs=1e-5)
    loss = RestorationLoss(VGG19Features(("relu1_1", "relu2_1")).random_init(0), style_weight=10.0)
    same, diff = loss(a, a), loss(b, a)
    assert float(same["total"]) == pytest.approx(0.0, abs=1e-4)
    for key in ("l1", "ssim", "msgms", "style"):
        assert float(diff[key]) > 0
    expected = diff["l1"] + diff["ssim"] + diff["msgms"] + 10 * diff["style"]
    assert float(diff["total"]) == pytest.approx(float(expected))
    off = RestorationLoss(None)(b, a)
    assert float(off["style"]) == 0.0


# torchvision's vgg19().features: conv layers at these indices, (out, in) channels
TORCHVISION_VGG19_CONVS = {
    0: (64, 3),
    2: (64, 64),
    5: (128, 64),
    7: (128, 128),
    10: (256, 128),
    12: (256, 256),
    14: (256, 256),
    16: (256, 256),
    19: (512, 256),
    21: (512, 512),
    23: (512, 512),
    25: (512, 512),
    28: (512, 512),
    30: (512, 512),
    32: (512, 512),
    34: (512, 512),
}


def test_vgg19_parameter_names_match_torchvision(tmp_path):
    net = VGG19Features(("relu5_4",))  # the whole of torchvision's features
    state = net.state_dict()
    expected = {f"features.{i}.{p}" for i in TORCHVISION_VGG19_CONVS for p in ("weight", "bias")}
    assert set(state) == expected
    for i, (c_out, c_in) in TORCHVISION_VGG19_CONVS.items():
        assert tuple(state[f"features.{i}.weight"].shape) == (c_out, c_in, 3, 3)
    # a torchvision-style file (features + classifier keys) loads into it unchanged
    fake = {k: torch.full_like(v, 0.5) for k, v in state.items()}
    fake["classifier.0.weight"] = torch.zeros(2, 2)
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(fake, path)
    loaded = load_vgg19(path)  # the paper's style layers: relu2_2 .. relu5_2 (features up to index 31)
    assert set(loaded.state_dict()) == {k for k in expected if int(k.split(".")[1]) <= 30}
    assert torch.all(loaded.state_dict()["features.30.weight"] == 0.5)
    assert set(load_vgg19(path, layers=("relu5_4",)).state_dict()) == expected


def test_vgg19_missing_or_wrong_weights_are_bad_input(tmp_path):
    with pytest.raises(BadInputError, match=r"vgg19-dcbb9e9d.pth"):
        load_vgg19(tmp_path / "nope.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, wrong)
    with pytest.raises(BadInputError, match=r"vgg19-dcbb9e9d.pth"):
        load_vgg19(wrong)


def _trained_like_generator() -> UNetGenerator:
    torch.manual_seed(0)
    g = UNetGenerator(ngf=8, n_downs=5)
    for m in g.modules():  # running averages far from any batch's statistics, as after training
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.fill_(3.0)
            m.running_var.fill_(9.0)
    return g


def test_normalization_mode_batch_statistics_leave_the_model_untouched():
    g = _trained_like_generator()
    g.train()
    before = {k: v.clone() for k, v in g.state_dict().items()}
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    with normalization_mode(g, "batch"), torch.no_grad():
        assert not any(m.training for m in g.modules() if isinstance(m, nn.Dropout))
        batch_out = g(x)
        assert torch.equal(batch_out, g(x))  # deterministic: dropout off
    assert g.training  # state restored
    assert all(torch.equal(before[k], v) for k, v in g.state_dict().items())  # running averages untouched
    with normalization_mode(g, "running"), torch.no_grad():
        running_out = g(x)
    g.eval()
    with torch.no_grad():
        assert torch.equal(running_out, g(x))  # "running" is plain eval mode
    # batch statistics: each sample's output depends on the other samples in the batch
    with normalization_mode(g, "batch"), torch.no_grad():
        assert not torch.allclose(g(x[:2])[0], batch_out[0])
    assert not torch.allclose(batch_out, running_out)
    with pytest.raises(ValueError, match="normalization"), normalization_mode(g, "instance"):
        pass


def test_restore_image_is_deterministic_and_sized():
    g = _trained_like_generator()
    img = (np.random.default_rng(0).random((40, 70, 3)) * 255).astype(np.uint8)
    a = restore_image(g, img, tile=32, batch_size=4)
    b = restore_image(g, img, tile=32, batch_size=4)
    assert a.shape == img.shape and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, restore_image(g, img, tile=32, batch_size=4, normalization="running"))


class _EdgeBlind(nn.Module):
    """Restores a tile perfectly except its outer 2 px, which come out black (a generator's weak tile edges)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        out[..., :2, :] = out[..., -2:, :] = -1.0
        out[..., :, :2] = out[..., :, -2:] = -1.0
        return out


def test_restore_image_gives_the_photo_border_context():
    img = np.full((40, 70, 3), 200, np.uint8)
    frame = np.ones((40, 70), bool)
    frame[2:-2, 2:-2] = False

    def border_error(restored: np.ndarray) -> float:
        return float(np.abs(restored.astype(float) - img)[frame].mean())

    blind = restore_image(_EdgeBlind(), img, tile=32, normalization="running")  # the default: no context
    seen = restore_image(_EdgeBlind(), img, tile=32, edge_context=8, normalization="running")
    assert blind.shape == seen.shape == img.shape
    assert border_error(blind) > 100 and border_error(seen) < 5
    with pytest.raises(ValueError, match="edge_context"):
        restore_image(_EdgeBlind(), img, tile=32, edge_context=-1)
