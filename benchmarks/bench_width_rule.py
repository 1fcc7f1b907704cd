"""The CAM route's width rule, chosen on DeepCrack training photos (issue 14: widths within 15 % of the truth).

    .venv/bin/python benchmarks/bench_width_rule.py [--run builtin] [--set tune+hairline]
        [--grid half_max_blur=none,0.5,0 --grid half_max=0.5,0.6] [--each-set]

Maps the chosen photo set (``bench_restorer.tune_pairs``: the 40 tune photos, the 15 hairline training photos of
the held-out photos' kind, or both; never a held-out photo) through the product's mapper (``make_mapper`` with the
run's recipe, its scale rule included) for each setting of a small grid of the mask settings that set the width:
the ensemble's probability threshold (``pixel_threshold``) and the half-maximum width rule (``half_max``,
``half_max_radius``). Per setting: exact F1 (P / R) of the pooled masks and the median length and mean-width
errors (``bench_measure.mask_totals``, the rule of every width row), overall and per set. The choice: the best
exact F1 among the settings whose median width error over all photos (with ``--each-set``: in each set, tune and
hairline, on its own) is within ``--max-width`` (the goal, 15 %) and, with ``--max-length``, whose median length
error is within that too (the goal, 10 %); the run's own setting is reported beside it.
``--grid NAME=V1,V2`` replaces the grid (any mask setting, or a field of the recipe's ``ScaleOptions`` such as
``factor``; ``none`` for None; settings not named keep the run's). A JSON line goes to
``benchmarks/results/width_rule.jsonl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_restorer import TUNE_SETS, scores_by_set, tune_pairs  # noqa: E402
from context import load_1min, run_context  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "width_rule.jsonl"
GRID = {"pixel_threshold": (0.4, 0.5, 0.6), "half_max": (0.5, 0.6, 0.7), "half_max_radius": (3, 5)}


def parse_grid(items: list[str]) -> dict[str, tuple[object, ...]]:
    """``["half_max=0.5,0.6", "half_max_blur=none,0"]`` -> ``{"half_max": (0.5, 0.6), "half_max_blur": (None, 0.0)}``
    (radii and sizes as int; ``none``, ``true``, ``false`` as None, True, False)."""
    grid: dict[str, tuple[object, ...]] = {}
    for item in items:
        name, _, values = item.partition("=")
        if not values:
            raise SystemExit(f"--grid {item!r}: expected NAME=V1,V2")
        cast = int if name.endswith(("radius", "size")) else float
        words = {"none": None, "true": True, "false": False}
        grid[name] = tuple(words[v] if v in words else cast(v) for v in values.split(","))
    return grid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="builtin")
    ap.add_argument("--set", choices=TUNE_SETS, default="tune+hairline")
    ap.add_argument("--max-width", type=float, default=0.15)
    ap.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2")
    ap.add_argument("--max-length", type=float, default=None, help="a length limit too (the goal: 0.10)")
    ap.add_argument("--each-set", action="store_true", help="the width limit holds in each set on its own")
    args = ap.parse_args()
    grid = parse_grid(args.grid) if args.grid else GRID

    from crackscope.maps.factory import default_recipe, make_mapper

    context = run_context()
    pairs = tune_pairs(40, args.set)
    recipe = default_recipe(args.run)
    scale_fields = {f.name for f in dataclasses.fields(recipe.scale)}
    own = {name: getattr(recipe.scale if name in scale_fields else recipe.refine_options, name) for name in grid}
    rows = []
    for values in itertools.product(*grid.values()):
        changes = dict(zip(grid, values, strict=True))
        mask_changes = {k: v for k, v in changes.items() if k not in scale_fields}
        scale_changes = {k: v for k, v in changes.items() if k in scale_fields}
        mapper = make_mapper(
            args.run,
            recipe.with_(
                refine_options=recipe.refine_options.with_(**mask_changes),
                scale=recipe.scale.with_(**scale_changes),
            ),
            device="cpu",
        )
        masks = [mapper.map_image(image).mask for _, image, _ in pairs]
        row = {
            "settings": changes,
            "own": changes == own,
            **scores_by_set([p for p, _, _ in pairs], masks, [t for _, _, t in pairs], whole="all"),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    parts = [p for p in ("tune", "hairline") if p in rows[0]] if args.each_set else ["all"]
    limits = (
        {"width": args.max_width} if args.max_length is None else {"width": args.max_width, "length": args.max_length}
    )

    def meets(row: dict) -> bool:
        return all(row[p][k] is not None and abs(row[p][k]) <= limit for p in parts for k, limit in limits.items())

    within = [r for r in rows if meets(r)]
    chosen = max(within, key=lambda r: r["all"]["f1"]) if within else None
    record = {
        **context,
        "command": " ".join(sys.argv),
        "run": args.run,
        "photos": f"{len(pairs)} DeepCrack training photos, set {args.set!r}",
        "max_width_error": args.max_width,
        "max_length_error": args.max_length,
        "width_limit_in": parts,
        "grid": grid,
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
