"""Test-time augmentation of a classifier run on its own test split: one view, two (a flip) or eight (the dihedral
group), the crack probabilities averaged, the run's threshold unchanged.

    .venv/bin/python benchmarks/bench_tta.py RUN [RUN ...]

Reads each run's ``split.csv`` (the photos its training held out as ``test``; whole-file rows only), predicts them
with ``ClassifierRun.predict_proba`` in each view and reports accuracy and the photos it gets wrong per
variant. No setting is chosen here. A line goes to ``benchmarks/results/tta.jsonl``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from context import load_1min, run_context  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "tta.jsonl"
#: which of the eight dihedral views each variant averages (view k: rotated k % 4 quarter turns, mirrored first
#: for k >= 4)
VARIANTS = {"plain": (0,), "flip": (0, 4), "dihedral": tuple(range(8))}


def view(image: np.ndarray, k: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(image[:, ::-1] if k >= 4 else image, k % 4))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+")
    args = ap.parse_args()

    from crackscope.io import read_image
    from crackscope.training.run import load_run

    context = run_context()
    found = []
    for run_dir in args.runs:
        run = load_run(run_dir, device="cpu")
        with (run_dir / "split.csv").open() as fh:
            rows = [r for r in csv.DictReader(fh) if r["split"] == "test" and "#" not in r["key"]]
        images = [read_image(r["key"]) for r in rows]
        truth = np.array([int(r["label"]) for r in rows])
        probs = np.stack([run.predict_proba([view(im, k) for im in images]) for k in range(8)])
        entry: dict[str, object] = {"run": str(run_dir), "photos": len(rows), "threshold": run.threshold}
        for name, views in VARIANTS.items():
            predicted = (probs[list(views)].mean(axis=0) >= run.threshold).astype(int)
            wrong = np.flatnonzero(predicted != truth)
            entry[name] = {
                "accuracy": round(float((predicted == truth).mean()), 5),
                "errors": int(wrong.size),
                "wrong": [str(Path(rows[i]["key"]).relative_to(Path(rows[i]["key"]).parents[1])) for i in wrong],
            }
        found.append(entry)
        print(json.dumps(entry), flush=True)
    record = {**context, "command": " ".join(sys.argv), "runs": found, "load_1min_after": load_1min()}
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
