"""The photo's own fine width rule for the CAM route's thin cracks only (issue 14: widths within 15 % of the truth).

    .venv/bin/python benchmarks/bench_thin_width.py [--run builtin] [--below 2,2.5,3,4,inf]
        [--rule 0.5:0.5 --rule 0.6:0.5 --rule 0.5:0.7] [--radii 3,6,12] [--max-width 0.15 --max-length 0.10]
        [--time-on PHOTO [--time-mask MASK]]

The bundled run's masks are about right on the wider cracks of the tune photos and 19 % too wide on hairline
photos; the fine profile of the restorer route (``crackscope.maps.photo_width``: the unquantised dark-line depth
after a 0.5 px blur) makes hairlines the right width but leaves the wider, ragged cracks ragged (sixth session).
Here the fine rule trims only the cracks whose own mean width (``measure_cracks``' ``mean_width_px``: the width
across the crack, averaged along its skeleton, as ``cracks.csv`` reports it; pieces less than 7 px apart are one
crack, as ``map`` counts them) is below ``--below`` px. The masks are the run's before any photo width rule of its
recipe (``photo_width`` left out).

Maps the 55 choosing photos (40 tune + 15 hairline DeepCrack training photos; never a held-out photo) once with the
run's mapper, then for each fine rule (``HALF_MAX:BLUR``) and each width limit: exact F1 (P / R) of the pooled
masks and the median length and mean-width errors, overall and per set. The choice: the best exact F1 over the 55
among the settings whose median width error is within ``--max-width`` and median length error within
``--max-length`` in each set (tune and hairline) on its own. A JSON line goes to
``benchmarks/results/thin_width.jsonl``. ``--open 1,2`` trims the thin parts of the masks instead of their thin cracks:
the pixels no disc of that radius inside the mask covers (the mask less its opening; cheaper: no crack is measured).
``--radii`` sets the black-hat radii of the fine profile (default: the
map's, 3 / 6 / 12); ``--time-on PHOTO`` also times each rule's profile on that photo over the whole of it (median of
three, seconds; the 13 MP mosaic of ``make_mosaic.py``), and with ``--time-mask MASK`` (a map's mask of that photo,
before the rule) the whole step as the product runs it (``apply_photo_width`` with each width limit: the cracks
measured, the profile read around the thin ones).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_restorer import scores_by_set, tune_pairs  # noqa: E402
from context import load_1min, run_context  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "thin_width.jsonl"


def trim_thin(image: np.ndarray, mask: np.ndarray, *, rule: object, below: float, min_size: int) -> np.ndarray:
    """``mask`` with every crack whose mean width is below ``below`` px passed through ``rule``'s width rule of the
    photo's profile; pieces of a trimmed crack smaller than ``min_size`` px are dropped."""
    from crackscope.maps.measure import CRACK_LINK_PX, measure_cracks
    from crackscope.maps.postprocess import label_cracks, remove_small

    if not mask.any():
        return mask
    labels = label_cracks(mask, connectivity=2, link=CRACK_LINK_PX)
    cracks = measure_cracks(mask, labels=labels)
    thin_ids = [c.id for c in cracks if c.mean_width_px < below]
    if not thin_ids:
        return mask
    thin = np.isin(labels[0], thin_ids)
    kept = thin & rule.within_width(image)  # type: ignore[attr-defined]
    kept = remove_small(kept, min_size=min_size) if min_size else kept
    return (mask & ~thin) | kept


def time_rule(rule: object, photo: Path) -> float:
    """Median of three wall times of ``rule.within_width`` over the whole of ``photo`` (seconds)."""
    from crackscope.io import read_image

    image = read_image(photo)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        rule.within_width(image)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 3)


def time_step(rule: object, photo: Path, mask_path: Path, below: float | None, *, opened: str | None) -> float:
    """Median of three wall times of the product's step, ``apply_photo_width(photo, mask, rule=rule,
    thin_below=below)``, or with ``opened`` of :func:`trim_open` at radius ``below`` (seconds)."""
    from crackscope.io import read_image, read_mask
    from crackscope.maps.photo_width import apply_photo_width

    image = read_image(photo)
    mask = read_mask(mask_path, shape=image.shape[:2])
    times = []
    for _ in range(3):
        start = time.perf_counter()
        if opened is None:
            apply_photo_width(image, mask, rule=rule, thin_below=below)  # type: ignore[arg-type]
        else:
            trim_open(image, mask, rule=rule, radius=int(below or 0), min_size=20)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 3)


def trim_open(image: np.ndarray, mask: np.ndarray, *, rule: object, radius: int, min_size: int) -> np.ndarray:
    """``mask`` with its thin parts passed through ``rule``'s width rule of the photo's profile: the pixels no disc
    of ``radius`` (OpenCV's ellipse, ``2 radius + 1`` px across) inside the mask covers (the mask less its
    opening); trimmed pieces smaller than ``min_size`` px are dropped."""
    import cv2

    from crackscope.maps.postprocess import remove_small

    if not mask.any():
        return mask
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    wide = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, disc).astype(bool)
    thin = mask & ~wide
    kept = thin & rule.within_width(image)  # type: ignore[attr-defined]
    kept = remove_small(kept, min_size=min_size) if min_size else kept
    return wide | kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="builtin")
    ap.add_argument("--below", default="2,2.5,3,4,inf", help="width limits in px (inf: every crack)")
    ap.add_argument(
        "--open", default=None, help="disc radii (e.g. 1,2): thin parts are those no such disc covers, not whole cracks"
    )
    ap.add_argument("--rule", action="append", default=[], metavar="HALF_MAX:BLUR")
    ap.add_argument("--radii", default=None, help="the fine profile's black-hat radii, e.g. 3,6 (default: the map's)")
    ap.add_argument("--time-on", type=Path, default=None, metavar="PHOTO")
    ap.add_argument("--time-mask", type=Path, default=None, metavar="MASK")
    ap.add_argument("--max-width", type=float, default=0.15)
    ap.add_argument("--max-length", type=float, default=0.10)
    args = ap.parse_args()
    rules = [tuple(float(v) for v in r.split(":")) for r in (args.rule or ["0.5:0.5", "0.6:0.5", "0.5:0.7"])]
    belows = [float(v) for v in (args.below if args.open is None else args.open).split(",")]

    from crackscope.maps.factory import default_recipe, make_mapper

    context = run_context()
    pairs = tune_pairs(40, "tune+hairline")
    recipe = default_recipe(args.run)
    mapper = make_mapper(args.run, recipe.with_(photo_width=None, photo_width_below=None), device="cpu")
    masks = [mapper.map_image(image).mask for _, image, _ in pairs]
    paths, truths = [p for p, _, _ in pairs], [t for _, _, t in pairs]
    base = recipe.refine_options
    rows = [{"settings": None, **scores_by_set(paths, masks, truths, whole="all")}]
    print(json.dumps(rows[0]), flush=True)
    radii = base.radii if args.radii is None else tuple(int(v) for v in args.radii.split(","))
    timing: dict[str, float] = {}
    for half_max, blur in rules:
        rule = base.with_(half_max=half_max, half_max_blur=blur, radii=radii)
        if args.time_on is not None:
            timing[f"{half_max}:{blur}"] = time_rule(rule, args.time_on)
            if args.time_mask is not None:
                for below in belows:
                    key = f"{half_max}:{blur} step " + (f"below {below:g}" if args.open is None else f"open {below:g}")
                    timing[key] = time_step(
                        rule, args.time_on, args.time_mask, None if math.isinf(below) else below, opened=args.open
                    )
        for below in belows:
            if args.open is None:
                trimmed = [
                    trim_thin(image, mask, rule=rule, below=below, min_size=base.trimmed_min_size)
                    for (_, image, _), mask in zip(pairs, masks, strict=True)
                ]
            else:
                trimmed = [
                    trim_open(image, mask, rule=rule, radius=int(below), min_size=base.trimmed_min_size)
                    for (_, image, _), mask in zip(pairs, masks, strict=True)
                ]
            settings = {
                "half_max": half_max,
                "half_max_blur": blur,
                "radii": list(radii),
                "below" if args.open is None else "open_radius": None if math.isinf(below) else below,
            }
            row = {"settings": settings, **scores_by_set(paths, trimmed, truths, whole="all")}
            rows.append(row)
            print(json.dumps(row), flush=True)

    def meets(row: dict) -> bool:
        return all(
            row[part][key] is not None and abs(row[part][key]) <= limit
            for part in ("tune", "hairline")
            for key, limit in (("width", args.max_width), ("length", args.max_length))
        )

    within = [r for r in rows if meets(r)]
    chosen = max(within, key=lambda r: r["all"]["f1"]) if within else None
    record = {
        **context,
        "command": " ".join(sys.argv),
        "run": args.run,
        "photos": f"{len(pairs)} DeepCrack training photos (40 tune + 15 hairline)",
        "max_width_error": args.max_width,
        "max_length_error": args.max_length,
        "chosen": None if chosen is None else chosen["settings"] or "the run's masks",
        "profile_seconds": {"photo": str(args.time_on), **timing} if timing else None,
        "rows": rows,
        "load_1min_after": load_1min(),
    }
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    print("chosen:", record["chosen"])


if __name__ == "__main__":
    main()
