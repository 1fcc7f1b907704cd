"""Recall-first thresholds for classifiers across sources (issue 16): leave-one-source-out accuracy at target recalls.

    .venv/bin/python benchmarks/bench_source_thresholds.py [--work bench-out/sources] [--recalls 0.9,0.95,0.98]
        [--held ozgenel,deepcrack,crack500]

Takes the three leave-one-source-out runs of ``bench_sources.py`` (``WORK/without-<source>``, trained, never
re-trained here) and, for each target recall, chooses the run's threshold as the product does
(``crackscope.training.threshold.threshold_for_sources``: the pooled validation samples of the trained sources,
from the run's own ``split.csv``), then scores the held-out source (all of it) at that threshold. "0.5" is the
product's default (no target). The row to choose by is the mean held-out accuracy over the three sources (the
criterion the augmentation was chosen by); each source's accuracy, recall and the threshold are listed too.
"ceiling" is the threshold that maximises the held-out source's own accuracy, found with its labels: what no
threshold rule can beat for that run (a bound, never a choice), with the held-out ROC-AUC. ``--held`` takes only
the runs that leave those sources out (the mean then covers them only). A line with date, commit, machine and load
goes to ``benchmarks/results/source_thresholds.jsonl``.
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

from bench_sources import DATA, NAMES  # noqa: E402  (the sources of the runs scored here)
from context import load_1min, run_context  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "source_thresholds.jsonl"


def best_accuracy_threshold(labels: np.ndarray, probabilities: np.ndarray) -> tuple[float, float]:
    """(threshold, accuracy): the probability at which "cracked when >= it" is most often right, over every
    probability that occurs (the lowest such threshold on ties), in one sort instead of a pass per threshold."""
    labels = np.asarray(labels).astype(bool)
    descending = -np.asarray(probabilities, dtype=np.float64)
    order = np.argsort(descending, kind="stable")
    ranked = descending[order]
    cuts = np.unique(ranked)  # the thresholds, highest probability first
    called = np.searchsorted(ranked, cuts, side="right")  # items called cracked at each threshold
    true_pos = np.cumsum(labels[order])[called - 1]
    correct = (2 * true_pos - called + (len(labels) - labels.sum())) / len(labels)  # TP + TN
    best = int(np.flatnonzero(correct == correct.max())[-1])  # the lowest threshold among equals
    return float(-cuts[best]), float(correct[best])


def main() -> None:
    from crackscope.data.sources import DataSource
    from crackscope.data.splits import read_split_csv
    from crackscope.training.classifier_scores import _found_items, _score_items
    from crackscope.training.metrics import binary_metrics
    from crackscope.training.run import load_run
    from crackscope.training.threshold import threshold_for_sources

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=ROOT / "bench-out" / "sources")
    ap.add_argument("--recalls", default="0.9,0.95,0.98")
    ap.add_argument("--held", default=",".join(NAMES), help="the held-out sources whose runs are scored")
    args = ap.parse_args()
    held_out = args.held.split(",")
    unknown = sorted(set(held_out) - set(NAMES))
    if unknown:
        ap.error(f"unknown source {unknown[0]!r} (known: {', '.join(NAMES)})")
    recalls: list[float | None] = [None, *(float(r) for r in args.recalls.split(","))]
    context = run_context()
    sources = {name: DataSource(DATA / folder, name) for name, folder in NAMES.items()}
    per_source = {}
    for held in held_out:
        trained = [n for n in NAMES if n != held]
        run = load_run(args.work / f"without-{held}", device="cpu")
        wanted = {it.key for it in read_split_csv(run.path / "split.csv")["val"]}
        val_items, _ = _found_items(run, tuple(sources[n] for n in trained), None)
        val_items = [it for it in val_items if it.key in wanted]
        val_p, val_y, val_src, _ = _score_items(run, val_items, batch_size=64)
        held_items, _ = _found_items(run, (sources[held],), None)
        held_p, held_y, _, _ = _score_items(run, held_items, batch_size=64)
        rows = {}
        for target in recalls:
            t = threshold_for_sources(val_y, val_p, val_src, target_recall=target, trained=trained)
            cracked = held_p >= t
            rows["0.5" if target is None else str(target)] = {
                "threshold": round(float(t), 4),
                "accuracy": round(float(np.mean(cracked == held_y.astype(bool))), 4),
                "recall": round(float(cracked[held_y == 1].mean()), 4),
            }
        cut, accuracy = best_accuracy_threshold(held_y, held_p)
        ceiling = {
            "threshold": round(cut, 4),
            "accuracy": round(accuracy, 4),
            "recall": round(float((held_p[held_y == 1] >= cut).mean()), 4),
            "roc_auc": round(float(binary_metrics(held_y, held_p)["roc_auc"]), 4),
        }
        per_source[held] = {
            "run": str(run.path),
            "validation_samples": len(val_items),
            "held_out": rows,
            "ceiling": ceiling,
        }
        print(held, rows, "ceiling", ceiling, flush=True)
    means = {
        key: round(float(np.mean([per_source[h]["held_out"][key]["accuracy"] for h in held_out])), 4)
        for key in per_source[held_out[0]]["held_out"]
    }
    record = {**context, "work": str(args.work), "held_out": per_source, "mean_accuracy": means}
    record["load_1min_after"] = load_1min()
    print(json.dumps({"mean_accuracy": means}))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
