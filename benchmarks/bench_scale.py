"""Any scale: the same held-out photos at 0.5x, 1x, 2x and 4x, mapped by one run, F1 with the tolerance scaled.

    .venv/bin/python benchmarks/bench_scale.py [--run builtin] [--data DEEPCRACK] [--held-out 60] [--limit N]

The last ``--held-out`` photos of DATA (name order, as ``bench_fit.py`` holds them out) and their masks are resized
by each factor (photos: area averaging down, bilinear up; masks: a pixel is crack where its area-averaged value
reaches 0.25 going down, so a 1 px crack stays a line, and bilinear at 0.5 going up). Each is mapped in memory by
the run's own recipe (``auto`` scale: :mod:`crackscope.maps.scale`) and, side by side in the same run, with the
scale fixed (``native``, the photos mapped as they are). Pooled exact F1 and F1 at a tolerance of 2 px x factor
(1 px at 0.5x, 2 at 1x, 4 at 2x, 8 at 4x), recall, seconds per photo, and the median factor the auto mapper chose.
No setting is chosen here. A line with date, commit, machine and load goes to ``benchmarks/results/scale.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from context import load_1min, run_context  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "scale.jsonl"
DEEPCRACK = ROOT.parent / "shared" / "datasets" / "deepcrack-train"
FACTORS = (0.5, 1.0, 2.0, 4.0)


def resized(image: np.ndarray, mask: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """Photo and mask at ``k`` times their size (see the module docstring for the rules)."""
    if k == 1:
        return image, mask
    h, w = mask.shape
    size = (round(w * k), round(h * k))
    if k < 1:
        img = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        gt = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.25
    else:
        img = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        gt = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) >= 0.5
    return img, gt


def main() -> None:
    from crackscope.evaluation.map_scores import Counts, count_mask
    from crackscope.io import read_image, read_mask
    from crackscope.maps.factory import make_mapper, resolve_recipe
    from crackscope.runs import resolve_run_dir

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="builtin")
    ap.add_argument("--data", type=Path, default=DEEPCRACK)
    ap.add_argument("--held-out", type=int, default=60)
    ap.add_argument("--limit", type=int, default=None, help="only the first N of the photos (a quick look)")
    ap.add_argument(
        "--training-photos", action="store_true", help="the photos before the held-out ones (to check settings on)"
    )
    ap.add_argument("--modes", default="auto,native")
    args = ap.parse_args()

    context = run_context()
    every = sorted((args.data / "images").glob("*.jpg"))
    photos = (every[: -args.held_out] if args.training_photos else every[-args.held_out :])[: args.limit]
    pairs = [(read_image(p), read_mask(args.data / "masks" / f"{p.stem}.png")) for p in photos]
    run_dir = resolve_run_dir(args.run)
    recipe = resolve_recipe(run_dir, None)
    rows = []
    for mode in args.modes.split(","):
        mapper = make_mapper(run_dir, recipe.with_(scale=recipe.scale.with_(mode=mode)))
        for k in FACTORS:
            exact, tolerant = Counts(), Counts()
            seconds, factors = [], []
            for image, mask in pairs:
                img, gt = resized(image, mask, k)
                t = time.perf_counter()
                result = mapper.map_image(img)
                seconds.append(time.perf_counter() - t)
                factors.append(result.scale)
                exact += count_mask(result.mask, gt)
                tolerant += count_mask(result.mask, gt, tol=2 * k)
            row = {
                "mode": mode,
                "factor": k,
                "exact_f1": round(exact.f1, 4),
                "exact_recall": round(exact.recall, 4),
                "tolerant_f1": round(tolerant.f1, 4),
                "tolerant_recall": round(tolerant.recall, 4),
                "tolerance_px": 2 * k,
                "seconds_per_photo": round(statistics.median(seconds), 3),
                "median_scale_chosen": round(statistics.median(factors), 3),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    context["load_1min_after"] = load_1min()
    record = {
        **context,
        "run": args.run,
        "photos": f"{args.data.name}: "
        + ("training photos (all but the last" if args.training_photos else "held-out photos (the last")
        + f" {args.held_out} in name order)"
        + (f", first {args.limit} of them" if args.limit else ""),
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
