"""The command line of issues 16 and 18: ``--device``, ``export``, ``--runtime onnx``, ``map --engine ray`` and
training on several data sources (``train A B``, ``--sources FILE``, per-source scores)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from crackscope.cli import app

runner = CliRunner()

DEVICE_COMMANDS = {
    "train": ["train", "{data}", "-o", "{tmp}/run"],
    "fit": ["fit", "{data}", "-o", "{tmp}/fit"],
    "selftrain": ["selftrain", "{run}", "{data}", "-o", "{tmp}/pm"],
    "train-restorer": ["train-restorer", "{data}", "-o", "{tmp}/restorer"],
    "map": ["map", "{run}", "{data}", "-o", "{tmp}/maps"],
    "explain": ["explain", "{run}", "{data}", "-o", "{tmp}/cams"],
    "predict": ["predict", "{run}", "{data}"],
    "evaluate": ["evaluate", "{run}", "{data}"],
    "serve": ["serve", "{run}"],
}
"""Every command that takes ``--device``, with arguments that would otherwise start its work."""


def _args(template: list[str], **values: Path) -> list[str]:
    return [part.format(**{k: str(v) for k, v in values.items()}) for part in template]


def _no_traceback(result: object) -> None:
    exception = getattr(result, "exception", None)
    assert exception is None or isinstance(exception, SystemExit), exception
    output = str(getattr(result, "output", ""))
    assert "Traceback" not in output and "╭" not in output, output


@pytest.mark.parametrize("command", sorted(DEVICE_COMMANDS))
def test_a_bad_device_is_one_line_and_status_2(command: str, tiny_run: Path, synth_dir: Path, tmp_path: Path) -> None:
    """``--device bogus`` stops every command before it starts: one ``error:`` line naming it, status 2."""
    args = _args(DEVICE_COMMANDS[command], data=synth_dir, run=tiny_run, tmp=tmp_path)
    result = runner.invoke(app, [*args, "--device", "bogus"])
    assert result.exit_code == 2, result.output
    _no_traceback(result)
    lines = result.output.strip().splitlines()
    assert lines == ["error: device 'bogus' is not a device; use auto, cpu, cuda, cuda:N or mps"], result.output
    assert not (tmp_path / "run").exists() and not (tmp_path / "maps").exists()


def test_a_device_that_is_not_there(tiny_run: Path, synth_dir: Path) -> None:
    """A GPU asked for on a machine without one: one line saying so, status 2."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    result = runner.invoke(app, ["predict", str(tiny_run), str(synth_dir / "images"), "--device", "cuda"])
    assert result.exit_code == 2
    _no_traceback(result)
    assert result.output.strip().splitlines() == [
        f"error: device 'cuda' is not available on this machine ({_cuda_problem()})"
    ]


def _cuda_problem() -> str:
    import torch

    return "torch was built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"


def _probabilities(csv_text: str) -> dict[str, float]:
    return {row["filename"]: float(row["probability"]) for row in csv.DictReader(io.StringIO(csv_text))}


def test_predict_and_map_on_the_cpu(tiny_run: Path, synth_dir: Path, tmp_path: Path) -> None:
    photos = sorted((synth_dir / "images").glob("*.png"))[:2]
    result = runner.invoke(app, ["predict", str(tiny_run), *map(str, photos), "--device", "cpu", "--probability"])
    assert result.exit_code == 0, result.output
    assert set(_probabilities(result.stdout)) == {p.name for p in photos}

    result = runner.invoke(
        app, ["map", str(tiny_run), *map(str, photos), "-o", str(tmp_path / "maps"), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "maps" / "masks").iterdir()) == sorted(p.name for p in photos)


def test_option_combinations_that_do_not_go_together(tiny_run: Path, synth_dir: Path, tmp_path: Path) -> None:
    photos, out = str(synth_dir / "images"), str(tmp_path / "maps")
    for args, message in (
        (["map", str(tiny_run), photos, "-o", out, "--workers", "2"], "error: --workers goes with --engine ray"),
        (["map", str(tiny_run), photos, "-o", out, "--engine", "spark"], "error: unknown engine 'spark'"),
        (["map", str(tiny_run), photos, "-o", out, "--runtime", "tf"], "error: unknown runtime 'tf'"),
        (["map", str(tiny_run), photos, "-o", out, "--engine", "ray", "--runtime", "onnx"], "error: --runtime onnx"),
        (["predict", str(tiny_run), photos, "--runtime", "tf"], "error: unknown runtime 'tf'"),
        (["export", str(tiny_run), "-o", out, "--format", "tflite"], "error: unknown format 'tflite'"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        _no_traceback(result)
        assert result.output.startswith(message), (args, result.output)
    assert not Path(out).exists()


def test_export_defaults_follow_the_library() -> None:
    from crackscope.cli.export_commands import DEFAULT_OPSET
    from crackscope.cli.model_commands import DEFAULT_EXPORT_DIR
    from crackscope.export.onnx import DEFAULT_OPSET as LIBRARY_OPSET

    assert DEFAULT_OPSET == LIBRARY_OPSET and DEFAULT_EXPORT_DIR == "onnx"


@pytest.fixture()
def run_copy(tiny_run: Path, tmp_path: Path) -> Path:
    """The tiny run copied (export writes RUN/onnx into it) with one small pixel model, RUN/pixel-models/p1."""
    import torch

    from crackscope.maps.pixel_model import PixelModel, make_pixel_net, save_pixel_model

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    torch.manual_seed(0)
    save_pixel_model(PixelModel(make_pixel_net(4), {"width": 4}), run / "pixel-models" / "p1")
    return run


def test_export_then_predict_and_map_with_onnx(run_copy: Path, synth_dir: Path, tmp_path: Path) -> None:
    """``export RUN`` writes RUN/onnx and reports each model's check; ``--runtime onnx`` reads it and agrees
    with torch."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    photos = [str(p) for p in sorted((synth_dir / "images").glob("*.png"))[:4]]

    result = runner.invoke(app, ["predict", str(run_copy), *photos, "--runtime", "onnx"])
    assert result.exit_code == 2
    assert "run `crackscope export" in result.output and "first" in result.output

    result = runner.invoke(app, ["export", str(run_copy), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    export = run_copy / "onnx"
    assert (export / "classifier.onnx").is_file() and (export / "pixel-models" / "p1.onnx").is_file()
    assert "classifier:" in result.stdout and "p1:" in result.stdout and "exporter" in result.stdout
    record = json.loads((export / "export.json").read_text())
    assert record["max_abs_diff"] < 1e-3

    torch_rows = runner.invoke(app, ["predict", str(run_copy), *photos, "--probability", "--device", "cpu"])
    onnx_rows = runner.invoke(app, ["predict", str(run_copy), *photos, "--probability", "--runtime", "onnx"])
    assert torch_rows.exit_code == 0 and onnx_rows.exit_code == 0, onnx_rows.output
    expected, got = _probabilities(torch_rows.stdout), _probabilities(onnx_rows.stdout)
    assert set(got) == set(expected) and len(got) == 4
    assert max(abs(got[k] - expected[k]) for k in got) < 1e-3

    pixel = ["--pixel-model", str(run_copy / "pixel-models" / "p1")]
    maps = {}
    for runtime in ("torch", "onnx"):
        out = tmp_path / f"maps-{runtime}"
        result = runner.invoke(app, ["map", str(run_copy), *photos, "-o", str(out), *pixel, "--runtime", runtime])
        assert result.exit_code == 0, result.output
        maps[runtime] = _read_folder(out / "probability")
    assert maps["torch"].keys() == maps["onnx"].keys() and len(maps["onnx"]) == 4
    for name, expected_map in maps["torch"].items():  # 8-bit probability maps: a step of rounding at most
        assert np.abs(maps["onnx"][name].astype(int) - expected_map.astype(int)).max() <= 2, name


def test_no_export_folder_names_the_command(run_copy: Path, synth_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    missing = tmp_path / "elsewhere"
    args = ["map", str(run_copy), str(synth_dir / "images"), "-o", str(tmp_path / "m"), "--runtime", "onnx"]
    result = runner.invoke(
        app, [*args, "--pixel-model", str(run_copy / "pixel-models" / "p1"), "--export", str(missing)]
    )
    assert result.exit_code == 2
    _no_traceback(result)
    assert f"run `crackscope export {run_copy} -o {missing}` first" in result.output.replace("\n", "")


def _read_folder(folder: Path) -> dict[str, np.ndarray]:
    from PIL import Image

    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))}


@pytest.mark.slow
def test_map_with_ray_writes_the_plain_masks(tiny_run: Path, synth_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray.data")
    photos = [str(p) for p in sorted((synth_dir / "images").glob("*.png"))[:2]]
    plain, ray = tmp_path / "plain", tmp_path / "ray"
    result = runner.invoke(app, ["map", str(tiny_run), *photos, "-o", str(plain)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["map", str(tiny_run), *photos, "-o", str(ray), "--engine", "ray", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "mapped 2 image(s)" in result.stdout
    expected, got = _read_folder(plain / "masks"), _read_folder(ray / "masks")
    assert got.keys() == expected.keys() and len(got) == 2
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])


def _source(root: Path, seed: int) -> Path:
    from crackscope.data.synth import synthesize

    return synthesize(root, n=16, size=48, seed=seed)


def test_train_on_two_sources_then_evaluate_each(tmp_path: Path) -> None:
    walls, decks = _source(tmp_path / "walls", 1), _source(tmp_path / "decks", 2)
    run = tmp_path / "run"
    tiny = ["-m", "tiny", "--epochs", "1", "--image-size", "32", "--batch-size", "8", "--precision", "fp32"]
    result = runner.invoke(app, ["train", str(walls), str(decks), "-o", str(run), *tiny, "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]["per_source"]["sources"]) == {"walls", "decks"}
    assert "test: walls" in result.stdout and "test: decks" in result.stdout
    config = json.loads((run / "config.json").read_text())
    assert [s["name"] for s in config["data"]["sources"]] == ["walls", "decks"]

    result = runner.invoke(app, ["evaluate", str(run), str(walls), str(decks), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    scores = json.loads((run / "metrics-walls+decks.json").read_text())
    assert set(scores["sources"]) == {"walls", "decks"} and "ece" in scores
    assert scores["n"] == sum(s["n"] for s in scores["sources"].values())


def test_train_sources_file_and_its_errors(tmp_path: Path) -> None:
    walls = _source(tmp_path / "walls", 1)
    sources = tmp_path / "sources.toml"
    sources.write_text('[[sources]]\npath = "walls"\nweight = 2\n')
    for args, message in (
        (["train", "-o", str(tmp_path / "r")], "error: give one or more DATA folders, or --sources FILE"),
        (["train", str(walls), "--sources", str(sources), "-o", str(tmp_path / "r")], "error: give DATA folders"),
        (["train", "--sources", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "r")], "error: "),
        (["train", str(walls), str(tmp_path / "nope"), "-o", str(tmp_path / "r")], "error: "),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        _no_traceback(result)
        assert result.output.startswith(message), (args, result.output)
    assert not (tmp_path / "r").exists()


def test_augment_help_lists_every_preset() -> None:
    from crackscope.cli.model_commands import AUGMENT_HELP
    from crackscope.data.augment import PRESETS

    assert all(name in AUGMENT_HELP for name in PRESETS) and "robust" in PRESETS
