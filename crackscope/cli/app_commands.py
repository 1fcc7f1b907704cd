"""Commands of the end-to-end layer: ``demo``, ``report`` and ``serve``."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import typer

from crackscope.cli.common import (
    DEVICE_OPTION,
    LAYOUT_OPTION,
    ProgressBars,
    check_device,
    check_layout,
    console,
    fail,
    fail_for_data,
    out,
)

REPORT_FILE = "report.html"


def demo_cmd(
    out_dir: Path = typer.Option(
        Path("demo-out"), "--out", "-o", metavar="DIR", help="Folder for the data, run, maps and report."
    ),
    quick: bool = typer.Option(False, "--quick", help="Tiny sizes, for a smoke test (seconds, not minutes)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the synthetic data and the training."),
    n: int | None = typer.Option(None, "--n", help="Number of synthetic images (default: 400, quick: 40)."),
    size: int | None = typer.Option(None, "--size", help="Image size in px (default: 96, quick: 48)."),
    epochs: int | None = typer.Option(None, "--epochs", help="Training epochs (default: 12, quick: 1)."),
    method: str = typer.Option("gradcam++", "--method", help="Explanation method for the maps and the report."),
) -> None:
    """Synthesise data, train the fast default model, explain, map and score held-out images, write a report."""
    from crackscope.demo import DemoOptions, run_demo

    try:
        options = DemoOptions(n=n, size=size, epochs=epochs, seed=seed, quick=quick, method=method)
    except ValueError as exc:
        fail(str(exc))
    with ProgressBars() as bars:
        summary = run_demo(out_dir, options=options, progress=not bars.plain, on_progress=bars)
    out.print(
        f"test accuracy {summary['test_accuracy']:.3f}  recall {summary['test_recall']:.3f}  "
        f"map F1 exact {summary['map_f1_exact']:.3f}  map F1 2px {summary['map_f1_2px']:.3f}  "
        f"({summary['seconds']:.0f} s)",
        highlight=False,
    )
    for line in next_steps(summary):
        out.print(line, markup=False, highlight=False, soft_wrap=True)


def next_steps(summary: dict[str, Any]) -> list[str]:
    """The demo's last lines: where the report is, how to open it and how to serve the demo's run.

    The commands are written as they work from the current folder: ``crackscope`` when it is on the PATH,
    else the path of the virtual environment's script (``.venv/bin/crackscope`` after ``make demo``).
    """
    report = Path(summary["report"])
    run = Path(summary["run"])
    python = _shown(Path(sys.executable))
    return [
        f"report: {_shown(report)}",
        f"  open it:   {python} -m webbrowser {report.resolve().as_uri()}   (or: xdg-open {_shown(report)})",
        f"  serve it:  {program()} serve {_shown(run)}   then open http://127.0.0.1:8000",
    ]


def program() -> str:
    """How to start crackscope from the current folder (``crackscope``, ``.venv/bin/crackscope``, ...)."""
    bin_dir = Path(sys.executable).parent  # not resolved: a virtual environment's python is a link
    script = bin_dir / "crackscope"
    found = shutil.which("crackscope")
    if found is not None and Path(found).absolute() == script.absolute():
        return "crackscope"
    if script.is_file():
        return _shown(script)
    return f"{_shown(Path(sys.executable))} -m crackscope"


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it, else absolute."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def report_cmd(
    run: Path = typer.Argument(
        ..., metavar="RUN", help="A run folder made by `crackscope train` or `fit`, or `builtin`."
    ),
    data: Path | None = typer.Option(
        None, "--data", metavar="DATA", help="The data folder (default: the one the run used)."
    ),
    maps: Path | None = typer.Option(
        None, "--maps", metavar="DIR", help="A `crackscope map` output to tabulate and score."
    ),
    out_dir: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        metavar="DIR",
        help=f"Folder for {REPORT_FILE} (default: RUN; for `builtin`, the current folder).",
    ),
    method: str | None = typer.Option(None, "--method", help="Explanation method (default: the recipe's)."),
    preset: str | None = typer.Option(
        None, "--preset", "-p", help="Map recipe for the gallery's masks (default: the run's own)."
    ),
    layout: str | None = LAYOUT_OPTION,
) -> None:
    """Write a self-contained HTML report (images embedded, no internet needed to view it)."""
    from crackscope.errors import CrackscopeError
    from crackscope.report import build_report

    check_layout(layout)
    target = None if out_dir is None else out_dir / REPORT_FILE
    try:
        with ProgressBars() as bars:
            path = build_report(
                run,
                data=data,
                maps_dir=maps,
                out=target,
                method=method,
                preset=preset,
                layout=layout,
                on_progress=bars,
            )
    except (CrackscopeError, ValueError, OSError) as exc:  # a missing run, data or maps folder, a bad method
        fail_for_data(exc, data)
    out.print(f"report: {path}", markup=False, highlight=False, soft_wrap=True)


def serve_cmd(
    run: Path = typer.Argument(
        Path("builtin"), metavar="RUN", help="A run folder made by `crackscope train` or `fit` (default: builtin)."
    ),
    preset: str | None = typer.Option(
        None, "--preset", "-p", help="Map recipe for /api/map (default: the run's own; `crackscope presets`)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", help="Largest accepted upload, in MB (MiB)."),
    max_megapixels: float = typer.Option(50.0, "--max-megapixels", help="Largest accepted image, in megapixels."),
    device: str = DEVICE_OPTION,
) -> None:
    """Serve the web page and the JSON API (/api/predict, /api/map, /health, /openapi.json) for a run."""
    import uvicorn

    from crackscope.serve.app import create_app

    if max_upload_mb <= 0 or max_megapixels <= 0:
        fail("--max-upload-mb and --max-megapixels must be positive")
    device = check_device(device)
    app = create_app(
        run,
        preset=preset,
        max_upload_bytes=int(max_upload_mb * 1048576),
        max_pixels=int(max_megapixels * 1e6),
        device=device,
    )
    console.print(f"serving [bold]{run}[/] on http://{host}:{port}  (API schema: http://{host}:{port}/openapi.json)")
    uvicorn.run(app, host=host, port=port, log_level="info")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("demo")(demo_cmd)
    app.command("report")(report_cmd)
    app.command("serve")(serve_cmd)
