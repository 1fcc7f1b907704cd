"""A classifier's threshold set from unlabelled photos of the surface it is to judge (issue 16): Otsu on the logits.

    .venv/bin/python benchmarks/bench_surface_threshold.py WORK   # WORK: a bench_sources.py --rows loso work folder

For each leave-one-source-out run in WORK (``without-NAME``) the held-out source's items (cut as ``evaluate`` cuts
them) are split in two by source photo (``split_items``, 50 / 50, seed 0, crops of one photo together, as
``bench_adapt.py`` splits them). The run scores both halves. From the first half's probabilities alone, labels
unread, a threshold is set: Otsu's threshold (``skimage.filters.threshold_otsu``) of the logits, clipped to
[-12, 12], turned back into a probability. The second half is scored at the run's own threshold (chosen on the
trained sources' validation data) and at the surface's, with the ceiling (the best threshold for the second half,
found with its labels: a bound). A second row sets the threshold from a first half with only 10 % cracked items
(every uncracked item, cracked ones drawn at random, seed 0): photos of a surface are mostly crack-free, and a
threshold between two modes is only as good as the modes. Nothing is chosen here. A line with date, commit, machine
and load goes to ``benchmarks/results/surface_threshold.jsonl``.
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

from bench_restorer import append_result  # noqa: E402
from bench_source_thresholds import best_accuracy_threshold  # noqa: E402
from bench_sources import DATA, NAMES  # noqa: E402
from context import load_1min, run_context  # noqa: E402

#: the share of cracked items in the second row's unlabelled photos
SPARSE_CRACKED = 0.10


def otsu_threshold(probabilities: np.ndarray) -> float:
    """The probability at Otsu's threshold of the logits (clipped to [-12, 12])."""
    from skimage.filters import threshold_otsu

    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-6, 1 - 1e-6)
    logits = np.clip(np.log(p / (1 - p)), -12.0, 12.0)
    return float(1.0 / (1.0 + np.exp(-threshold_otsu(logits))))


def at(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict[str, float]:
    cracked, truth = probabilities >= threshold, labels.astype(bool)
    return {
        "threshold": round(threshold, 4),
        "accuracy": round(float(np.mean(cracked == truth)), 4),
        "recall": round(float(cracked[truth].mean()), 4),
    }


def main() -> None:
    from crackscope.data.sources import DataSource, source_items
    from crackscope.data.splits import split_items
    from crackscope.training.classifier_scores import run_patch_options, score_items
    from crackscope.training.run import load_run

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path, help="a bench_sources.py work folder with without-NAME runs")
    args = ap.parse_args()
    context = run_context()
    rows = []
    for held, folder in NAMES.items():
        run_dir = args.work / f"without-{held}"
        if not (run_dir / "model.safetensors").is_file():
            continue
        run = load_run(run_dir, device="cpu")
        items = list(source_items([DataSource(DATA / folder, held)], **run_patch_options(run)).parts[held])
        halves = split_items(items, fractions=(0.5, 0.0, 0.5), seed=0)
        first_p, first_y, _ = score_items(run, halves["train"])
        second_p, second_y, _ = score_items(run, halves["test"])
        cracked = np.flatnonzero(first_y == 1)
        clean = np.flatnonzero(first_y == 0)
        keep = round(SPARSE_CRACKED / (1 - SPARSE_CRACKED) * len(clean))
        drawn = np.random.default_rng(0).choice(cracked, size=min(keep, len(cracked)), replace=False)
        sparse = first_p[np.concatenate([clean, drawn])]
        cut, best = best_accuracy_threshold(second_y, second_p)
        row = {
            "held_out": held,
            "first_half_items": len(first_p),
            "first_half_cracked": round(float(first_y.mean()), 4),
            "scored_items": len(second_p),
            "run_threshold": at(second_y, second_p, float(run.threshold)),
            "surface_threshold": at(second_y, second_p, otsu_threshold(first_p)),
            "surface_threshold_10pct_cracked": at(second_y, second_p, otsu_threshold(sparse)),
            "ceiling": {"threshold": round(cut, 4), "accuracy": round(best, 4)},
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    context["load_1min_after"] = load_1min()
    append_result("surface_threshold.jsonl", {**context, "work": str(args.work), "rows": rows})


if __name__ == "__main__":
    main()
