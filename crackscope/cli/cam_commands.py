"""``crackscope explain`` (CAM maps, overlays, panels) and ``crackscope layers`` (target-layer candidates)."""

from __future__ import annotations

from pathlib import Path

import typer

from crackscope.cli.common import (
    DEVICE_OPTION,
    ProgressBars,
    check_device,
    console,
    exit_for_batch,
    fail,
    fail_for_data,
    out,
    print_skipped,
)


def explain_cmd(
    run: Path = typer.Argument(..., metavar="RUN", help="A classifier run folder, or `builtin`."),
    images: list[str] = typer.Argument(..., metavar="IMAGES", help="Image files, folders or glob patterns."),
    out_dir: Path = typer.Option(..., "--out", "-o", metavar="DIR", help="Output folder."),
    method: str = typer.Option(
        "gradcam++",
        "--method",
        help="A CAM method of crackscope.cam.METHODS (gradcam++, gradcam, cam...; a wrong name lists them all).",
    ),
    target: str = typer.Option("crack", "--target", help="Target: crack (the crack logit) or no-crack (its negation)."),
    layer: str | None = typer.Option(None, "--layer", help="Target layer name (see `crackscope layers RUN`)."),
    alpha: float = typer.Option(0.5, "--alpha", help="Overlay opacity of the map, 0..1."),
    normalise: str = typer.Option(
        "image", "--normalise", help="Normalisation: image (per image), batch (one scale) or none."
    ),
    batch_size: int = typer.Option(16, "--batch-size", help="Images per forward pass."),
    precision: str = typer.Option(
        "fp32", "--precision", help="Precision: fp32 or bf16 (autocast forward; maps in fp32)."
    ),
    colormap: str = typer.Option("jet", "--colormap", help="A matplotlib colormap (jet, turbo, inferno...)."),
    panels: bool = typer.Option(True, "--panels/--no-panels", help="Also write the three-panel figures."),
    tiles: bool = typer.Option(
        True,
        "--tiles/--resized",
        help="Photos larger than the run's tile: explain them in tiles as `map` sees them (default) or resized whole.",
    ),
    device: str = DEVICE_OPTION,
) -> None:
    """Explain why the classifier calls images cracked: maps (.npy), overlays, panels, predictions.csv."""
    from crackscope.cam.api import ExplainOptions, explain_images
    from crackscope.errors import CrackscopeError
    from crackscope.inputs import expand_inputs
    from crackscope.training.run import load_run

    try:
        options = ExplainOptions(
            method=method,
            target=target,
            layer=layer,
            normalise=normalise,
            batch_size=batch_size,
            alpha=alpha,
            precision=precision,
            colormap=colormap,
            panels=panels,
            tiles=tiles,
        )
    except ValueError as exc:
        fail(str(exc))
        return
    device = check_device(device)
    try:
        loaded = load_run(run, device=device)
    except (CrackscopeError, ValueError, OSError) as exc:  # no run, not a classifier run, broken weights
        fail_for_data(exc, None)
    total = len(expand_inputs(images)[0])  # for the progress bar; explain_images reports the bad inputs
    task, done = f"explaining ({method})", 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        bars(task, min(done, total), total)

    try:
        with ProgressBars() as bars:
            bars(task, 0, total)
            report = explain_images(loaded, images, out=out_dir, options=options, on_batch=on_batch)
    except (CrackscopeError, ValueError, OSError) as exc:  # no run, bad layer name, head not fit for classic CAM...
        fail_for_data(exc, None)
    print_skipped(report.skipped)
    for name, flags in report.flagged:
        console.print(
            f"[yellow]warning:[/] {name}: map is {' and '.join(flags)} (no evidence for '{target}'; "
            "drawn as the image with a note, not as a black map)",
            highlight=False,
        )
    tiled = f" ({len(report.tiled)} in tiles, as `crackscope map` sees them)" if report.tiled else ""
    resized = len(report.explained) - len(report.tiled)
    note = f"; {resized} photo(s) resized whole to the model input" if resized and not tiles else ""
    out.print(
        f"explained {len(report.explained)} image(s){tiled} with {method} at layer {report.layer}, "
        f"skipped {len(report.skipped)}, flagged {len(report.flagged)}{note} -> {out_dir}"
    )
    exit_for_batch(len(report.explained), len(report.skipped))


def layers_cmd(
    run: Path = typer.Argument(..., metavar="RUN", help="A classifier run folder."),
    image_size: int | None = typer.Option(None, "--image-size", help="Input size (default: the run's)."),
    min_size: int = typer.Option(8, "--min-size", help="Smallest map side for the automatic choice."),
) -> None:
    """List the layers a CAM can explain, with their output sizes; marks the automatic choice."""
    from rich.table import Table

    from crackscope.cam.layers import auto_layer, layers
    from crackscope.training.run import load_run

    loaded = load_run(run)
    size = image_size or loaded.image_size
    try:
        chosen = auto_layer(loaded.model, size, min_size=min_size)
    except ValueError as exc:
        console.print(f"[yellow]warning:[/] {exc}", highlight=False)
        chosen = None
    table = Table(title=f"{loaded.name}: feature-map layers for {size}x{size} input")
    for col in ("layer", "type", "output (C x H x W)", ""):
        table.add_column(col)
    for info in layers(loaded.model, size):
        shape = " x ".join(str(v) for v in info.out_shape)
        table.add_row(info.name, info.type, shape, "[green]auto[/]" if info.name == chosen else "")
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("explain")(explain_cmd)
    app.command("layers")(layers_cmd)
