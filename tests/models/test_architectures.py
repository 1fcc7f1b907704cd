"""Network definitions: exact seed parameter counts, shapes, torchvision names, weight loading, speed helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from crackscope.errors import BadInputError
from crackscope.models import DEFAULT_MODEL, create_model, get_model_info, list_models
from crackscope.models.classic import VGG16_CFG
from crackscope.models.seed import build_baseline, build_v2, build_v3, keras_parameter_count, l2_penalty_loss
from crackscope.models.speed import predict_logits
from crackscope.models.weights import load_pretrained
from tests.models.helpers import randomize_batch_norms


@pytest.fixture(scope="module")
def vgg() -> nn.Module:
    return create_model("vgg16").eval()


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    return create_model("resnet50").eval()


# --- seed models ---------------------------------------------------------------------------------


def test_seed_parameter_counts_match_keras() -> None:
    assert keras_parameter_count(build_baseline()) == (599_585, 599_137)
    assert keras_parameter_count(build_v3()) == (1_180_801, 1_178_881)
    v2 = keras_parameter_count(build_v2())
    print(f"seed-v2 (Dense 16 as in the study's code): total {v2[0]:,}, trainable {v2[1]:,}")
    # Dense 16 instead of the Baseline's Dense 64: 256*48 + 48 fewer weights in fc1, 48 fewer in fc2.
    assert v2 == (599_585 - 48 * 256 - 48 - 48, 599_137 - 48 * 256 - 48 - 48)


def test_seed_keras_semantics() -> None:
    v3 = build_v3()
    bns = [m for m in v3.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(b.eps == 1e-3 and b.momentum == pytest.approx(0.01) for b in bns)
    convs = [m for m in v3.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is None for c in convs)
    assert convs[0].kernel_size == (5, 5) and convs[-1].dilation == (2, 2)
    assert any(isinstance(m, nn.AvgPool2d) for m in v3.modules())
    assert not any(isinstance(m, nn.MaxPool2d) for m in v3.modules())
    # V2's first conv is "valid": a 64 px input shrinks to 62 before the first pool.
    v2 = build_v2().eval()
    assert v2.features.conv1.padding == (0, 0)
    assert [c.dilation for c in v2.modules() if isinstance(c, nn.Conv2d) and c.out_channels == 128] == [(2, 2)] * 2


def test_l2_penalty_covers_v3_kernels_only() -> None:
    v3 = build_v3()
    params = dict(v3.named_parameters())
    names = set(v3.l2_penalty)
    conv_kernels = {n for n, p in params.items() if n.startswith("features.conv") and p.ndim == 4}
    assert names == conv_kernels | {"head.fc1.weight"}
    assert len(conv_kernels) == 8 and set(v3.l2_penalty.values()) == {1e-5}
    expected = sum(1e-5 * params[n].pow(2).sum() for n in names)
    assert torch.allclose(l2_penalty_loss(v3), expected)
    assert build_baseline().l2_penalty == {} and float(l2_penalty_loss(build_baseline())) == 0.0


@pytest.mark.parametrize(
    ("name", "optimizer", "lr", "smoothing", "epochs", "patience", "augment"),
    [
        ("seed-baseline", "adam", 1e-3, 0.0, 30, 5, "none"),
        ("seed-v2", "sgd", 1e-3, 0.0, 30, 5, "none"),
        ("seed-v3", "sgd", 1e-2, 0.05, 30, 5, "none"),
        ("seed-v3-aug", "sgd", 1e-2, 0.05, 75, 15, "keras-v3"),
    ],
)
def test_seed_recipes(
    name: str, optimizer: str, lr: float, smoothing: float, epochs: int, patience: int, augment: str
) -> None:
    r = get_model_info(name).recipe
    assert (r.optimizer, r.lr, r.label_smoothing, r.epochs, r.patience, r.augment) == (
        optimizer, lr, smoothing, epochs, patience, augment,
    )  # fmt: skip
    assert r.image_size == 256 and r.monitor == "val_loss" and r.weight_decay == 0.0


def test_seed_models_rescale_inside() -> None:
    torch.manual_seed(0)
    model = build_baseline().eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        # Rescaling(1/255) is the first layer: feeding 0..255 equals feeding 0..1 to the layers after it.
        assert torch.allclose(model(x * 255), model.head(torch.flatten(model.pool(model.features(x)), 1)), atol=1e-5)


# --- every registered model ----------------------------------------------------------------------


def test_every_model_returns_one_logit(vgg: nn.Module, resnet: nn.Module) -> None:
    prebuilt = {"vgg16": vgg, "resnet50": resnet}
    names = [info.name for info in list_models()]
    expected = {"seed-baseline", "seed-v2", "seed-v3", "seed-v3-aug", "simple-cnn", "vgg16", "resnet50", DEFAULT_MODEL}
    assert expected <= set(names)
    for name in names:
        model = prebuilt.get(name) or create_model(name).eval()
        size = 32 if name in prebuilt else 48
        with torch.no_grad():
            out = model(torch.rand(1, 3, size, size) * 255)
        assert out.shape == (1, 1), name
        assert torch.isfinite(out).all(), name


def test_classic_backbones_reject_tiny_inputs(resnet: nn.Module) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        resnet(torch.zeros(1, 3, 16, 40))


def test_fast_default_keeps_stride_8() -> None:
    model = create_model(DEFAULT_MODEL).eval()
    assert get_model_info(DEFAULT_MODEL).recipe.optimizer == "adamw"
    seen: dict[str, tuple[int, ...]] = {}
    model.features.last.register_forward_hook(lambda _m, _i, out: seen.update(shape=tuple(out.shape)))
    with torch.no_grad():
        model(torch.rand(2, 3, 128, 96) * 255)
    _, channels, h, w = seen["shape"]
    assert 128 / h <= 8 and 96 / w <= 8 and channels >= 48
    # ... and it is the last spatial layer: nothing between it and the pooling.
    last_conv = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)][-1]
    assert last_conv.startswith("features.last")


# --- torchvision names and weights ---------------------------------------------------------------


def torchvision_vgg16_shapes() -> dict[str, tuple[int, ...]]:
    """torchvision ``vgg16`` state-dict keys and shapes (1000-class head), written from its definition."""
    shapes: dict[str, tuple[int, ...]] = {}
    index, cin = 0, 3
    for v in VGG16_CFG:
        if v == "M":
            index += 1
            continue
        shapes[f"features.{index}.weight"] = (v, cin, 3, 3)
        shapes[f"features.{index}.bias"] = (v,)
        index, cin = index + 2, v
    for i, (fin, fout) in zip((0, 3, 6), ((25088, 4096), (4096, 4096), (4096, 1000)), strict=False):
        shapes[f"classifier.{i}.weight"] = (fout, fin)
        shapes[f"classifier.{i}.bias"] = (fout,)
    return shapes


def torchvision_resnet50_shapes(*, batches_tracked: bool = True) -> dict[str, tuple[int, ...]]:
    """torchvision ``resnet50`` state-dict keys and shapes (1000-class head), written from its definition."""
    shapes: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, c: int) -> None:
        for part in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{part}"] = (c,)
        if batches_tracked:
            shapes[f"{prefix}.num_batches_tracked"] = ()

    shapes["conv1.weight"] = (64, 3, 7, 7)
    bn("bn1", 64)
    cin = 64
    for layer, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=False), start=1):
        for b in range(blocks):
            p = f"layer{layer}.{b}"
            shapes[f"{p}.conv1.weight"] = (width, cin, 1, 1)
            bn(f"{p}.bn1", width)
            shapes[f"{p}.conv2.weight"] = (width, width, 3, 3)
            bn(f"{p}.bn2", width)
            shapes[f"{p}.conv3.weight"] = (width * 4, width, 1, 1)
            bn(f"{p}.bn3", width * 4)
            if b == 0:
                shapes[f"{p}.downsample.0.weight"] = (width * 4, cin, 1, 1)
                bn(f"{p}.downsample.1", width * 4)
            cin = width * 4
    shapes["fc.weight"] = (1000, 2048)
    shapes["fc.bias"] = (1000,)
    return shapes


@pytest.mark.parametrize(("fixture", "expected", "head"), [
    ("vgg", torchvision_vgg16_shapes, "classifier.6"),
    ("resnet", torchvision_resnet50_shapes, "fc"),
])  # fmt: skip
def test_torchvision_names_and_shapes(request: pytest.FixtureRequest, fixture: str, expected, head: str) -> None:
    ours = {k: tuple(v.shape) for k, v in request.getfixturevalue(fixture).state_dict().items()}
    theirs = expected()
    assert list(ours) == list(theirs)  # same names, same order
    for key, shape in theirs.items():
        if key.startswith(head + "."):
            assert ours[key] == (1, *shape[1:])  # the single crack logit
        else:
            assert ours[key] == shape, key


def _synthetic_state(shapes: dict[str, tuple[int, ...]], value: float) -> dict[str, torch.Tensor]:
    # Broadcast views of a single element: a tiny file that still has every key and full shape.
    return {k: torch.full((1,), value).expand(s) if s else torch.tensor(0) for k, s in shapes.items()}


def test_imagenet_files_load_except_the_head(tmp_path: Path, vgg: nn.Module, resnet: nn.Module) -> None:
    for model, name, shapes, head in (
        (resnet, "resnet50", torchvision_resnet50_shapes(batches_tracked=False), ("fc.weight", "fc.bias")),
        (vgg, "vgg16", torchvision_vgg16_shapes(), ("classifier.6.weight", "classifier.6.bias")),
    ):
        path = tmp_path / f"{name}.pth"
        torch.save(_synthetic_state(shapes, 0.25), path)
        head_before = model.state_dict()[head[0]].clone()
        report = load_pretrained(model, path, model_name=name)
        assert report.dropped == head and not report.missing and not report.unexpected
        state = model.state_dict()
        assert all(torch.all(state[k] == 0.25) for k in report.loaded if not k.endswith("num_batches_tracked"))
        assert torch.equal(state[head[0]], head_before) and state[head[0]].shape[0] == 1


def test_missing_weights_name_the_official_file(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"vgg16-397923af\.pth"):
        load_pretrained(nn.Linear(1, 1), tmp_path / "nope.pth", model_name="vgg16")
    with pytest.raises(BadInputError, match=r"resnet50-0676ba61\.pth.*resnet50-11ad3fa6\.pth") as info:
        create_model("resnet50", weights=str(tmp_path / "resnet50.pth"))
    assert info.value.path == tmp_path / "resnet50.pth"
    assert "download.pytorch.org/models/" in str(info.value)


def test_wrong_or_partial_weights_are_reported(tmp_path: Path) -> None:
    source = create_model("crackfast-s")
    path = tmp_path / "small.pth"
    torch.save(source.state_dict(), path)
    with pytest.raises(BadInputError, match=r"weights do not fit 'simple-cnn'.*unexpected: features.stem"):
        load_pretrained(create_model("simple-cnn"), path, model_name="simple-cnn")
    other = tmp_path / "other.pt"
    torch.save({"encoder.weight": torch.zeros(3)}, other)
    with pytest.raises(BadInputError, match="no tensor matches the 'crackfast-s' architecture"):
        load_pretrained(create_model("crackfast-s"), other, model_name="crackfast-s", strict=False)
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"x")
    with pytest.raises(BadInputError, match=r"unsupported weights format \.ckpt"):
        load_pretrained(source, ckpt, model_name="crackfast-s")
    partial = {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}
    partial["extra.weight"] = torch.zeros(2)
    torch.save(partial, path)
    with pytest.raises(BadInputError, match=r"missing: fc\.weight, fc\.bias; unexpected: extra\.weight"):
        load_pretrained(create_model("crackfast-s"), path, model_name="crackfast-s")
    report = load_pretrained(create_model("crackfast-s"), path, model_name="crackfast-s", strict=False)
    assert report.missing == ("fc.weight", "fc.bias") and report.unexpected == ("extra.weight",)
    bad = tmp_path / "garbage.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(BadInputError, match="cannot read weights"):
        load_pretrained(source, bad, model_name="crackfast-s")


def test_safetensors_round_trip(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(1)
    source = create_model(DEFAULT_MODEL).eval()
    path = tmp_path / "fast.safetensors"
    save_file(source.state_dict(), str(path))
    loaded = create_model(DEFAULT_MODEL, weights=str(path)).eval()
    x = torch.rand(2, 3, 64, 64) * 255
    with torch.no_grad():
        assert torch.equal(source(x), loaded(x))


# --- speed helpers -------------------------------------------------------------------------------


def test_predict_logits_bf16_agrees_with_fp32() -> None:
    torch.manual_seed(2)
    model = create_model(DEFAULT_MODEL)
    model.train()
    x = torch.rand(4, 3, 64, 64) * 255
    fp32 = predict_logits(model, x, bf16=False, channels_last=False)
    fast = predict_logits(model, x)
    assert model.training  # mode restored
    assert fast.shape == (4, 1) and fast.dtype == torch.float32
    assert torch.allclose(fast, fp32, atol=0.05 + 0.05 * fp32.abs().max().item())
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), fp32, atol=1e-5)


def test_fold_batch_norms_keeps_the_function_and_the_names() -> None:
    from crackscope.models.speed import fold_batch_norms

    torch.manual_seed(3)
    model = create_model(DEFAULT_MODEL)
    randomize_batch_norms(model)  # non-trivial statistics, so the folding is exercised
    model.train()
    folded = fold_batch_norms(model)
    norms = [n for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    left = [n for n, m in folded.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 8 and left == ["features.context.bn", "features.last.bn"]  # the residuals' own forward
    assert {n for n, _ in model.named_modules()} == {n for n, _ in folded.named_modules()}  # the same names
    assert model.training and not folded.training  # the original keeps its mode
    assert folded.features.last.conv.weight is model.features.last.conv.weight  # not folded: shared, not copied
    assert folded.features.stem[0].conv.weight is not model.features.stem[0].conv.weight
    x = torch.rand(2, 3, 64, 64) * 255
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), folded(x), atol=1e-4)


def test_fold_batch_norms_folds_only_a_conv_then_a_norm() -> None:
    from crackscope.models.speed import fold_batch_norms

    net = torch.nn.Sequential(
        torch.nn.BatchNorm2d(3), torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.BatchNorm2d(4)
    )
    assert [type(m).__name__ for m in fold_batch_norms(net)] == ["BatchNorm2d", "Conv2d", "ReLU", "BatchNorm2d"]
