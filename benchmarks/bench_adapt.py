"""A classifier brought to a new surface by its unlabelled photos: batch-norm statistics re-estimated (AdaBN).

    .venv/bin/python benchmarks/bench_adapt.py WORK   # WORK: a bench_sources.py --rows loso work folder

For each leave-one-source-out run in WORK (``without-NAME``), the held-out source's items (cut as ``evaluate`` cuts
them) are split in two by source photo (``split_items``, 50 / 50, seed 0, crops of one photo together): the network's
batch-norm statistics are re-estimated on the first half's images, labels unread (torch's ``update_bn``; Li et al.,
"Revisiting batch normalization for practical domain adaptation", 2016), and both the trained and the adapted
network are scored on the second half at the run's threshold. Nothing is chosen here. A line with date, commit,
machine and load goes to ``benchmarks/results/adapt.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_restorer import append_result  # noqa: E402
from context import load_1min, run_context  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
NAMES = {"ozgenel": "ozgenel-10k", "deepcrack": "deepcrack-train", "crack500": "crack500-379"}


def main() -> None:
    import numpy as np
    import torch
    from torch.optim.swa_utils import update_bn

    from crackscope.data.sources import DataSource, source_items
    from crackscope.data.splits import split_items
    from crackscope.training.classifier_scores import run_patch_options, score_items
    from crackscope.training.metrics import binary_metrics
    from crackscope.training.run import load_run
    from crackscope.training.torchdata import resize_square, to_batch_tensor

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path, help="a bench_sources.py work folder with without-NAME runs")
    args = ap.parse_args()
    context = run_context()
    torch.set_num_threads(2)
    rows = []
    for held, folder in NAMES.items():
        run_dir = args.work / f"without-{held}"
        if not (run_dir / "model.safetensors").is_file():
            continue
        run = load_run(run_dir, device="cpu")
        source = DataSource(DATA / folder, held)
        items = list(source_items([source], **run_patch_options(run)).parts[held])
        halves = split_items(items, fractions=(0.5, 0.0, 0.5), seed=0)
        adapt, scored = halves["train"], halves["test"]
        row = {"held_out": held, "adapt_items": len(adapt), "scored_items": len(scored)}
        for stage in ("trained", "adapted"):
            if stage == "adapted":
                batches = []
                for start in range(0, len(adapt), 64):
                    pixels = np.stack([resize_square(it.load(), run.image_size) for it in adapt[start : start + 64]])
                    batches.append(to_batch_tensor(pixels).contiguous(memory_format=torch.channels_last))
                update_bn(batches, run.model)  # running statistics of the new surface, labels unread
                run.model.eval()
            probs, labels, _ = score_items(run, scored)
            metrics = binary_metrics(labels, probs, threshold=run.threshold)
            row[stage] = {key: round(float(metrics[key]), 4) for key in ("accuracy", "recall", "roc_auc")}
        rows.append(row)
        print(json.dumps(row), flush=True)
    context["load_1min_after"] = load_1min()
    append_result("adapt.jsonl", {**context, "work": str(args.work), "rows": rows})


if __name__ == "__main__":
    main()
