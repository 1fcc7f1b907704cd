"""Map scores with the masks that do not sit on their photos left out or turned back (data check, no target).

    .venv/bin/python benchmarks/bench_aligned.py MAPS DATA

``DATA`` is an image + mask set (``images/``, ``masks/``); every mask that marks a crack is checked against its
photo by the rule of ``crackscope inspect`` (:func:`crackscope.data.alignment.mask_alignment`). The masks of a
``crackscope map`` output (``MAPS/masks/<stem>.png``) are then scored (exact and 2 px F1, pixels pooled, as
``crackscope score``) three ways: against every mask as given, without the photos whose masks are misaligned, and
with those masks turned back by the transformation that fits them. Nothing is chosen here. A line with date, commit,
machine and load goes to ``benchmarks/results/aligned.jsonl``.
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


def main() -> None:
    from crackscope.data.alignment import TRANSFORMS, mask_alignment
    from crackscope.evaluation.map_scores import score_masks
    from crackscope.io import is_image_file, read_image, read_mask

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("maps", type=Path)
    ap.add_argument("data", type=Path)
    args = ap.parse_args()
    context = run_context()
    photos = {p.stem: p for p in sorted((args.data / "images").iterdir()) if is_image_file(p)}
    ways: dict[str, tuple[list, list]] = {"as given": ([], []), "left out": ([], []), "turned back": ([], [])}
    misaligned = []
    for pred_path in sorted((args.maps / "masks").glob("*.png")):
        truth = read_mask(args.data / "masks" / f"{pred_path.stem}.png")
        pred = read_mask(pred_path, shape=truth.shape)
        fixed = truth
        if truth.any():
            check = mask_alignment(read_image(photos[pred_path.stem]), truth)
            if check.misaligned and check.best is not None:
                misaligned.append({"photo": pred_path.stem, "fits": check.best})
                fixed = TRANSFORMS[check.best](truth)
        for way, (preds, truths) in ways.items():
            if way == "left out" and fixed is not truth:
                continue
            preds.append(pred)
            truths.append(fixed if way == "turned back" else truth)
    rows = {}
    for way, (preds, truths) in ways.items():
        exact, near = score_masks(preds, truths), score_masks(preds, truths, tol=2)
        rows[way] = {
            "photos": len(preds),
            **{key: round(float(exact[key]), 4) for key in ("f1", "precision", "recall")},
            "f1_2px": round(float(near["f1"]), 4),
        }
        print(way, json.dumps(rows[way]), flush=True)
    context["load_1min_after"] = load_1min()
    append_result(
        "aligned.jsonl", {**context, "maps": str(args.maps), "data": str(args.data), "misaligned": misaligned, **rows}
    )


if __name__ == "__main__":
    main()
