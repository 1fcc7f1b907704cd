"""Honest measurements: total crack length and mean width from predicted masks against the true masks.

    .venv/bin/python benchmarks/bench_measure.py MAPS GT_MASKS [--label NAME]

For every photo whose prediction (``MAPS/masks/<stem>.png``, a ``crackscope map`` output) and true mask
(``GT_MASKS/<stem>.png``) both hold a crack, the total length (sum of :func:`crackscope.maps.measure.measure_cracks`
lengths) and the mean width (crack area / total skeleton length, the same rule for both) are measured on each and
their relative error (prediction / truth - 1) is reported: median, median of the absolute value, and the share of
photos within 10 % (length) and 15 % (width). No mask is changed and no setting is chosen here. A line with date,
commit, machine and load is appended to ``benchmarks/results/measure.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from context import run_context  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "measure.jsonl"


def totals(mask_path: Path) -> tuple[float, float]:
    """(total length px, mean width px = area / length) of a mask file."""
    from crackscope.io import read_mask

    return mask_totals(read_mask(mask_path))


def mask_totals(mask: np.ndarray) -> tuple[float, float]:
    """(total length px, mean width px = area / length) of a bool mask."""
    from crackscope.maps.measure import measure_cracks

    cracks = measure_cracks(mask)
    length = sum(c.length_px for c in cracks)
    area = sum(c.area_px for c in cracks)
    return length, (area / length if length > 0 else 0.0)


def summary(errors: list[float], within: float) -> dict[str, float]:
    return {
        "median": round(statistics.median(errors), 4),
        "median_abs": round(statistics.median(abs(e) for e in errors), 4),
        "share_within": round(sum(abs(e) <= within for e in errors) / len(errors), 4),
    }


def compare_folder(maps: Path, gt: Path) -> dict[str, object]:
    """Length and mean-width errors of every ``maps/masks/*.png`` against ``gt/<same name>`` (both cracked)."""
    length_err: list[float] = []
    width_err: list[float] = []
    empty = 0
    for pred in sorted((maps / "masks").glob("*.png")):
        truth = gt / pred.name
        if not truth.is_file():
            continue
        (pl, pw), (tl, tw) = totals(pred), totals(truth)
        if pl == 0 or tl == 0:
            empty += 1
            continue
        length_err.append(pl / tl - 1.0)
        width_err.append(pw / tw - 1.0)
    if not length_err:
        raise SystemExit(f"no photo of {maps} has a crack in both its prediction and {gt}")
    return {
        "photos": len(length_err),
        "left_out_empty": empty,
        "length": summary(length_err, 0.10),
        "mean_width": summary(width_err, 0.15),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("maps", type=Path, help="a `crackscope map` output folder")
    ap.add_argument("gt", type=Path, help="the true masks, matched by file stem")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    context = run_context()
    row = {**context, "command": " ".join(sys.argv), "label": args.label, **compare_folder(args.maps, args.gt)}
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
