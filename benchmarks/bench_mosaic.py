"""A 13 MP photo with real cracks, mapped by the user's command: wall time, peak memory and F1 against its parts.

    .venv/bin/python benchmarks/bench_mosaic.py [--run builtin] [--repeat 3]

Makes the mosaic of ``make_mosaic.py`` (the last 64 DeepCrack photos tiled 8 x 8, 4352x3072) in a temporary
folder, runs ``crackscope map RUN MOSAIC -o OUT --overwrite`` in a fresh process ``--repeat`` times (with tcmalloc
where the system has it, as ``make`` runs commands) and records the median wall time and the peak resident memory
of the command (``getrusage`` of the child), then scores the mask against the mosaic of the true masks, exact and
at 2 px. No setting is chosen here. A line with date, commit, machine and load goes to
``benchmarks/results/mosaic.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from context import load_1min, run_context  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "mosaic.jsonl"
TCMALLOC = [p for p in Path("/usr/lib").glob("*/libtcmalloc_minimal.so.4")]


def run_once(command: list[str], *, cwd: Path | None = None, python_path: Path | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS in GB) of one fresh process running ``command`` (in ``cwd``; ``python_path``
    first on its Python path)."""
    env = dict(os.environ)
    if TCMALLOC:
        env["LD_PRELOAD"] = str(TCMALLOC[0])
    if python_path is not None:
        env["PYTHONPATH"] = str(python_path)
    with tempfile.TemporaryFile("w+") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own rusage: ru_maxrss in kB on Linux
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed ({proc.returncode}): {log.read()[-2000:]}")
    return wall, usage.ru_maxrss / 1024**2  # kB -> GB


def main() -> None:
    from crackscope.evaluation.map_scores import score_dirs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="builtin")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    context = run_context()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_mosaic.py"), str(work)], check=True)
        crackscope = str(Path(sys.executable).with_name("crackscope"))
        command = [crackscope, "map", args.run, str(work / "in" / "mosaic.png"), "-o", str(work / "out"), "--overwrite"]
        runs = [run_once(command) for _ in range(args.repeat)]
        exact = score_dirs(work / "out", work / "gt", tol=0)["exact"]
        tolerant = score_dirs(work / "out", work / "gt", tol=2)["tolerant"]
    record = {
        **context,
        "run": args.run,
        "command": " ".join(["crackscope", *command[1:3], "MOSAIC", "-o", "OUT", "--overwrite"]),
        "wall_s_median": round(statistics.median(w for w, _ in runs), 2),
        "wall_s_all": [round(w, 2) for w, _ in runs],
        "peak_rss_gb_max": round(max(m for _, m in runs), 3),
        "exact_f1": round(exact["f1"], 4),
        "exact_recall": round(exact["recall"], 4),
        "tolerant_f1": round(tolerant["f1"], 4),
        "load_1min_after": load_1min(),
    }
    print(json.dumps(record))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
