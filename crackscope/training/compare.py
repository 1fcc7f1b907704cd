"""``compare``: a results table over several runs, like the study's."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crackscope.runs import read_run_config

COLUMNS = (
    ("run", "run"),
    ("model", "model"),
    ("image_size", "size"),
    ("val_accuracy", "val accuracy"),
    ("val_recall", "val recall"),
    ("test_accuracy", "test accuracy"),
    ("test_recall", "test recall"),
    ("parameters", "parameters"),
    ("epochs", "epochs"),
    ("training_seconds", "training time (s)"),
)


def run_summary(run_dir: str | Path) -> dict[str, Any]:
    """One row: model, image size, validation/test accuracy and recall, parameters, epochs, training time."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    val, test = metrics.get("val") or {}, metrics.get("test") or {}
    return {
        "run": run_dir.name,
        "model": config.get("model"),
        "image_size": config.get("image_size"),
        "val_accuracy": val.get("accuracy"),
        "val_recall": val.get("recall"),
        "test_accuracy": test.get("accuracy"),
        "test_recall": test.get("recall"),
        "parameters": config.get("parameters"),
        "epochs": config.get("epochs_run"),
        "training_seconds": config.get("training_seconds"),
        "threshold": config.get("threshold"),
        "complete": config.get("complete", True),
    }


def compare_runs(run_dirs: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Rows for every run, in the order given."""
    return [run_summary(d) for d in run_dirs]


def format_value(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in ("val_accuracy", "val_recall", "test_accuracy", "test_recall"):
        return f"{100 * float(value):.2f}%"
    if key == "parameters":
        return f"{int(value):,}"
    if key == "training_seconds":
        return f"{float(value):.0f}"
    return str(value)
