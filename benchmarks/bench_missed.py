"""Where a map misses crack pixels: did the pixel models not fire there, or did the mask drop what they found?

    .venv/bin/python benchmarks/bench_missed.py [--run builtin] [--set hairline] [--width-rule-first]

Maps the choosing photos of ``--set`` (``bench_restorer.tune_pairs``; never a held-out photo) with the run through
``make_mapper`` and sorts the true crack pixels the mask misses by the ensemble's probability within 1 px of them
(the 3x3 maximum): below 0.1 (the models did not fire), 0.1-0.4 (below the threshold), at least 0.4 (the models
fired and the mask's width rule or size rules dropped the pixel), and how many of the missed pixels lie within 1 px
of the mask (a one-pixel offset). ``--width-rule-first`` maps with the mask settings as they were before
``width_rule_last`` (the width rule, then the size and shape rules). Shares of all true crack pixels; a line goes
to ``benchmarks/results/missed.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_restorer import TUNE_SETS, tune_pairs  # noqa: E402
from context import load_1min, run_context  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "missed.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="builtin")
    ap.add_argument("--set", choices=TUNE_SETS, default="hairline")
    ap.add_argument("--width-rule-first", action="store_true")
    args = ap.parse_args()

    from crackscope.maps.factory import default_recipe, make_mapper

    context = run_context()
    recipe = default_recipe(args.run)
    if args.width_rule_first:
        recipe = recipe.with_(refine_options=recipe.refine_options.with_(width_rule_last=False, trimmed_min_size=0))
    mapper = make_mapper(args.run, recipe, device="cpu")
    near = np.ones((3, 3), np.uint8)
    counts = np.zeros(6, np.int64)  # truth, missed, < 0.1, 0.1-0.4, >= 0.4, missed within 1 px of the mask
    for _, image, truth in tune_pairs(40, args.set):
        result = mapper.map_image(image)
        probability = cv2.dilate(result.probability, near)
        mask_near = cv2.dilate(result.mask.astype(np.uint8), near).astype(bool)
        missed = truth & ~result.mask
        counts += [
            truth.sum(),
            missed.sum(),
            (missed & (probability < 0.1)).sum(),
            (missed & (probability >= 0.1) & (probability < 0.4)).sum(),
            (missed & (probability >= 0.4)).sum(),
            (missed & mask_near).sum(),
        ]
    share = counts / max(int(counts[0]), 1)
    found = {
        "true_crack_pixels": int(counts[0]),
        "missed": round(float(share[1]), 4),
        "missed_probability_below_0.1": round(float(share[2]), 4),
        "missed_probability_0.1_to_0.4": round(float(share[3]), 4),
        "missed_probability_at_least_0.4": round(float(share[4]), 4),
        "missed_within_1px_of_the_mask": round(float(share[5]), 4),
    }
    print(json.dumps(found))
    record = {
        **context,
        "command": " ".join(sys.argv),
        "run": args.run,
        "set": args.set,
        "width_rule_first": args.width_rule_first,
        **found,
        "load_1min_after": load_1min(),
    }
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
