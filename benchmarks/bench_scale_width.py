"""What the scale rule does to detection and to widths, on DeepCrack *tune* photos (a diagnostic for issue 14).

    .venv/bin/python benchmarks/bench_scale_width.py [--run builtin] [--set tune|hairline]

The 40 DeepCrack tune photos (every 6th of the first 240 in name order: training photos whose masks may choose
settings; the bundled run's pixel models learned from these photos' pseudo-labels, so the F1 here is optimistic)
are mapped by the run with its own recipe, with the scale rule's dead band at 1.25 (the recipe's), 1.5 and 2.0,
and with ``scale=native``. Per arm: how many photos were resampled, exact F1 (P / R) of the pooled masks, and the
median length and mean-width errors (``bench_measure.mask_totals``, the rule of every width row). ``--set
hairline`` maps the hairline training photos instead (``bench_restorer.hairline_photos``: the held-out photos'
kind). Nothing is chosen here; a JSON line goes to ``benchmarks/results/scale_width.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_restorer import tune_pairs, width_errors  # noqa: E402
from context import load_1min, run_context  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "scale_width.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="builtin")
    ap.add_argument("--set", choices=("tune", "hairline"), default="tune")
    args = ap.parse_args()

    from crackscope.evaluation.map_scores import Counts, count_mask
    from crackscope.maps.factory import default_recipe, make_mapper

    context = run_context()
    pairs = tune_pairs(40, args.set)
    recipe = default_recipe(args.run)
    arms = {
        "auto, dead band 1.25 (the recipe's)": recipe.scale.with_(dead_band=1.25),
        "auto, dead band 1.5": recipe.scale.with_(dead_band=1.5),
        "auto, dead band 2.0": recipe.scale.with_(dead_band=2.0),
        "native": recipe.scale.with_(mode="native"),
    }
    rows = []
    for name, scale in arms.items():
        mapper = make_mapper(args.run, recipe.with_(scale=scale), device="cpu")
        total, masks, resampled = Counts(), [], 0
        for _, image, truth in pairs:
            result = mapper.map_image(image)
            resampled += result.scale != 1.0
            total = total + count_mask(result.mask, truth)
            masks.append(result.mask)
        row = {
            "arm": name,
            "resampled": resampled,
            "f1": round(total.f1, 4),
            "precision": round(total.precision, 4),
            "recall": round(total.recall, 4),
            **width_errors(masks, [t for _, _, t in pairs]),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {
        **context,
        "command": " ".join(sys.argv),
        "run": args.run,
        "photos": f"{len(pairs)} DeepCrack {args.set} photos",
        "rows": rows,
        "load_1min_after": load_1min(),
    }
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
