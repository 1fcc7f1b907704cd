"""Mask width settings of the ``selftrained`` preset, chosen on DeepCrack TRAINING photos only.

    .venv/bin/python benchmarks/bench_width_grid.py [--run builtin] [--held-out]

The photos: the 40 'tune' training photos (every 6th of the first 240 in name order) and the 20 training photos
of the thin-crack 'IMG' series (``bench_selftrain_tune.thin_photos``; 3 of them are tune photos too), 57 in all.
For each photo the run's class map and pixel-model probability are computed once; then every setting of the
grid (pixel threshold x half-max level x half-max radius) makes the masks with the product's own
``refine_with_pixel_model`` and is scored: pooled exact F1, and the median relative error of the mean width
(area / skeleton length) and of the total length against the true masks (``bench_measure.totals`` rule). The
rule fixed before any score was read: among settings whose median width error is within 15 %, the highest mean
of the exact F1 on the two sets; none within 15 %: the smallest width error. ``--held-out`` scores only the
setting given by ``--setting`` on the 60 held-out photos (run once, for the chosen setting). Lines go to
``benchmarks/results/width_grid.jsonl`` with date, commit, machine and load.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from context import run_context  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "width_grid.jsonl"
DATA = ROOT.parent / "shared" / "datasets" / "deepcrack-train"


def mean_width_and_length(mask: np.ndarray) -> tuple[float, float]:
    from crackscope.maps.measure import measure_cracks

    cracks = measure_cracks(mask)
    length = sum(c.length_px for c in cracks)
    return (sum(c.area_px for c in cracks) / length if length else 0.0), length


def photo_sets() -> dict[str, list[Path]]:
    photos = sorted((DATA / "images").glob("*.jpg"))
    train = photos[:240]
    tune = train[:: len(train) // 40][:40]
    thin = [p for p in train if "_IMG" in p.stem]
    return {"tune": tune, "thin": thin, "held-out": photos[240:]}


def prepare(mapper, photos: list[Path]):  # type: ignore[no-untyped-def]
    from crackscope.io import read_image, read_mask

    out = []
    for p in photos:
        image = read_image(p)
        cam, _ = mapper.cam_map(image)
        out.append((image, cam, mapper.pixel_model.predict(image), read_mask(DATA / "masks" / f"{p.stem}.png")))
    return out


def score(prepared, options) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from crackscope.evaluation.map_scores import Counts, count_mask
    from crackscope.maps.pixel_model import refine_with_pixel_model

    pooled = Counts()
    width_err, length_err = [], []
    for image, cam, prob, truth in prepared:
        _, mask = refine_with_pixel_model(image, cam, None, options=options, probability=prob)
        pooled = pooled + count_mask(mask, truth)
        (pw, pl), (tw, tl) = mean_width_and_length(mask), mean_width_and_length(truth)
        if pl and tl:
            width_err.append(pw / tw - 1)
            length_err.append(pl / tl - 1)
    return {
        "f1": round(pooled.f1, 4),
        "precision": round(pooled.precision, 4),
        "recall": round(pooled.recall, 4),
        "width_err": round(statistics.median(width_err), 4) if width_err else float("nan"),
        "length_err": round(statistics.median(length_err), 4) if length_err else float("nan"),
    }


def main() -> None:
    from crackscope.maps.classifier import ClassifierMapper
    from crackscope.maps.factory import make_mapper

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="builtin")
    ap.add_argument("--held-out", action="store_true")
    ap.add_argument("--setting", default=None, help="JSON of RefineOptions changes (with --held-out)")
    args = ap.parse_args()
    context = run_context()
    mapper = make_mapper(args.run)
    assert isinstance(mapper, ClassifierMapper) and mapper.pixel_model is not None
    base = mapper.recipe.refine_options
    sets = photo_sets()
    lines = []
    if args.held_out:
        changes = json.loads(args.setting or "{}")
        prepared = prepare(mapper, sets["held-out"])
        row = {"set": "held-out", "changes": changes, **score(prepared, base.with_(**changes))}
        lines.append(row)
        print(json.dumps(row), flush=True)
    else:
        prepared = {name: prepare(mapper, sets[name]) for name in ("tune", "thin")}
        grid = itertools.product((0.4, 0.5, 0.6), (None, 0.5, 0.6, 0.7), (2, 3, 5))
        for threshold, level, radius in grid:
            if level is None and radius != 3:
                continue
            changes = {"pixel_threshold": threshold, "half_max": level, "half_max_radius": radius}
            rows = {name: score(p, base.with_(**changes)) for name, p in prepared.items()}
            row = {"changes": changes, **{f"{n}_{k}": v for n, r in rows.items() for k, v in r.items()}}
            row["mean_f1"] = round((rows["tune"]["f1"] + rows["thin"]["f1"]) / 2, 4)
            lines.append(row)
            print(json.dumps(row), flush=True)
    with RESULTS.open("a") as fh:
        for row in lines:
            fh.write(json.dumps({**context, "command": " ".join(sys.argv), **row}) + "\n")


if __name__ == "__main__":
    main()
