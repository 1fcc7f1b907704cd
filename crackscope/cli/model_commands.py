"""Commands of the classifier area: ``models``, ``train``, ``evaluate``, ``predict``, ``compare``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from crackscope.cli.common import console, exit_for_batch, fail, fail_for_data, out, print_skipped, progress

if TYPE_CHECKING:
    from rich.table import Table

T = TypeVar("T")


def models_cmd() -> None:
    """List the registered classifiers: name, parameters, default image size, description."""
    import torch
    from rich.table import Table

    from crackscope.models import list_models

    table = Table(title="crack classifiers")
    for col in ("name", "parameters", "size", "description"):
        table.add_column(col, justify="right" if col in ("parameters", "size") else "left")
    for info in list_models():
        try:
            with torch.device("meta"):  # shapes only: counting VGG-16's 134 M parameters costs no memory
                n = sum(p.numel() for p in info.builder().parameters())
            count = f"{n:,}"
        except (TypeError, ValueError, RuntimeError, OSError) as exc:  # listed even if it needs options
            count = f"? ({type(exc).__name__})"
        table.add_row(info.name, count, str(info.recipe.image_size), info.description)
    out.print(table)


def train_cmd(
    data: Path = typer.Argument(..., help="dataset folder (class folders, labelled files or images/ + masks/)"),
    out_dir: Path = typer.Option(..., "--out", "-o", help="run folder to write"),
    model: str | None = typer.Option(None, "--model", "-m", help="registered model (default: crackfast)"),
    epochs: int | None = typer.Option(None, help="maximum epochs (default: the model's recipe)"),
    image_size: int | None = typer.Option(None, help="input size in pixels (square)"),
    batch_size: int | None = typer.Option(None, help="training batch size"),
    seed: int = typer.Option(0, help="seed of the split, initialisation, shuffling and augmentation"),
    augment: str | None = typer.Option(None, help="augmentation preset: none, rot90-flip, keras-v3"),
    target_recall: float | None = typer.Option(None, help="choose the threshold on validation data for this recall"),
    lr: float | None = typer.Option(None, help="learning rate"),
    optimizer: str | None = typer.Option(None, help="adam, adamw or sgd"),
    weight_decay: float | None = typer.Option(None, help="optimiser weight decay"),
    label_smoothing: float | None = typer.Option(None, help="Keras-style label smoothing"),
    patience: int | None = typer.Option(None, help="early-stopping patience in epochs (0 = off)"),
    scheduler: str | None = typer.Option(None, help="learning-rate schedule: none or cosine"),
    precision: str = typer.Option("auto", help="bf16, fp32 or auto (bf16 where the CPU supports it)"),
    patch_size: int | None = typer.Option(None, help="patch size for image + mask data (default: automatic)"),
    stride: int | None = typer.Option(None, help="patch stride for image + mask data"),
    split: Path | None = typer.Option(None, help="reuse this split CSV instead of drawing one"),
    weights: Path | None = typer.Option(None, help="pretrained backbone weights (vgg16, resnet50)"),
    time_limit: float | None = typer.Option(
        None, help="stop training after this many minutes (ends the epoch in progress early)"
    ),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted run in --out"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """Train a crack classifier and write a run folder (weights, config, history, curves, metrics)."""
    from crackscope.errors import CrackscopeError
    from crackscope.training import TrainOptions, train

    try:
        options = TrainOptions(
            model=model,
            epochs=epochs,
            image_size=image_size,
            batch_size=batch_size,
            seed=seed,
            augment=augment,
            target_recall=target_recall,
            lr=lr,
            optimizer=optimizer,
            weight_decay=weight_decay,
            label_smoothing=label_smoothing,
            patience=patience,
            scheduler=scheduler,
            precision=precision,
            patch_size=patch_size,
            stride=stride,
            split=split,
            weights=weights,
            time_limit=None if time_limit is None else time_limit * 60.0,
        )
        run = train(data, out=out_dir, options=options, resume=resume, progress=not quiet)
    except (CrackscopeError, ValueError, OSError) as exc:
        _print_run_skipped(out_dir)
        fail_for_data(exc, data)
    _print_run_skipped(out_dir)
    _print_metrics_table(run)
    console.print(f"run written to [bold]{run}[/]")


def _print_run_skipped(run: Path) -> None:
    """The files a training run left out (RUN/skipped.txt), the first 20 of them."""
    from crackscope.training.splitting import SKIPPED_FILE

    path = run / SKIPPED_FILE
    if path.is_file():
        lines = [line.partition("\t") for line in path.read_text(encoding="utf-8").splitlines() if line]
        print_skipped([(name, problem) for name, _, problem in lines], limit=20, more=f" (all in {path})")


def _metric_row(name: str, m: dict[str, Any]) -> list[str]:
    auc = m.get("roc_auc")
    return [
        name,
        str(m["n"]),
        f"{100 * m['accuracy']:.2f}%",
        f"{100 * m['precision']:.2f}%",
        f"{100 * m['recall']:.2f}%",
        f"{100 * m['f1']:.2f}%",
        "-" if auc is None else f"{auc:.4f}",
        f"{m['tp']}/{m['fp']}/{m['fn']}/{m['tn']}",
        f"{m['threshold']:.4f}",
    ]


def _metrics_table(rows: list[list[str]], title: str) -> Table:
    from rich.table import Table

    table = Table(title=title)
    for col in ("set", "n", "accuracy", "precision", "recall", "F1", "ROC-AUC", "TP/FP/FN/TN", "threshold"):
        table.add_column(col, justify="left" if col == "set" else "right")
    for row in rows:
        table.add_row(*row)
    return table


def _print_metrics_table(run: Path) -> None:
    import json

    metrics_path = run / "metrics.json"
    if not metrics_path.is_file():
        return
    metrics = json.loads(metrics_path.read_text())
    rows = [_metric_row(name, metrics[name]) for name in ("val", "test") if metrics.get(name)]
    if rows:
        out.print(_metrics_table(rows, f"{run.name}"))


def _with_progress(description: str, work: Callable[[Callable[[int, int], None]], T], *, data: Path | None = None) -> T:
    """``work(report)`` under a progress bar fed by ``report(done, total)``; its errors end the command
    (:func:`~crackscope.cli.common.fail_for_data`: 3 when about the contents of the data folder ``data``)."""
    from crackscope.errors import CrackscopeError

    try:
        with progress() as bar:
            task = bar.add_task(description, total=None)
            return work(lambda done, total: bar.update(task, completed=done, total=total))
    except (CrackscopeError, ValueError, OSError) as exc:
        fail_for_data(exc, data)


def evaluate_cmd(
    run: Path = typer.Argument(..., help="a classifier run folder"),
    data: Path = typer.Argument(..., help="a labelled dataset folder (any layout)"),
    out_dir: Path | None = typer.Option(None, "--out", "-o", help="folder for metrics-<data>.json (default: the run)"),
    split: str | None = typer.Option(None, help="only the run's train, val or test items"),
    batch_size: int = typer.Option(64, help="inference batch size"),
) -> None:
    """Measure a run on a dataset: accuracy, precision, recall, F1, ROC-AUC, confusion matrix."""
    from crackscope.io import write_json_atomic
    from crackscope.training import evaluate

    metrics = _with_progress(
        "evaluating",
        lambda report: evaluate(run, data, split=split, batch_size=batch_size, on_progress=report),
        data=data,
    )
    name = Path(data).resolve().name + (f"-{split}" if split else "")
    target = (out_dir or run) / f"metrics-{name}.json"
    write_json_atomic(target, metrics)
    skipped = [(item["item"], item["problem"]) for item in metrics["skipped"]]
    print_skipped(skipped, limit=20, more=f" (all in {target})")
    out.print(_metrics_table([_metric_row(name, metrics)], f"{Path(run).name} on {name}"))
    console.print(f"metrics written to [bold]{target}[/]")
    exit_for_batch(int(metrics["n"]), len(skipped), what="sample")


def predict_cmd(
    run: Path = typer.Argument(..., help="a classifier run folder"),
    images: list[str] = typer.Argument(..., help="image files, folders or glob patterns"),
    csv: Path | None = typer.Option(None, "--csv", help="write filename,class rows here (else to stdout)"),
    probability: bool = typer.Option(False, "--probability", help="add a probability column"),
    batch_size: int = typer.Option(32, help="inference batch size"),
) -> None:
    """Classify images as cracked/uncracked at the run's threshold (the study's CSV format)."""
    from crackscope.training import predict
    from crackscope.training.prediction import predictions_csv

    rows = _with_progress(
        "predicting",
        lambda report: predict(
            run, images, csv=csv, probability=probability, batch_size=batch_size, on_progress=report
        ),
    )
    print_skipped([(str(path), problem) for path, problem in rows.skipped])
    if csv is None:
        print(predictions_csv(rows, probability=probability), end="")
    cracked = sum(1 for r in rows if r["class"] == "cracked")
    console.print(
        f"{len(rows)} images: {cracked} cracked, {len(rows) - cracked} uncracked"
        + (f", {len(rows.skipped)} skipped" if rows.skipped else "")
        + (f"; written to [bold]{csv}[/]" if csv else ""),
        highlight=False,
    )
    exit_for_batch(len(rows), len(rows.skipped))


def compare_cmd(runs: list[Path] = typer.Argument(..., help="classifier run folders")) -> None:
    """A results table over runs: model, validation accuracy and recall, test accuracy, parameters, time."""
    from rich.table import Table

    from crackscope.errors import CrackscopeError
    from crackscope.training.compare import COLUMNS, compare_runs, format_value

    try:
        rows = compare_runs(runs)
    except CrackscopeError as exc:
        fail(str(exc))
        return
    table = Table(title="classifier runs")
    for key, title in COLUMNS:
        table.add_column(title, justify="left" if key in ("run", "model") else "right")
    for row in rows:
        table.add_row(*(format_value(key, row.get(key)) for key, _ in COLUMNS))
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("models")(models_cmd)
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.command("predict")(predict_cmd)
    app.command("compare")(compare_cmd)
