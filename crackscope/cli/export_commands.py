"""``crackscope export``: a classifier run (and its pixel models) as ONNX, checked against torch."""

from __future__ import annotations

from pathlib import Path

import typer

from crackscope.cli.common import fail, fail_for_data, out, status
from crackscope.cli.model_commands import DEFAULT_EXPORT_DIR, ONNX_MISSING

FORMATS = ("onnx",)
DEFAULT_OPSET = 18
"""``crackscope.export.onnx.DEFAULT_OPSET``, written here so that ``--help`` does not import torch."""


def export_cmd(
    run: Path = typer.Argument(..., metavar="RUN", help="A classifier run folder, or `builtin`."),
    out_dir: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        metavar="DIR",
        help=f"Export folder (default: RUN/{DEFAULT_EXPORT_DIR}, where `--runtime onnx` looks).",
    ),
    format_: str = typer.Option("onnx", "--format", help="Export format: onnx."),
    opset: int = typer.Option(DEFAULT_OPSET, "--opset", help="ONNX opset (at least 17)."),
    pixel_models: bool = typer.Option(
        True, "--pixel-models/--no-pixel-models", help="Also export the run's pixel models (RUN/pixel-models/)."
    ),
) -> None:
    """Export a classifier run and its pixel models as ONNX (dynamic batch and side), checked against torch."""
    from crackscope.errors import CrackscopeError
    from crackscope.runs import resolve_run_dir

    if format_ not in FORMATS:
        fail(f"unknown format {format_!r}; choose one of {', '.join(FORMATS)}")
    target = out_dir if out_dir is not None else resolve_run_dir(run) / DEFAULT_EXPORT_DIR
    try:
        from crackscope.export.onnx import export_onnx

        with status(f"exporting {run} to ONNX"):
            result = export_onnx(run, target, opset=opset, pixel_models=pixel_models)
    except ImportError:
        fail(ONNX_MISSING)
    except (CrackscopeError, ValueError, OSError) as exc:  # no run, a restorer run, a bad opset, unwritable DIR
        fail_for_data(exc, None)
    out.print(
        f"exported with torch's {result.exporter} exporter, opset {result.opset}; "
        "max abs logit difference against torch (float32):",
        highlight=False,
        soft_wrap=True,
    )
    for model in (result.classifier, *result.pixel_models):
        side = "dynamic side" if model.dynamic_side else "fixed side"
        out.print(
            f"  {model.name}: {model.max_abs_diff:.2e} ({side}) -> {model.path}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    out.print(f"  record: {result.out / 'export.json'}", markup=False, highlight=False, soft_wrap=True)
    hint = "" if out_dir is None else f" --export {result.out}"
    out.print(
        f"use it with `crackscope predict {run} IMAGES --runtime onnx{hint}` "
        f"or `crackscope map {run} IMAGES -o DIR --runtime onnx{hint}`",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("export")(export_cmd)
