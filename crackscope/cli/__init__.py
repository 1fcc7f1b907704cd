"""The one command line, ``crackscope``; its commands mirror the Python API."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from crackscope.cli.common import console
from crackscope.errors import CrackscopeError

app = typer.Typer(
    name="crackscope",
    help="Find, map and measure cracks in photos, with explainable CNNs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("version")
def version_command() -> None:
    """Print the crackscope version and the versions of its main libraries."""
    from crackscope.io import versions

    for name, value in versions().items():
        print(f"{name}: {value}")


def _register_all() -> None:
    from crackscope.cli import (
        app_commands,
        cam_commands,
        data_commands,
        map_commands,
        model_commands,
        unsupervised_commands,
    )

    for module in (data_commands, model_commands, cam_commands, map_commands, unsupervised_commands, app_commands):
        module.register(app)


_register_all()

_TCMALLOC_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib/libtcmalloc_minimal.so.4",
)


def _maybe_reexec_with_tcmalloc() -> None:
    """Restart under tcmalloc when the system has it (about 1.7x faster training measured here)."""
    if os.environ.get("CRACKSCOPE_NO_TCMALLOC") or "tcmalloc" in os.environ.get("LD_PRELOAD", ""):
        return
    lib = next((p for p in _TCMALLOC_CANDIDATES if Path(p).exists()), None)
    if lib is None:
        return
    env = dict(os.environ, LD_PRELOAD=lib, CRACKSCOPE_NO_TCMALLOC="1")
    try:
        os.execve(sys.executable, [sys.executable, "-m", "crackscope", *sys.argv[1:]], env)
    except OSError:
        return


def main() -> None:
    """Console entry point: clear one-line errors for bad input instead of tracebacks."""
    _maybe_reexec_with_tcmalloc()
    try:
        app()
    except CrackscopeError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None
