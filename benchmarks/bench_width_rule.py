"""The CAM route's width rule, chosen on DeepCrack training photos (issue 14: widths within 15 % of the truth).

    .venv/bin/python benchmarks/bench_width_rule.py [--run builtin] [--set tune+hairline]

Maps the chosen photo set (``bench_restorer.tune_pairs``: the 40 tune photos, the 15 hairline training photos of
the held-out photos' kind, or both; never a held-out photo) through the product's mapper (``make_mapper`` with the
run's recipe, its scale rule included) for each setting of a small grid of the mask settings that set the width:
the ensemble's probability threshold (``pixel_threshold``) and the half-maximum width rule (``half_max``,
``half_max_radius``). Per setting: exact F1 (P / R) of the pooled masks and the median length and mean-width
errors (``bench_measure.mask_totals``, the rule of every width row), overall and per set. The choice: the best
exact F1 among the settings whose median width error over all photos is within ``--max-width`` (the goal, 15 %);
the run's own setting is reported beside it. A JSON line goes to ``benchmarks/results/width_rule.jsonl``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_restorer import TUNE_SETS, hairline_photos, tune_pairs, width_errors  # noqa: E402
from context import load_1min, run_context  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "width_rule.jsonl"
GRID = {"pixel_threshold": (0.4, 0.5, 0.6), "half_max": (0.5, 0.6, 0.7), "half_max_radius": (3, 5)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="builtin")
    ap.add_argument("--set", choices=TUNE_SETS, default="tune+hairline")
    ap.add_argument("--max-width", type=float, default=0.15)
    args = ap.parse_args()

    from crackscope.evaluation.map_scores import Counts, count_mask
    from crackscope.maps.factory import default_recipe, make_mapper

    context = run_context()
    pairs = tune_pairs(40, args.set)
    hairline = set(hairline_photos())
    recipe = default_recipe(args.run)
    own = {name: getattr(recipe.refine_options, name) for name in GRID}
    rows = []
    for values in itertools.product(*GRID.values()):
        changes = dict(zip(GRID, values, strict=True))
        mapper = make_mapper(
            args.run, recipe.with_(refine_options=recipe.refine_options.with_(**changes)), device="cpu"
        )
        totals = {"all": Counts(), "tune": Counts(), "hairline": Counts()}
        masks: dict[str, list] = {"all": [], "tune": [], "hairline": []}
        truths: dict[str, list] = {"all": [], "tune": [], "hairline": []}
        for path, image, truth in pairs:
            mask = mapper.map_image(image).mask
            for part in ("all", "hairline" if path in hairline else "tune"):
                totals[part] = totals[part] + count_mask(mask, truth)
                masks[part].append(mask)
                truths[part].append(truth)
        row = {"settings": changes, "own": changes == own}
        for part, total in totals.items():
            if masks[part]:
                row[part] = {
                    "photos": len(masks[part]),
                    "f1": round(total.f1, 4),
                    "precision": round(total.precision, 4),
                    "recall": round(total.recall, 4),
                    **width_errors(masks[part], truths[part]),
                }
        rows.append(row)
        print(json.dumps(row), flush=True)
    within = [r for r in rows if r["all"]["width"] is not None and abs(r["all"]["width"]) <= args.max_width]
    chosen = max(within, key=lambda r: r["all"]["f1"]) if within else None
    record = {
        **context,
        "command": " ".join(sys.argv),
        "run": args.run,
        "photos": f"{len(pairs)} DeepCrack training photos, set {args.set!r}",
        "max_width_error": args.max_width,
        "own_settings": own,
        "chosen": chosen["settings"] if chosen else None,
        "rows": rows,
        "load_1min_after": load_1min(),
    }
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    print("own:", own, "chosen:", record["chosen"])


if __name__ == "__main__":
    main()
