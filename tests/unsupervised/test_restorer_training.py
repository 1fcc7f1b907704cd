"""Training steps, the restorer run folder, resuming, and the map contract through RestorerMapper."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from crackscope.errors import BadInputError
from crackscope.unsupervised.config import RestorerConfig
from crackscope.unsupervised.corruption import checkerboard_masks, corrupt
from crackscope.unsupervised.discriminator import PatchDiscriminator
from crackscope.unsupervised.generator import UNetGenerator
from crackscope.unsupervised.losses import RestorationLoss
from crackscope.unsupervised.train import RestorerTrainOptions, train_restorer, train_step
from crackscope.unsupervised.vgg19 import VGG19Features

TINY = RestorerConfig(
    image_size=32,
    ngf=8,
    n_downs=5,
    ndf=8,
    d_strided=2,
    batch_size=4,
    epochs=2,
    steps_per_epoch=3,
    style="random",
    style_layers=("relu1_1",),
    val_max=8,
    crack_margin=2,
    name="tiny",
)


def _texture_batch(n: int, size: int, seed: int) -> torch.Tensor:
    """Smooth synthetic 'surfaces' in [-1, 1]: sums of random low-frequency waves plus a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    imgs = []
    for _ in range(n):
        base = sum(
            rng.uniform(0.1, 0.3)
            * np.sin(2 * np.pi * (rng.uniform(0.5, 2) * xx + rng.uniform(0.5, 2) * yy) + rng.uniform(0, 6))
            for _ in range(3)
        )
        img = np.stack([base * rng.uniform(0.8, 1.2) for _ in range(3)]) + rng.normal(0, 0.03, (3, size, size))
        imgs.append(img)
    return torch.tensor(np.clip(np.stack(imgs), -1, 1), dtype=torch.float32)


def test_training_steps_lower_the_restoration_loss():
    torch.manual_seed(0)
    G, D = UNetGenerator(ngf=8, n_downs=5), PatchDiscriminator(ndf=8, n_strided=2)
    loss_fn = RestorationLoss(VGG19Features(("relu1_1",)).random_init(0))
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=4e-3, betas=(0.5, 0.999))
    y = _texture_batch(4, 32, seed=1)
    masks = torch.from_numpy(checkerboard_masks(32))
    x = corrupt(y, masks, torch.tensor([0, 2, 4, 5]))

    def rec_loss() -> float:
        torch.manual_seed(123)  # the same dropout masks before and after
        with torch.no_grad():
            return float(loss_fn(G(x), y)["total"])

    before = rec_loss()
    for _ in range(3):
        train_step(G, D, opt_g, opt_d, x, y, loss_fn, lambda_rec=100.0)
    after = rec_loss()
    assert after < 0.9 * before, (before, after)


@pytest.fixture(scope="module")
def restorer_run(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("restorer") / "run"
    return train_restorer(synth_dir, out=out, config=TINY, options=RestorerTrainOptions(seed=0))


def test_run_folder(restorer_run: Path):
    cfg = json.loads((restorer_run / "config.json").read_text())
    assert cfg["kind"] == "restorer" and cfg["style"] == "random"
    assert cfg["data_layout"] == "image-mask" and cfg["train_images"] > 0
    assert (restorer_run / "model.safetensors").is_file()
    assert (restorer_run / "checkpoint.pt").is_file()
    for epoch in (1, 2):
        sample = restorer_run / "samples" / f"epoch_{epoch:03d}.png"
        assert sample.is_file()
    from crackscope.io import read_image

    s = read_image(restorer_run / "samples" / "epoch_001.png")
    assert s.shape[1] == 3 * 32 + 4  # corrupted | restored | original
    rows = list(csv.DictReader((restorer_run / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert all(np.isfinite(float(r["val_rec"])) for r in rows)


def test_crack_free_patches_only(synth_dir: Path):
    from crackscope.unsupervised.data import crack_free_sources

    found = crack_free_sources(synth_dir, patch_size=32, stride=16, margin=2)
    assert found.sources and found.layout == "image-mask"
    from crackscope.data.items import LabelledItem

    for src in found.sources[:20]:
        path, _, box = src.key.rpartition("#")
        if not box:
            continue
        item = LabelledItem.from_key(src.key, group=src.group, label=0)
        mask_path = synth_dir / "masks" / (Path(path).stem + ".png")
        from crackscope.io import read_mask

        m = read_mask(mask_path)
        y, x, h, w = item.box
        assert not m[max(0, y - 2) : y + h + 2, max(0, x - 2) : x + w + 2].any()


def test_resume_continues(restorer_run: Path, synth_dir: Path, tmp_path: Path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(restorer_run, copy)
    with pytest.raises(BadInputError, match="resume"):
        train_restorer(synth_dir, out=copy, config=TINY)
    train_restorer(synth_dir, out=copy, resume=True, options=RestorerTrainOptions(epochs=3))
    rows = list(csv.DictReader((copy / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert (copy / "samples" / "epoch_003.png").is_file()


def test_missing_vgg_weights_named(synth_dir: Path, tmp_path: Path):
    with pytest.raises(BadInputError, match=r"vgg19-dcbb9e9d\.pth"):
        options = RestorerTrainOptions(vgg_weights=tmp_path / "missing.pth")
        train_restorer(synth_dir, out=tmp_path / "r", config=TINY, options=options)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"ngf": -1}, "ngf"),
        ({"batch_size": 0}, "batch_size"),
        ({"steps_per_epoch": 0}, "steps_per_epoch"),
        ({"image_size": 4}, "image_size"),
        ({"image_size": 36}, "image_size"),
        ({"style": "nope"}, "style"),
        ({"seed": -1}, "seed"),
        ({"time_budget": 0.0}, "time_budget"),
        ({"time_budget": float("nan")}, "time_budget"),
        ({"layout": "folders"}, "layout"),
    ],
)
def test_train_options_are_checked_when_made(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field} must"):
        RestorerTrainOptions(**changes)  # type: ignore[arg-type]


def test_train_options_keep_what_is_fine() -> None:
    options = RestorerTrainOptions(epochs=1, image_size=32, ngf=8, style="off", seed=0, time_budget=1.5)
    assert options.image_size == 32 and options.style == "off"
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.epochs = 2  # type: ignore[misc]


def test_unknown_config_named(synth_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown restorer config 'huge'"):
        train_restorer(synth_dir, out=tmp_path / "r", config="huge")


@pytest.mark.parametrize("shape", [(32, 32), (50, 70), (20, 90)])
def test_restorer_mapper_contract(restorer_run: Path, shape):
    from crackscope.maps.base import MapResult
    from crackscope.runs import open_run
    from crackscope.unsupervised.mapper import RestorerMapper

    run = open_run(restorer_run)
    assert run.kind == "restorer" and run.image_size == 32
    rng = np.random.default_rng(0)
    image = rng.integers(90, 160, (*shape, 3), dtype=np.uint8)
    image[shape[0] // 2, :] = 20  # a dark line the restorer was never shown
    result = RestorerMapper(run).map_image(image)
    assert isinstance(result, MapResult)
    assert result.probability.shape == shape and result.mask.shape == shape
    assert result.probability.dtype == np.float32 and result.mask.dtype == bool
    assert result.probability.min() >= 0.0 and result.probability.max() <= 1.0
    assert result.tiles and all(len(t.box) == 4 and t.error is not None for t in result.tiles)


def test_map_pipeline_accepts_restorer_runs(restorer_run: Path, synth_dir: Path, tmp_path: Path):
    from crackscope.maps.pipeline import map_images

    images = sorted((synth_dir / "images").iterdir())[:2]
    summary = map_images(restorer_run, images, tmp_path / "maps")
    assert summary["manifest"]["settings"]["preset"] == "restorer-thin"  # the restorer's default recipe
    assert len(list((tmp_path / "maps" / "masks").iterdir())) == 2
    assert len(list((tmp_path / "maps" / "probability").iterdir())) == 2


def test_web_service_maps_with_a_restorer_run(restorer_run: Path):
    """A restorer has no photo-level probability: the page gets null and the verdict follows the mask."""
    from crackscope.serve.service import Analyzer

    rng = np.random.default_rng(1)
    image = rng.integers(90, 160, (48, 64, 3), dtype=np.uint8)
    image[24, :] = 20
    out = Analyzer(restorer_run).map(image, name="wall.png")
    assert out["probability"] is None
    assert out["label"] == ("cracked" if out["crack_pixels"] > 0 else "uncracked")
    flat = Analyzer(restorer_run).map(np.full((48, 64, 3), 128, np.uint8), name="flat.png")
    assert flat["probability"] is None
    assert flat["label"] == ("cracked" if flat["crack_pixels"] > 0 else "uncracked")


def test_cli_train_restorer(synth_dir: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from crackscope.cli import app

    out = tmp_path / "cli-run"
    result = CliRunner().invoke(
        app,
        [
            "train-restorer",
            str(synth_dir),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--image-size",
            "32",
            "--ngf",
            "8",
            "--batch-size",
            "4",
            "--steps-per-epoch",
            "2",
            "--style",
            "off",
        ],
    )
    assert result.exit_code == 0, result.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["restorer"]["n_downs"] == 5 and cfg["style"] == "off"
    bad = CliRunner().invoke(app, ["train-restorer", str(synth_dir), "--out", str(tmp_path / "x"), "--style", "nope"])
    assert bad.exit_code == 2 and "style must be one of" in bad.output
    assert not (tmp_path / "x").exists()
    bad = CliRunner().invoke(app, ["train-restorer", str(synth_dir), "--out", str(tmp_path / "y"), "--config", "huge"])
    assert bad.exit_code == 2 and "unknown restorer config" in bad.output
    bad = CliRunner().invoke(app, ["train-restorer", str(synth_dir), "--out", str(tmp_path / "z"), "--epochs", "0"])
    assert bad.exit_code == 2 and "epochs must be at least 1" in bad.output


def test_layout_overrides_detection(synth_dir: Path, tmp_path: Path) -> None:
    from crackscope.unsupervised.data import crack_free_sources
    from tests.data.helpers import gray_image, write_image

    assert RestorerTrainOptions(layout="image-mask").layout == "image-mask"
    named = crack_free_sources(synth_dir, patch_size=32, stride=16, margin=2, layout="image-mask")
    assert named.layout == "image-mask" and named.sources
    with pytest.raises(BadInputError, match="no class folders"):
        crack_free_sources(synth_dir, patch_size=32, layout="class-folders")
    # a plain folder is taken to be crack-free; read as file-name labels only the noncrack_* files are
    plain = tmp_path / "plain"
    for name in ("noncrack_a.png", "noncrack_b.png", "wall.png"):
        write_image(plain / name, gray_image(90, 40))
    assert len(crack_free_sources(plain, patch_size=32).sources) == 3
    by_name = crack_free_sources(plain, patch_size=32, layout="filename-labels")
    assert sorted(Path(s.key).name for s in by_name.sources) == ["noncrack_a.png", "noncrack_b.png"]
    with pytest.raises(ValueError, match="unknown layout"):
        crack_free_sources(plain, patch_size=32, layout="folders")


def test_layout_is_recorded_and_a_time_budget_ends_the_epoch_at_its_true_count(synth_dir: Path, tmp_path: Path) -> None:
    calls: list[tuple[str, int, int | None]] = []
    config = dataclasses.replace(TINY, epochs=1, steps_per_epoch=50)
    options = RestorerTrainOptions(layout="image-mask", time_budget=1e-6)
    out = train_restorer(
        synth_dir, out=tmp_path / "r", config=config, options=options, on_progress=lambda *a: calls.append(a)
    )
    saved = json.loads((out / "config.json").read_text())
    assert saved["layout"] == "image-mask" and saved["data_layout"] == "image-mask"
    epoch = [c for c in calls if c[0] == "epoch 1/1"]
    assert epoch[0] == ("epoch 1/1", 0, 50) and epoch[-1] == ("epoch 1/1", 1, 1)  # stopped after one step
