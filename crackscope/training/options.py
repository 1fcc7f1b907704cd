"""Resolving a training run's settings: the model's recipe, then the caller's overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


from crackscope.training.loop import PRECISIONS
from crackscope.models.speed import bf16_supported

# Settings that are not recipe fields, with their defaults.
EXTRA_DEFAULTS: dict[str, Any] = {
    "precision": "auto",  # "bf16", "fp32" or "auto" (bf16 where the CPU has native bfloat16)
    "scheduler": None,  # None: the recipe's (if it names one) else "none"
    "warmup_epochs": 0.0,
    "split": None,  # an existing split CSV to reuse
    "fractions": (0.7, 0.15, 0.15),
    "layout": None,
    "patch_size": None,
    "stride": None,
    "weights": None,  # pretrained weights for the backbone (vgg16/resnet50)
    "model_options": None,
    "num_workers": 0,
    "threads": 2,
    "time_limit": None,  # seconds of training (validation included); the epoch in progress ends early
    "max_steps": None,  # batches per epoch at most (smoke runs and tests)
    "min_delta": 0.0,
    "progress": True,
    "cache_limit": 2 * 1024**3,
}


def resolve_precision(precision: str) -> str:
    if precision == "auto":
        return "bf16" if bf16_supported() else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'auto' or one of {PRECISIONS}, got {precision!r}")
    return precision


def resolve_settings(
    *,
    model: str,
    epochs: int | None,
    image_size: int | None,
    batch_size: int | None,
    seed: int,
    augment: str | None,
    target_recall: float | None,
    overrides: dict[str, Any],
) -> dict[str, Any]:
    """Every setting of a run as plain JSON-able values (stored in config.json; reused on resume)."""
    from crackscope.models import get_model_info

    info = get_model_info(model)
    recipe = dataclasses.asdict(info.recipe)
    recipe_keys = set(recipe)
    unknown = set(overrides) - recipe_keys - set(EXTRA_DEFAULTS)
    if unknown:
        known = ", ".join(sorted(recipe_keys | set(EXTRA_DEFAULTS)))
        raise ValueError(f"unknown training option(s) {', '.join(sorted(unknown))}; known: {known}")
    for key, value in overrides.items():
        if key in recipe_keys and value is not None:
            recipe[key] = value
    for key, value in {"epochs": epochs, "image_size": image_size, "batch_size": batch_size, "augment": augment}.items():
        if value is not None:
            recipe[key] = value
    extras = {k: overrides.get(k, v) if overrides.get(k) is not None else v for k, v in EXTRA_DEFAULTS.items()}
    if extras["scheduler"] is None:
        # The fast models' recipes assume a per-step cosine decay (see crackscope/models/fast.py);
        # the Recipe dataclass has no schedule field, so the tag decides.
        extras["scheduler"] = recipe.get("scheduler") or ("cosine" if "fast" in info.tags else "none")
    recipe["scheduler"] = extras.pop("scheduler")
    recipe["warmup_epochs"] = float(extras.pop("warmup_epochs") or recipe.get("warmup_epochs", 0.0) or 0.0)
    _check(recipe, seed=seed, target_recall=target_recall)
    extras["precision"] = resolve_precision(str(extras["precision"]))
    extras["fractions"] = [float(f) for f in extras["fractions"]]
    for key in ("split", "weights"):
        if extras[key] is not None:
            extras[key] = str(Path(extras[key]))
    extras["model_options"] = dict(extras["model_options"] or {})
    return {
        "model": model,
        "seed": int(seed),
        "target_recall": None if target_recall is None else float(target_recall),
        "recipe": recipe,
        **extras,
    }


def _check(recipe: dict[str, Any], *, seed: int, target_recall: float | None) -> None:
    for key in ("epochs", "batch_size", "image_size"):
        if int(recipe[key]) < 1:
            raise ValueError(f"{key.replace('_', ' ')} must be positive, got {recipe[key]}")
    if int(recipe["patience"]) < 0:
        raise ValueError(f"patience must not be negative, got {recipe['patience']}")
    if not 0.0 <= float(recipe["label_smoothing"]) < 1.0:
        raise ValueError(f"label smoothing must be in [0, 1), got {recipe['label_smoothing']}")
    if target_recall is not None and not 0.0 < float(target_recall) <= 1.0:
        raise ValueError(f"target recall must be in (0, 1], got {target_recall}")
    if int(seed) < 0:
        raise ValueError(f"seed must not be negative, got {seed}")
