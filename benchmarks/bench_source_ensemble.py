"""Several leave-one-source-out runs as one (issue 16): each member and their mean probability on the held-out source.

    .venv/bin/python benchmarks/bench_source_ensemble.py WORK WORK... [--held crack500]

Each WORK is a ``bench_sources.py --work`` folder holding the run that leaves ``--held`` out
(``WORK/without-<held>``), trained with another seed. Every member scores all of the held-out source (never
trained on); the ensemble is the members' mean crack probability. Each is scored at 0.5 (the product's default
threshold) with accuracy and recall, and with the *ceiling* (the threshold that maximises the held-out source's own
accuracy, found with its labels: a bound, never a choice) and ROC-AUC. No setting is chosen here. A line with date,
commit, machine and load goes to ``benchmarks/results/source_ensemble.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_source_thresholds import best_accuracy_threshold  # noqa: E402
from bench_sources import DATA, NAMES  # noqa: E402
from context import load_1min, run_context  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "source_ensemble.jsonl"


def scores(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy and recall at 0.5, the ceiling's threshold and accuracy, and ROC-AUC."""
    from crackscope.training.metrics import binary_metrics

    truth = labels.astype(bool)
    cracked = probabilities >= 0.5
    cut, best = best_accuracy_threshold(labels, probabilities)
    return {
        "accuracy": round(float(np.mean(cracked == truth)), 4),
        "recall": round(float(cracked[truth].mean()), 4),
        "ceiling_threshold": round(cut, 4),
        "ceiling_accuracy": round(best, 4),
        "roc_auc": round(float(binary_metrics(labels, probabilities)["roc_auc"]), 4),
    }


def main() -> None:
    from crackscope.data.sources import DataSource
    from crackscope.training.classifier_scores import _found_items, _score_items
    from crackscope.training.run import load_run

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("works", type=Path, nargs="+", metavar="WORK")
    ap.add_argument("--held", default="crack500", choices=sorted(NAMES))
    args = ap.parse_args()
    context = run_context()
    source = DataSource(DATA / NAMES[args.held], args.held)
    members, probabilities, labels, keys = [], [], None, None
    for work in args.works:
        run = load_run(work / f"without-{args.held}", device="cpu")
        items, _ = _found_items(run, (source,), None)
        p, y, _, _ = _score_items(run, items, batch_size=64)
        item_keys = [it.key for it in items]
        if keys is None:
            keys, labels = item_keys, y
        elif item_keys != keys:
            raise SystemExit(f"{work}: its run scores other items of {args.held} than {args.works[0]}'s")
        probabilities.append(p)
        row = {"run": str(run.path), **scores(y, p)}
        members.append(row)
        print(json.dumps(row), flush=True)
    assert labels is not None
    ensemble = {"members": len(probabilities), **scores(labels, np.mean(probabilities, axis=0))}
    print(json.dumps({"ensemble": ensemble}), flush=True)
    record = {
        **context,
        "held_out": args.held,
        "items": len(labels),
        "members": members,
        "members_mean_accuracy": round(float(np.mean([m["accuracy"] for m in members])), 4),
        "ensemble": ensemble,
        "load_1min_after": load_1min(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
