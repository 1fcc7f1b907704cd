"""How many cracks a map counts against the true masks, for each gap the count may bridge (``CRACK_LINK_PX``).

    .venv/bin/python benchmarks/bench_crack_count.py [--run builtin] [--links 0 1 2 3] [--held-out]

A crack the mask shows with small gaps (the width rule trims a faint stretch beside darker texture) counts as
several cracks when every 8-connected piece is one. ``label_cracks(mask, link=r)`` joins pieces less than
``2 r + 1`` px apart. This maps the 55 choosing photos (``bench_restorer.tune_pairs``: the 40 DeepCrack tune photos
and the 15 hairline training photos; never a held-out photo) with ``map_images`` (the product path, border rule
included) and counts, for each ``r``, the cracks of the maps and of the true masks by the same rule. The choice,
written before the first run: the ``r`` whose pooled count over the 55 photos is nearest the true masks' pooled
count by the same rule (relative difference; ties: the smaller ``r``). ``--held-out`` counts the 60 held-out
DeepCrack photos instead and chooses nothing. A line goes to ``benchmarks/results/crack_count.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_restorer import DEEPCRACK, deepcrack_split, load_pairs, tune_pairs  # noqa: E402
from context import load_1min, run_context  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "crack_count.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="builtin")
    ap.add_argument("--links", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--held-out", action="store_true", help="count the held-out photos; choose nothing")
    args = ap.parse_args()

    from PIL import Image

    from crackscope.maps.pipeline import map_images
    from crackscope.maps.postprocess import label_cracks

    context = run_context()
    pairs = load_pairs(deepcrack_split()[2], DEEPCRACK / "masks") if args.held_out else tune_pairs(40, "tune+hairline")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "maps"
        map_images(args.run, [path for path, _, _ in pairs], out)
        masks = [np.asarray(Image.open(out / "masks" / f"{path.stem}.png")) > 0 for path, _, _ in pairs]
    rows = []
    for link in args.links:
        predicted = [label_cracks(m, link=link)[1] for m in masks]
        true = [label_cracks(t, link=link)[1] for _, _, t in pairs]
        ratios = [p / t for p, t in zip(predicted, true, strict=True) if t]
        row = {
            "link": link,
            "predicted": sum(predicted),
            "true": sum(true),
            "pooled_ratio": round(sum(predicted) / max(sum(true), 1), 4),
            "median_ratio_per_photo": round(statistics.median(ratios), 4) if ratios else None,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    chosen = None if args.held_out else min(rows, key=lambda r: (abs(r["pooled_ratio"] - 1), r["link"]))["link"]
    record = {
        **context,
        "command": " ".join(sys.argv),
        "run": args.run,
        "photos": f"{len(pairs)} DeepCrack "
        + ("held-out photos" if args.held_out else "training photos (tune + hairline)"),
        "rows": rows,
        "chosen_link": chosen,
        "load_1min_after": load_1min(),
    }
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    print("chosen link:", chosen)


if __name__ == "__main__":
    main()
