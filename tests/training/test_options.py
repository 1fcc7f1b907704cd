"""TrainOptions (checked once, where made), TrainSettings (resolved, stored, read back) and torch's global
settings around ``train``."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import pytest
import torch

from crackscope.errors import BadInputError
from crackscope.training import TrainOptions, TrainSettings, train
from crackscope.training.trainer import torch_threads


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"model": ""}, "model"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"epochs": True}, "epochs"),
        ({"image_size": 4}, "image_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"seed": -1}, "seed"),
        ({"augment": "mirror"}, "augment"),
        ({"target_recall": 0.0}, "target_recall"),
        ({"target_recall": 2.0}, "target_recall"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"momentum": -0.1}, "momentum"),
        ({"weight_decay": -1e-4}, "weight_decay"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"patience": -1}, "patience"),
        ({"scheduler": "step"}, "scheduler"),
        ({"warmup_epochs": -1.0}, "warmup_epochs"),
        ({"precision": "fp16"}, "precision"),
        ({"split": 3}, "split"),
        ({"fractions": (0.5, 0.5)}, "fractions"),
        ({"fractions": (0.5, 0.3, 0.3)}, "fractions"),
        ({"fractions": (0.0, 0.5, 0.5)}, "fractions"),
        ({"layout": "folders"}, "layout"),
        ({"patch_size": -1}, "patch_size"),
        ({"stride": 0}, "stride"),
        ({"weights": ""}, "weights"),
        ({"model_options": ["width"]}, "model_options"),
        ({"num_workers": -1}, "num_workers"),
        ({"device": "gpu"}, "device"),
        ({"device": 0}, "device"),
        ({"threads": 0}, "threads"),
        ({"time_limit": 0.0}, "time_limit"),
        ({"max_steps": 0}, "max_steps"),
        ({"min_delta": -0.1}, "min_delta"),
        ({"cache_limit": -1}, "cache_limit"),
        ({"photo_cache_limit": -1}, "photo_cache_limit"),
    ],
)
def test_bad_values_are_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be "):
        TrainOptions(**changes)  # type: ignore[arg-type]


def test_options_are_frozen_and_normalised() -> None:
    fractions = [0.8, 0.2, 0]
    options = TrainOptions(optimizer="AdamW", lr=1, fractions=fractions, model_options={"width": 8})  # type: ignore[arg-type]
    assert options.optimizer == "adamw" and isinstance(options.lr, float)
    assert options.fractions == (0.8, 0.2, 0.0)
    with pytest.raises(FrozenInstanceError):
        options.lr = 0.1  # type: ignore[misc]
    with pytest.raises(TypeError):
        options.model_options["width"] = 16  # type: ignore[index]
    with pytest.raises(ValueError, match=r"^epochs must be "):
        replace(options, epochs=0)  # changed copies are checked too


def test_resolve_takes_the_recipe_for_what_is_left_none() -> None:
    from crackscope.models import get_model_info

    recipe = get_model_info("tiny").recipe
    settings = TrainOptions(model="tiny", lr=0.01, precision="fp32").resolve()
    assert settings.model == "tiny" and settings.precision == "fp32"
    assert settings.recipe.lr == 0.01 and settings.recipe.epochs == recipe.epochs
    assert settings.recipe.image_size == recipe.image_size and settings.recipe.scheduler == "none"
    fast = TrainOptions().resolve()  # the default model is tagged "fast": cosine schedule
    assert fast.model == "crackfast" and fast.recipe.scheduler == "cosine"
    assert fast.precision in ("bf16", "fp32")
    with pytest.raises(ValueError, match="unknown model"):
        TrainOptions(model="no-such-net").resolve()


def test_settings_round_trip_through_json() -> None:
    import json

    settings = TrainOptions(model="tiny", split=Path("a/split.csv"), model_options={"width": 8}).resolve()
    stored = json.loads(json.dumps(settings.to_dict()))
    assert TrainSettings.from_dict(stored) == settings
    # keys older runs stored in config.json["options"] are ignored; missing newer ones take their defaults
    del stored["photo_cache_limit"]
    old = TrainSettings.from_dict({**stored, "progress": True, "data": {"root": "x"}, "l2_on_kernels": None})
    assert old == settings
    assert settings.with_epochs(9).recipe.epochs == 9 and settings.recipe.epochs != 9
    with pytest.raises(ValueError, match="incomplete"):
        TrainSettings.from_dict({"recipe": stored["recipe"]})


def test_torch_threads_are_restored_even_after_an_error() -> None:
    before = torch.get_num_threads()
    wanted = 2 if before == 1 else 1
    with pytest.raises(RuntimeError, match="boom"), torch_threads(wanted):
        assert torch.get_num_threads() == wanted
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_train_leaves_no_global_torch_setting(synth_dir: Path, tmp_path: Path) -> None:
    before = torch.get_num_threads()
    wanted = 2 if before == 1 else 1
    rng = torch.get_rng_state()
    options = TrainOptions(model="tiny", image_size=32, batch_size=8, epochs=1, max_steps=1, threads=wanted)
    train(synth_dir, out=tmp_path / "run", options=options)
    assert torch.get_num_threads() == before
    assert torch.equal(torch.get_rng_state(), rng)
    with pytest.raises(BadInputError):
        train(tmp_path / "missing", out=tmp_path / "bad", options=options)
    assert torch.get_num_threads() == before
