"""Two commits side by side on the 13 MP mosaic: each maps it in fresh processes from its own worktree, in turns.

    .venv/bin/python benchmarks/bench_side_by_side.py OLD NEW [--repeat 5] [--run builtin]

This machine's speed swings from day to day and within a day (the same code mapped the mosaic in 8.7 s on one day
and 11.8-21 s on another), so what a change costs is the ratio of two commits run in turns, in one session, not
two figures from different hours. Each commit is checked out into a temporary git worktree; ``crackscope map RUN
MOSAIC -o OUT --overwrite`` runs there in a fresh process with the worktree as its working directory and first on
its Python path (so the worktree's code runs, checked before timing, not this checkout's), with this checkout's
virtual environment and tcmalloc, as ``bench_mosaic.py`` runs it. The mosaic is ``make_mosaic.py``'s (the last 64
DeepCrack photos, 4352x3072). No setting is chosen here. A line with date, commit, machine and load, each commit's
median and times, their ratio (NEW / OLD) and peak memory goes to ``benchmarks/results/side_by_side.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_mosaic import run_once  # noqa: E402
from bench_restorer import append_result  # noqa: E402
from context import load_1min, run_context  # noqa: E402


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def _check_imports_from(tree: Path) -> None:
    """Fail unless ``import crackscope`` in ``tree`` (as the timed runs import it) loads ``tree``'s package."""
    found = subprocess.run(
        [sys.executable, "-c", "import crackscope; print(crackscope.__file__)"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"the runs in {tree} would import {found}, not the worktree's crackscope")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", help="the commit before the change")
    ap.add_argument("new", help="the commit with it")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each commit, in turns")
    ap.add_argument("--run", default="builtin")
    args = ap.parse_args()
    commits = {"old": _git("rev-parse", "--short", args.old), "new": _git("rev-parse", "--short", args.new)}
    context = run_context()
    crackscope = str(Path(sys.executable).with_name("crackscope"))
    times: dict[str, list[float]] = {"old": [], "new": []}
    memory: dict[str, float] = {"old": 0.0, "new": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_mosaic.py"), str(work)], check=True)
        trees = {side: work / f"tree-{side}" for side in commits}
        try:
            for side, tree in trees.items():
                _git("worktree", "add", "--detach", str(tree), commits[side])
                _check_imports_from(tree)
            mosaic = str(work / "in" / "mosaic.png")
            for _ in range(args.repeat):
                for side, tree in trees.items():
                    command = [crackscope, "map", args.run, mosaic, "-o", str(work / f"out-{side}"), "--overwrite"]
                    wall, rss = run_once(command, cwd=tree, python_path=tree)
                    times[side].append(round(wall, 2))
                    memory[side] = max(memory[side], round(rss, 3))
                    print(f"{side} {commits[side]}: {wall:.2f} s", flush=True)
        finally:
            for tree in trees.values():
                if tree.exists():
                    _git("worktree", "remove", "--force", str(tree))
    medians = {side: round(statistics.median(ts), 2) for side, ts in times.items()}
    record = {
        **context,
        "command": f"crackscope map {args.run} MOSAIC -o OUT --overwrite, from each commit's worktree, in turns",
        "old": commits["old"],
        "new": commits["new"],
        "wall_s_median": medians,
        "wall_s_all": times,
        "ratio_new_to_old": round(medians["new"] / medians["old"], 3),
        "peak_rss_gb_max": memory,
        "load_1min_after": load_1min(),
    }
    print(json.dumps(record))
    append_result("side_by_side.jsonl", record)


if __name__ == "__main__":
    main()
