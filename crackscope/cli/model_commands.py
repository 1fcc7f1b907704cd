"""Commands of the classifier area: ``models``, ``train``, ``evaluate``, ``predict``, ``compare``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from crackscope.cli.common import (
    DEVICE_OPTION,
    LAYOUT_OPTION,
    ProgressBars,
    check_device,
    check_layout,
    console,
    exit_for_batch,
    fail,
    fail_for_data,
    is_main_process,
    out,
    print_skipped,
    progress_bars,
)

if TYPE_CHECKING:
    from rich.table import Table

    from crackscope.data.sources import DataSource
    from crackscope.training.run import ClassifierRun

T = TypeVar("T")

RUNTIMES = ("torch", "onnx")
DEFAULT_EXPORT_DIR = "onnx"
"""The folder inside a run that ``crackscope export RUN`` writes and ``--runtime onnx`` reads."""
RUNTIME_HELP = "Inference runtime: torch, or onnx (ONNX Runtime on the CPU; export the run first)."
EXPORT_HELP = "The ONNX export folder for --runtime onnx (default: RUN/onnx, what `crackscope export RUN` writes)."
ONNX_MISSING = 'ONNX export and runtime need onnx, onnxruntime and onnxscript: pip install "crackscope[onnx]"'


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


AUGMENT_HELP = (
    "Augmentation preset: none, rot90-flip, keras-v3 or robust (light, colour, blur, JPEG, noise, scale and "
    "rotation, for photos of other surfaces; the default with several sources)."
)


def train_cmd(
    data: list[Path] | None = typer.Argument(
        None,
        metavar="DATA",
        help="Data set folder(s), each in any layout (class folders, labelled files or images/ + masks/).",
    ),
    out_dir: Path = typer.Option(..., "--out", "-o", metavar="DIR", help="Run folder to write."),
    sources: Path | None = typer.Option(
        None,
        "--sources",
        metavar="FILE",
        help="A TOML or JSON list of data folders with names and weights, instead of DATA.",
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="Registered model (default: crackfast)."),
    epochs: int | None = typer.Option(None, help="Maximum epochs (default: the model's recipe)."),
    image_size: int | None = typer.Option(None, help="Input size in pixels (square)."),
    batch_size: int | None = typer.Option(None, help="Training batch size (per process under torchrun)."),
    seed: int = typer.Option(0, help="Seed of the split, initialisation, shuffling and augmentation."),
    augment: str | None = typer.Option(None, help=AUGMENT_HELP),
    target_recall: float | None = typer.Option(None, help="Choose the threshold on validation data for this recall."),
    lr: float | None = typer.Option(None, help="Learning rate."),
    optimizer: str | None = typer.Option(None, help="Optimiser: adam, adamw or sgd."),
    weight_decay: float | None = typer.Option(None, help="Optimiser weight decay."),
    label_smoothing: float | None = typer.Option(None, help="Keras-style label smoothing."),
    patience: int | None = typer.Option(None, help="Early-stopping patience in epochs (0: off)."),
    scheduler: str | None = typer.Option(None, help="Learning-rate schedule: none or cosine."),
    weight_average: float = typer.Option(
        0.0,
        help="Keep an average of the weights over the steps, of this relative width (0.1: about the last fifth "
        "of the run; 0: off, the trained weights).",
    ),
    precision: str = typer.Option(
        "auto", help="Precision: bf16, fp32 or auto (bf16 where the device runs it natively)."
    ),
    layout: str | None = LAYOUT_OPTION,
    patch_size: int | None = typer.Option(None, help="Patch size for image + mask data (default: automatic)."),
    stride: int | None = typer.Option(None, help="Patch stride for image + mask data."),
    split: Path | None = typer.Option(
        None, metavar="CSV", help="Reuse this split CSV (`crackscope split`, a run's split.csv) instead of drawing one."
    ),
    weights: Path | None = typer.Option(None, help="Pretrained backbone weights (vgg16, resnet50)."),
    time_limit: float | None = typer.Option(
        None, help="Stop training after this many minutes (ends the epoch in progress early)."
    ),
    device: str = DEVICE_OPTION,
    num_workers: int = typer.Option(
        0, "--num-workers", help="DataLoader worker processes (0: batches made in the training process)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out (DATA may be left out)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Train a crack classifier on one or more data sets and write a run folder (weights, config, metrics)."""
    from crackscope.errors import CrackscopeError
    from crackscope.training import TrainOptions, train

    check_layout(layout)
    device = check_device(device)
    main = is_main_process()
    folders, run_data = training_data(data, sources, layout=layout, resume=resume)
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
            weight_average=weight_average,
            precision=precision,
            layout=layout,
            patch_size=patch_size,
            stride=stride,
            split=split,
            weights=weights,
            time_limit=None if time_limit is None else time_limit * 60.0,
            num_workers=num_workers,
            device=device,
        )
        with progress_bars(main and not quiet) as bars:
            run = train(run_data, out=out_dir, options=options, resume=resume, on_progress=bars)
    except (CrackscopeError, ValueError, OSError) as exc:
        if main:
            _print_run_skipped(out_dir)
        fail_for_data(exc, folders)
    if not main:
        return
    _print_run_skipped(out_dir)
    _print_metrics_table(run)
    console.print(f"run written to [bold]{run}[/]")


def training_data(
    data: list[Path] | None, sources: Path | None, *, layout: str | None, resume: bool
) -> tuple[list[Path], Path | tuple[DataSource, ...] | None]:
    """The data folders (for the exit status of an error) and what ``train`` is given: one folder as a Path (a
    run as before), several folders or a sources file as data sources, or None to resume with the run's own."""
    from crackscope.data.sources import read_sources
    from crackscope.errors import CrackscopeError

    given = list(data or [])
    spec: Path | list[Path]
    if sources is not None:
        if given:
            fail("give DATA folders or --sources FILE, not both")
        spec = sources
    elif given:
        spec = given
    elif resume:
        return [], None
    else:
        fail("give one or more DATA folders, or --sources FILE")
    if len(given) == 1 and given[0].is_dir():
        return given, given[0]
    try:
        found = read_sources(spec, layout=layout)  # folders, or one sources file (DATA or --sources)
    except (CrackscopeError, ValueError) as exc:  # a missing folder, a bad sources file: usage errors
        fail_for_data(exc, None)
    return [s.path for s in found], found


def _print_run_skipped(run: Path) -> None:
    """The files a training run left out (RUN/skipped.txt), the first 20 of them."""
    from crackscope.training.splitting import SKIPPED_FILE

    path = run / SKIPPED_FILE
    if path.is_file():
        lines = [line.partition("\t") for line in path.read_text(encoding="utf-8").splitlines() if line]
        print_skipped([(name, problem) for name, _, problem in lines], limit=20, more=f" (all in {path})")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _metric_row(name: str, m: dict[str, Any], *, threshold: float | None = None) -> list[str]:
    """One table row; a source's scores (no confusion counts, the run's one threshold) show "-" where they
    have no value."""
    auc, ece = m.get("roc_auc"), m.get("ece")
    counts = "/".join(str(m[k]) for k in ("tp", "fp", "fn", "tn")) if "tp" in m else "-"
    cut = m.get("threshold", threshold)
    return [
        name,
        str(m["n"]),
        _percent(m["accuracy"]),
        _percent(m["precision"]),
        _percent(m["recall"]),
        _percent(m["f1"]),
        "-" if auc is None else f"{auc:.4f}",
        "-" if ece is None else f"{ece:.4f}",
        counts,
        "-" if cut is None else f"{cut:.4f}",
    ]


def _source_rows(prefix: str, m: dict[str, Any]) -> list[list[str]]:
    """A row per data source, named ``prefix`` + the source: of ``m["sources"]`` (``{name: scores}``, as
    ``evaluate`` reports them) or ``m["per_source"]["sources"]`` (a split of a run's metrics.json)."""
    per_source = m.get("per_source")
    found = per_source.get("sources") if isinstance(per_source, dict) else m.get("sources")
    if not isinstance(found, dict):
        return []
    cut = m.get("threshold")
    return [_metric_row(f"{prefix}{name}", scores, threshold=cut) for name, scores in found.items()]


def _metrics_table(rows: list[list[str]], title: str) -> Table:
    from rich.table import Table

    table = Table(title=title)
    columns = ("set", "n", "accuracy", "precision", "recall", "F1", "ROC-AUC", "ECE", "TP/FP/FN/TN", "threshold")
    for col in columns:
        table.add_column(col, justify="left" if col == "set" else "right")
    for row in rows:
        table.add_row(*row)
    return table


def _print_wide(table: Table) -> None:
    """A table on stdout; to a file or a pipe at its full width (not cut to 80 columns: no value is shortened)."""
    from rich.console import Console

    (out if out.is_terminal else Console(width=160)).print(table)


def _print_metrics_table(run: Path) -> None:
    import json

    metrics_path = run / "metrics.json"
    if not metrics_path.is_file():
        return
    metrics = json.loads(metrics_path.read_text())
    rows = []
    for name in ("val", "test"):
        if metrics.get(name):
            rows.append(_metric_row(name, metrics[name]))
            rows.extend(_source_rows(f"{name}: ", metrics[name]))
    if rows:
        _print_wide(_metrics_table(rows, f"{run.name}"))


def _with_progress(
    description: str, work: Callable[[Callable[[int, int], None]], T], *, data: Path | list[Path] | None = None
) -> T:
    """``work(report)`` under a progress bar fed by ``report(done, total)``; its errors end the command
    (:func:`~crackscope.cli.common.fail_for_data`: 3 when about the contents of the data folder(s) ``data``)."""
    from crackscope.errors import CrackscopeError

    try:
        with ProgressBars() as bars:
            bars(description, 0, None)
            return work(lambda done, total: bars(description, done, total))
    except (CrackscopeError, ValueError, OSError) as exc:
        fail_for_data(exc, data)


def _load_classifier(run: Path, device: str) -> ClassifierRun:
    """The classifier run on ``device`` (checked first); a missing or broken run ends the command (status 2)."""
    from crackscope.errors import CrackscopeError
    from crackscope.training.run import load_run

    device = check_device(device)
    try:
        return load_run(run, device=device)
    except (CrackscopeError, ValueError, OSError) as exc:
        fail_for_data(exc, None)


def evaluate_cmd(
    run: Path = typer.Argument(..., metavar="RUN", help="A classifier run folder."),
    data: list[Path] = typer.Argument(
        ..., metavar="DATA", help="Labelled data set folder(s), any layout; several are also scored one by one."
    ),
    out_dir: Path | None = typer.Option(
        None, "--out", "-o", metavar="DIR", help="Folder for metrics-<data>.json (default: the run)."
    ),
    split: str | None = typer.Option(None, help="Only the run's train, val or test items."),
    layout: str | None = LAYOUT_OPTION,
    batch_size: int = typer.Option(64, help="Inference batch size."),
    device: str = DEVICE_OPTION,
) -> None:
    """Measure a run on data sets: accuracy, precision, recall, F1, ROC-AUC, ECE, confusion matrix, per source."""
    from crackscope.data.sources import read_sources
    from crackscope.errors import CrackscopeError
    from crackscope.io import write_json_atomic
    from crackscope.training import evaluate

    check_layout(layout)
    loaded = _load_classifier(run, device)
    target_data: Path | tuple[DataSource, ...]
    if len(data) == 1 and data[0].is_dir():
        target_data = data[0]
        name = data[0].resolve().name
    else:
        try:
            target_data = read_sources(data, layout=layout)
        except (CrackscopeError, ValueError) as exc:
            fail_for_data(exc, None)
        name = "+".join(s.name for s in target_data)
    name += f"-{split}" if split else ""
    metrics = _with_progress(
        "evaluating",
        lambda report: evaluate(
            loaded, target_data, split=split, layout=layout, batch_size=batch_size, on_progress=report
        ),
        data=data,
    )
    target = (out_dir or run) / f"metrics-{name}.json"
    write_json_atomic(target, metrics)
    skipped = [(item["item"], item["problem"]) for item in metrics["skipped"]]
    print_skipped(skipped, limit=20, more=f" (all in {target})")
    rows = [_metric_row("all" if metrics.get("sources") else name, metrics)]
    rows.extend(_source_rows("", metrics))
    _print_wide(_metrics_table(rows, f"{Path(run).name} on {name}"))
    console.print(f"metrics written to [bold]{target}[/]")
    exit_for_batch(int(metrics["n"]), len(skipped), what="sample")


def onnx_export_dir(run: Path, export: Path | None) -> Path:
    """The ONNX export folder ``--runtime onnx`` reads: ``export``, else RUN/onnx (where ``crackscope export RUN``
    writes); a folder without an export ends the command (status 2) saying to export first."""
    from crackscope.export.onnx import EXPORT_FILE
    from crackscope.runs import resolve_run_dir

    folder = export if export is not None else resolve_run_dir(run) / DEFAULT_EXPORT_DIR
    if not (folder / EXPORT_FILE).is_file():
        hint = f" -o {folder}" if export is not None else ""
        fail(f"no ONNX export in {folder} (no {EXPORT_FILE}); run `crackscope export {run}{hint}` first")
    return folder


def check_onnx_device(device: str) -> None:
    """``--runtime onnx`` runs on the CPU: a device other than auto or cpu ends the command (status 2)."""
    if device not in ("auto", "cpu"):
        fail(f"--runtime onnx runs on the CPU (ONNX Runtime); drop --device {device} or use --runtime torch")


def predict_cmd(
    run: Path = typer.Argument(..., metavar="RUN", help="A classifier run folder."),
    images: list[str] = typer.Argument(..., metavar="IMAGES", help="Image files, folders or glob patterns."),
    csv: Path | None = typer.Option(
        None, "--csv", metavar="FILE", help="Write filename,class rows to this file (default: to stdout)."
    ),
    probability: bool = typer.Option(False, "--probability", help="Add a probability column."),
    batch_size: int = typer.Option(32, help="Inference batch size."),
    device: str = DEVICE_OPTION,
    runtime: str = typer.Option("torch", "--runtime", help=RUNTIME_HELP),
    export: Path | None = typer.Option(None, "--export", metavar="DIR", help=EXPORT_HELP),
) -> None:
    """Classify images as cracked/uncracked at the run's threshold (the study's CSV format)."""
    from crackscope.errors import CrackscopeError
    from crackscope.training import predict
    from crackscope.training.prediction import predictions_csv

    classifier: ClassifierRun
    if _runtime(runtime) == "onnx":
        check_onnx_device(check_device(device))
        try:
            from crackscope.export.onnx import load_onnx_classifier

            classifier = load_onnx_classifier(onnx_export_dir(run, export))
        except ImportError:
            fail(ONNX_MISSING)
        except (CrackscopeError, ValueError, OSError) as exc:
            fail_for_data(exc, None)
    else:
        classifier = _load_classifier(run, device)
    rows = _with_progress(
        "predicting",
        lambda report: predict(
            classifier, images, csv=csv, probability=probability, batch_size=batch_size, on_progress=report
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


def _runtime(runtime: str) -> str:
    if runtime not in RUNTIMES:
        fail(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    return runtime


def compare_cmd(runs: list[Path] = typer.Argument(..., metavar="RUNS", help="Classifier run folders.")) -> None:
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
