"""Training history: the CSV file and the curves plot."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from crackscope.io import atomic_path, write_text_atomic

HISTORY_COLUMNS = (
    "epoch",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "val_recall",
    "val_auc",
    "lr",
    "steps",
    "seconds",
)


def write_history_csv(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in HISTORY_COLUMNS})
    return write_text_atomic(path, buf.getvalue())


def plot_curves(path: str | Path, rows: list[dict[str, Any]], *, title: str = "") -> Path:
    """Loss, accuracy and recall per epoch (training and validation) as one PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    def col(name: str) -> list[float]:
        return [float("nan") if r.get(name) in (None, "") else float(r[name]) for r in rows]

    epochs = [int(r["epoch"]) for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    panels = (
        ("loss", [("loss", "train"), ("val_loss", "validation")]),
        ("accuracy", [("accuracy", "train"), ("val_accuracy", "validation")]),
        ("recall / ROC-AUC", [("val_recall", "validation recall"), ("val_auc", "validation ROC-AUC")]),
    )
    for ax, (label, series) in zip(axes, panels, strict=True):
        for key, name in series:
            ax.plot(epochs, col(key), marker="o", markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(path)
