"""Layer choice and listing, normalisation and flags, drawing, and the files `explain` writes."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from crackscope.cam import OverlayStyle, auto_layer, explain, layers, normalise_maps
from crackscope.cam.overlay import colorize, overlay
from crackscope.models import create_model


def test_auto_layer_is_the_last_big_enough_conv_and_its_activation():
    model = create_model("tiny")
    assert auto_layer(model, 32) == "features.4"  # conv features.3 (16x16) moved over its ReLU
    assert auto_layer(model, 32, min_size=17) == "features.1"  # features.3 is 16x16 < 17: conv features.0
    with pytest.raises(ValueError, match="no convolution"):
        auto_layer(model, 32, min_size=40)
    bn = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3),
        nn.BatchNorm2d(4),
        nn.SiLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 1),
    )
    assert auto_layer(bn, 40) == "6"
    assert auto_layer(bn, 20) == "2"  # the second conv gives 7x7 < 8


class Residual(nn.Module):
    """relu(x + bn(conv(x))), or with stride 2 a block that downsamples after its first conv."""

    def __init__(self, c: int, *, down: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, stride=2 if down else 1)
        self.bn = nn.BatchNorm2d(c)
        self.act = nn.ReLU()
        self.down = down

    def forward(self, x):
        y = self.bn(self.conv2(torch.relu(self.conv1(x))))
        return self.act(y if self.down else x + y)


def test_auto_layer_takes_block_outputs_not_the_middle_of_a_block():
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        Residual(4),
        Residual(4, down=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 1),
    )
    # 16 px: block 2's conv1 is 16x16 but the block ends at 8x8 -> its input, block 1's output
    assert auto_layer(net, 16, min_size=9) == "1"
    # the block's output when it keeps the size (includes the residual sum)
    assert auto_layer(net, 16, min_size=8) == "2"
    e = explain(net, torch.rand(1, 3, 16, 16) * 255, method="cam")
    assert e.layer == "2"


def test_layers_lists_feature_maps_with_sizes():
    listed = layers(create_model("tiny"), 32)
    names = [info.name for info in listed]
    assert names[:5] == ["features.0", "features.1", "features.2", "features.3", "features.4"]
    assert listed[3].type == "Conv2d" and listed[3].out_shape == (16, 16, 16)
    assert ("pool", "AdaptiveAvgPool2d", (16, 1, 1)) in listed


def test_normalise_image_batch_none_and_flags():
    maps = torch.tensor([[[0.0, 1.0], [2.0, 4.0]], [[0.0, 0.5], [0.5, 1.0]]])
    image = normalise_maps(maps, how="image")
    torch.testing.assert_close(image[1], maps[1])
    torch.testing.assert_close(image[0], maps[0] / 4)
    batch = normalise_maps(maps, how="batch")
    torch.testing.assert_close(batch, maps / 4)  # comparable: the weaker map stays weaker
    torch.testing.assert_close(normalise_maps(maps, how="none"), maps)
    bad = torch.tensor([[[float("nan"), 1.0]], [[0.0, 0.0]]])
    torch.testing.assert_close(normalise_maps(bad), torch.tensor([[[0.0, 1.0]], [[0.0, 0.0]]]))


def test_non_finite_and_all_zero_maps_are_flagged():
    model = nn.Sequential(
        nn.Conv2d(3, 2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 1)
    )
    x = torch.rand(2, 3, 16, 16) * 255
    with torch.no_grad():
        model[4].weight.fill_(-1.0)  # every activation lowers the crack logit: no crack evidence
    assert explain(model, x, method="gradcam", layer="1").flags == (("all-zero",), ("all-zero",))
    with torch.no_grad():
        model[0].bias.fill_(float("nan"))
    e = explain(model, x, method="gradcam", layer="1")
    assert all("non-finite" in f for f in e.flags)
    assert np.isfinite(e.normalised).all()


def test_colormap_is_rgb_and_flagged_maps_are_not_drawn_black():
    hot = colorize(np.ones((2, 2)))  # jet's top is dark red
    assert hot[0, 0, 0] > 100 and hot[0, 0, 2] < 50
    cold = colorize(np.zeros((2, 2)))  # jet's bottom is dark blue
    assert cold[0, 0, 2] > 100 and cold[0, 0, 0] < 50
    image = np.full((40, 60, 3), 200, np.uint8)
    half = overlay(image, np.ones((10, 10)), alpha=0.5)
    assert abs(int(half[20, 30, 0]) - (200 + int(hot[0, 0, 0])) / 2) <= 1
    assert (overlay(image, np.ones((10, 10)), alpha=0.0) == image).all()
    flagged = overlay(image, np.zeros((10, 10)), flags=("all-zero",))
    assert (flagged[30:, :] == image[30:, :]).all()  # the image shows through, not a black or blue wash
    assert (flagged != image).any()  # with a visible note


def write_images(folder, n_cracked=2, n_plain=1, size=40):
    from crackscope.data.synth import generate_pair
    from crackscope.io import write_image_atomic

    rng = np.random.default_rng(0)
    for i in range(n_cracked + n_plain):
        image, _ = generate_pair(rng, size, cracked=i < n_cracked)
        write_image_atomic(folder / f"img{i}.png", image)
    (folder / "broken.jpg").write_bytes(b"not an image")


@pytest.mark.parametrize("normalise", ["image", "batch"])
def test_explain_images_writes_everything_and_skips_bad_files(run_dir, tmp_path, normalise):
    from crackscope.cam.api import ExplainOptions, explain_images

    src = tmp_path / "in"
    src.mkdir()
    write_images(src)
    out = tmp_path / "out"
    options = ExplainOptions(method="gradcam++", normalise=normalise, batch_size=2, tiles=False)
    report = explain_images(run_dir, [src, tmp_path / "missing.png"], out=out, options=options)
    assert sorted(report.explained) == ["img0.png", "img1.png", "img2.png"]
    assert {p for p, _ in report.skipped} == {str(src / "broken.jpg"), str(tmp_path / "missing.png")}
    for stem in ("img0", "img1", "img2"):
        raw = np.load(out / f"{stem}_map.npy")
        assert raw.dtype == np.float32 and raw.shape == (40, 40)  # the original photo size (model input: 32)
        assert (out / f"{stem}_overlay.png").stat().st_size > 0
        assert (out / f"{stem}_panel.png").stat().st_size > 0
    rows = list(csv.DictReader((out / "predictions.csv").read_text().splitlines()))
    assert [r["filename"] for r in rows] == ["img0.png", "img1.png", "img2.png"]
    assert set(rows[0]) == {"filename", "class", "probability", "flags", "view"}
    assert {r["view"] for r in rows} == {"resized"}
    assert all(r["class"] in ("cracked", "uncracked") and 0 <= float(r["probability"]) <= 1 for r in rows)
    man = json.loads((out / "manifest.json").read_text())
    assert man["settings"]["method"] == "gradcam++" and man["settings"]["layer"] == "features.4"
    assert man["settings"]["model"] == "tiny" and "torch" in man["versions"]
    assert len(man["settings"]["skipped"]) == 2


def test_explanation_save(trained_tiny, tmp_path):
    from tests.cam.helpers import SIZE, synthetic_batch

    x, _, _ = synthetic_batch(2, SIZE, seed=9)
    e = explain(trained_tiny, x, method="layercam")
    images = [img.permute(1, 2, 0).numpy().astype(np.uint8) for img in x]
    written = e.save(tmp_path, images=images, names=["a.png", "b.png"], style=OverlayStyle(alpha=0.3))
    assert {p.name for p in written} >= {
        "a_map.npy",
        "a_overlay.png",
        "a_panel.png",
        "b_map.npy",
        "predictions.csv",
        "manifest.json",
    }
    np.testing.assert_allclose(np.load(tmp_path / "a_map.npy"), e.maps[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.method = "x"


def test_cli_explain_and_layers(run_dir, tmp_path):
    from crackscope.cli import app

    src = tmp_path / "in"
    src.mkdir()
    write_images(src, n_cracked=1, n_plain=1)
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "explain",
            str(run_dir),
            str(src),
            "--out",
            str(tmp_path / "o"),
            "--method",
            "gradcam",
            "--target",
            "no-crack",
            "--alpha",
            "0.4",
            "--batch-size",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "explained 2 image(s)" in res.output and "broken.jpg" in res.output
    assert (tmp_path / "o" / "img0_panel.png").exists()
    res = runner.invoke(app, ["explain", str(run_dir), str(src), "--out", str(tmp_path / "o2"), "--layer", "nope"])
    assert res.exit_code != 0 and "no layer named" in res.output
    for option, value, message in [
        ("--method", "gradcam+++", "method must be one of"),
        ("--target", "cracked", "target must be one of"),
        ("--alpha", "1.5", "alpha must be in [0, 1]"),
        ("--colormap", "nope", "colormap must be a matplotlib colormap"),
    ]:
        res = runner.invoke(app, ["explain", str(run_dir), str(src), "--out", str(tmp_path / "o3"), option, value])
        assert res.exit_code == 2 and message in res.output, res.output
    assert not (tmp_path / "o3").exists()  # refused before any work
    res = runner.invoke(app, ["layers", str(run_dir)])
    assert res.exit_code == 0, res.output
    assert "features.4" in res.output and "auto" in res.output and "16 x 16 x 16" in res.output


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"method": "gradcam+++"}, r"^method must be one of .*gradcam\+\+.*, got .gradcam\+\+\+."),
        ({"target": "cracked"}, "^target must be one of crack, no-crack"),
        ({"normalise": "global"}, "^normalise must be one of image, batch, none"),
        ({"precision": "fp16"}, "^precision must be one of fp32, bf16"),
        ({"batch_size": 0}, "^batch_size must be at least 1"),
        ({"alpha": -0.1}, r"^alpha must be in \[0, 1\]"),
        ({"alpha": 1.5}, r"^alpha must be in \[0, 1\]"),
        ({"colormap": "no-such-map"}, "^colormap must be a matplotlib colormap"),
    ],
)
def test_explain_options_are_checked_when_made(changes: dict[str, object], message: str) -> None:
    from crackscope.cam.api import ExplainOptions

    with pytest.raises(ValueError, match=message):
        ExplainOptions(**changes)  # type: ignore[arg-type]


def test_explain_options_carry_their_drawing_style() -> None:
    from crackscope.cam.api import ExplainOptions

    options = ExplainOptions(method="layercam", alpha=0.25, colormap="turbo", panels=False, tiles=False)
    assert options.style == OverlayStyle(alpha=0.25, colormap="turbo", panels=False)
    assert dataclasses.replace(options, alpha=0.75).style.alpha == 0.75
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.method = "gradcam"  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"^alpha must be"):
        OverlayStyle(alpha=2.0)
    with pytest.raises(ValueError, match=r"^colormap must be"):
        OverlayStyle(colormap="nope")
