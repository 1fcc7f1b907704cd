"""Commands of the end-to-end layer: ``demo``, ``report`` and ``serve``."""

from __future__ import annotations

from pathlib import Path

import typer

from crackscope.cli.common import ProgressBars, console, fail, out


def demo_cmd(
    out_dir: Path = typer.Option(Path("demo-out"), "--out", help="folder for the data, run, maps and report"),
    quick: bool = typer.Option(False, "--quick", help="tiny sizes, for a smoke test (seconds, not minutes)"),
    seed: int = typer.Option(0, "--seed", help="seed for the synthetic data and the training"),
    n: int | None = typer.Option(None, "--n", help="number of synthetic images (default: 400, quick: 40)"),
    size: int | None = typer.Option(None, "--size", help="image size in px (default: 96, quick: 48)"),
    epochs: int | None = typer.Option(None, "--epochs", help="training epochs (default: 12, quick: 1)"),
    method: str = typer.Option("gradcam++", "--method", help="explanation method for the maps and the report"),
) -> None:
    """Synthesise data, train the fast default model, explain, map and score held-out images, write a report."""
    from crackscope.demo import DemoOptions, run_demo

    try:
        options = DemoOptions(n=n, size=size, epochs=epochs, seed=seed, quick=quick, method=method)
    except ValueError as exc:
        fail(str(exc))
        return
    with ProgressBars() as bars:
        summary = run_demo(out_dir, options=options, on_progress=bars)
    out.print(f"[bold]report:[/] {summary['report']}")
    out.print(
        f"test accuracy {summary['test_accuracy']:.3f}  recall {summary['test_recall']:.3f}  "
        f"map F1 exact {summary['map_f1_exact']:.3f}  map F1 2px {summary['map_f1_2px']:.3f}  "
        f"({summary['seconds']:.0f} s)"
    )


def report_cmd(
    run: Path = typer.Argument(..., help="a run folder made by `crackscope train` or `fit`, or `builtin`"),
    data: Path | None = typer.Option(None, "--data", help="the data folder (default: the one the run used)"),
    maps: Path | None = typer.Option(None, "--maps", help="a `crackscope map` output to tabulate and score"),
    out_file: Path | None = typer.Option(None, "--out", help="the HTML file (default: RUN/report.html)"),
    method: str | None = typer.Option(None, "--method", help="explanation method (default: the recipe's)"),
    preset: str | None = typer.Option(
        None, "--preset", "-p", help="map recipe for the gallery's masks (default: the run's own)"
    ),
) -> None:
    """Write a self-contained HTML report (images embedded, no internet needed to view it)."""
    from crackscope.report import build_report

    with console.status("writing the report"):
        path = build_report(run, data=data, maps_dir=maps, out=out_file, method=method, preset=preset)
    out.print(f"[bold]report:[/] {path}")


def serve_cmd(
    run: Path = typer.Argument(
        Path("builtin"), help="a run folder made by `crackscope train` or `fit` (default: builtin)"
    ),
    preset: str | None = typer.Option(
        None, "--preset", "-p", help="map recipe for /api/map (default: the run's own; `crackscope presets`)"
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    port: int = typer.Option(8000, "--port", help="port to listen on"),
    max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", help="largest accepted upload, in MB (MiB)"),
    max_megapixels: float = typer.Option(50.0, "--max-megapixels", help="largest accepted image, in megapixels"),
) -> None:
    """Serve the web page and the JSON API (/api/predict, /api/map, /health, /openapi.json) for a run."""
    import uvicorn

    from crackscope.serve.app import create_app

    if max_upload_mb <= 0 or max_megapixels <= 0:
        fail("--max-upload-mb and --max-megapixels must be positive")
    app = create_app(
        run, preset=preset, max_upload_bytes=int(max_upload_mb * 1048576), max_pixels=int(max_megapixels * 1e6)
    )
    console.print(f"serving [bold]{run}[/] on http://{host}:{port}  (API schema: http://{host}:{port}/openapi.json)")
    uvicorn.run(app, host=host, port=port, log_level="info")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("demo")(demo_cmd)
    app.command("report")(report_cmd)
    app.command("serve")(serve_cmd)
