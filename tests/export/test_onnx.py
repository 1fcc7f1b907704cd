"""ONNX export of a run (classifier and pixel model), checked against torch, and the onnxruntime runtime."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from crackscope.errors import BadInputError
from crackscope.export import (
    ExportResult,
    OnnxClassifier,
    OnnxPixelEnsemble,
    OnnxPixelModel,
    export_onnx,
    load_onnx_classifier,
    load_onnx_pixel_models,
)
from crackscope.training.run import load_run

TOLERANCE = 1e-3  # largest absolute logit difference accepted between onnxruntime and torch (float32)


@pytest.fixture(scope="module")
def run_with_pixel_model(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run with one small pixel model (random weights, seeded) in RUN/pixel-models/p1."""
    from crackscope.maps.pixel_model import PixelModel, make_pixel_net, save_pixel_model

    run = tmp_path_factory.mktemp("onnx") / "run"
    shutil.copytree(tiny_run, run)
    torch.manual_seed(0)
    save_pixel_model(PixelModel(make_pixel_net(4), {"width": 4}), run / "pixel-models" / "p1")
    return run


@pytest.fixture(scope="module")
def exported(run_with_pixel_model: Path, tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    return export_onnx(run_with_pixel_model, tmp_path_factory.mktemp("onnx") / "export")


def _photos(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (40 + 7 * i, 60 - 3 * i, 3), dtype=np.uint8) for i in range(n)]


def _torch_fp32_logits(run_dir: Path, images: list[np.ndarray]) -> np.ndarray:
    run = load_run(run_dir, device="cpu")
    run.config["precision"] = "fp32"  # the export is float32: compare with torch in float32
    return run.predict_logits(images)


@pytest.mark.slow
def test_export_writes_every_model_within_tolerance(exported: ExportResult, run_with_pixel_model: Path) -> None:
    out = exported.out
    assert exported.paths == (out / "classifier.onnx", out / "pixel-models" / "p1.onnx", out / "export.json")
    assert all(p.is_file() for p in exported.paths)
    assert [m.name for m in exported.pixel_models] == ["p1"]
    assert exported.classifier.max_abs_diff < TOLERANCE and exported.pixel_models[0].max_abs_diff < TOLERANCE
    assert exported.max_abs_diff < TOLERANCE and exported.exporter in ("dynamo", "torchscript")
    assert exported.pixel_models[0].dynamic_side
    record = json.loads((out / "export.json").read_text())
    assert record["format"] == "onnx" and record["opset"] == exported.opset
    assert record["config"] == json.loads((run_with_pixel_model / "config.json").read_text())
    assert record["pixel_model_configs"]["p1"]["width"] == 4
    assert record["classifier"]["max_abs_diff"] == exported.classifier.max_abs_diff


@pytest.mark.slow
def test_the_onnx_classifier_predicts_as_torch(exported: ExportResult, run_with_pixel_model: Path) -> None:
    from crackscope.training.prediction import predict

    onnx = load_onnx_classifier(exported.out)
    assert (
        isinstance(onnx, OnnxClassifier)
        and onnx.image_size == 32
        and onnx.threshold == load_run(run_with_pixel_model).threshold
    )
    images = _photos(5)
    logits = onnx.predict_logits(images, batch_size=2)
    assert np.abs(logits - _torch_fp32_logits(run_with_pixel_model, images)).max() < TOLERANCE
    assert np.array_equal(onnx.classify(images), 1 / (1 + np.exp(-logits)) >= onnx.threshold)
    assert onnx.predict_logits([]).shape == (0,)
    # the batch command takes it as a run
    folder = exported.out.parent / "photos"
    from crackscope.io import write_image_atomic

    for i, image in enumerate(images):
        write_image_atomic(folder / f"p{i}.png", image)
    rows = predict(onnx, [folder])
    torch_rows = predict(load_run(run_with_pixel_model, device="cpu"), [folder])
    assert [r["filename"] for r in rows] == [r["filename"] for r in torch_rows]
    assert max(abs(a["probability"] - b["probability"]) for a, b in zip(rows, torch_rows, strict=True)) < 0.01


@pytest.mark.slow
def test_the_onnx_pixel_model_predicts_as_torch(exported: ExportResult, run_with_pixel_model: Path) -> None:
    from crackscope.maps.pixel_model import load_pixel_model

    onnx = load_onnx_pixel_models(exported.out, ["p1"])
    assert isinstance(onnx, OnnxPixelModel) and onnx.config["width"] == 4
    assert onnx.source == str(exported.out / "pixel-models" / "p1.onnx")
    image = _photos(1, seed=4)[0][:40, :56]
    net = load_pixel_model(run_with_pixel_model / "pixel-models" / "p1").net.float().eval()
    with torch.inference_mode():
        x = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None]
        expected = torch.sigmoid(net(x))[0, 0].numpy()
    got = onnx.predict(image)
    assert got.shape == image.shape[:2] and got.dtype == np.float32
    assert np.abs(got - expected).max() < TOLERANCE
    # a photo larger than a tile is cut into crops with context; every pixel gets a probability
    tiled = onnx.predict(np.tile(image, (3, 3, 1)), tile=64, margin=16)
    assert tiled.shape == (120, 168) and tiled.min() >= 0.0 and tiled.max() <= 1.0
    with pytest.raises(ValueError, match="multiple of 8"):
        onnx.predict(image, tile=60, margin=8)
    ensemble = load_onnx_pixel_models(exported.out, ["p1", "p1"])
    assert isinstance(ensemble, OnnxPixelEnsemble)
    assert np.allclose(ensemble.predict(image), got, atol=1e-6)
    with pytest.raises(BadInputError, match="pixel model 'a2' was not exported"):
        load_onnx_pixel_models(exported.out, ["a2"])


def test_what_cannot_be_exported_or_loaded(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="opset must be at least 17"):
        export_onnx("builtin", tmp_path / "x", opset=13)
    with pytest.raises(BadInputError, match="not a crackscope run folder"):
        export_onnx(tmp_path, tmp_path / "x")
    with pytest.raises(BadInputError, match="not an ONNX export folder"):
        load_onnx_classifier(tmp_path)
