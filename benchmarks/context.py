"""When and where a benchmark ran, read from the system at run time (never written into the source).

Every benchmark script that writes a result file records :func:`run_context` with its numbers::

    from context import load_1min, run_context   # the scripts run as ``python benchmarks/SCRIPT.py``

    context = run_context()           # date, commit, machine, 1-minute load average (before)
    ...                               # the measurement
    context["load_1min_after"] = load_1min()
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_1min() -> float:
    """The machine's 1-minute load average now (the machine is shared: other jobs' load shows here)."""
    return round(os.getloadavg()[0], 2)


def git_commit(root: Path = ROOT) -> str:
    """The checked-out commit, with ``+changes`` when the working tree differs from it; ``unknown`` outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def run_context(root: Path = ROOT) -> dict[str, object]:
    """Date, commit, machine and load, read from the system when the benchmark runs."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "commit": git_commit(root),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_1min": load_1min(),
    }
