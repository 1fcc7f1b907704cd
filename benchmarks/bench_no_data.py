"""Photos with fill around them (a rotated, warped or stitched photo's black corners): maps with and without the
no-data rule (:mod:`crackscope.maps.no_data`), and which pieces of one exact colour the rule calls fill.

    .venv/bin/python benchmarks/bench_no_data.py [--run builtin] [--angles 8,20,35] [--quality 90] [--margin PX]

``rotated``: the 55 choosing photos (``bench_restorer.tune_pairs(40, "tune+hairline")``; never a held-out photo),
each turned by one of ``--angles`` in turn about its centre at 0.85x onto a black canvas of its own size (bilinear;
its mask with the same warp, nearest) and saved as JPEG at ``--quality`` (as a levelled photo reaches a user), is
mapped by the run's recipe as it is (the rule on; ``--margin``: with that margin) and with ``no_data=None`` (off),
and the photos as they are for reference. Per row: pooled exact and 2 px F1 (P / R) against the warped masks
(crack pixels the maps put on the fill are false positives), the photos called cracked, the 8-connected pieces per
photo, and the median factor of the scale rule. ``pieces``: every piece of pure black or white in DeepCrack's and
CRACK500's photos large and deep enough to be fill that meets the photo's edge, with the share of the edge it
covers (the rule's ``min_border`` test); masks are not read. ``classifier``: each 50th of Özgenel's ``uncracked``
and ``cracked`` photos (100 each) turned by 20 degrees at 0.85x onto black, as ``crackscope predict`` classified
them before (resized as they are) and now (:func:`crackscope.training.torchdata.photo_input`: fill painted over).
The margin may be chosen here (the photos are choosing photos); a JSON line goes to
``benchmarks/results/no_data.jsonl``.
"""

from __future__ import annotations

import argparse
import io
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

from bench_restorer import append_result, tune_pairs  # noqa: E402
from context import load_1min, run_context  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"


def classifier_rows(run: str) -> dict[str, dict[str, int]]:
    """Özgenel photos turned onto black, called cracked by the run's classifier before and with photo_input."""
    from crackscope.io import read_image
    from crackscope.runs import open_run
    from crackscope.training.torchdata import photo_input, resize_square

    classifier = open_run(run, device="cpu")
    rows = {}
    for folder in ("uncracked", "cracked"):
        photos = [read_image(p) for p in sorted((DATA / "ozgenel-10k" / folder).glob("*.jpg"))[::50][:100]]
        turned = []
        for photo in photos:
            h, w = photo.shape[:2]
            matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 20.0, 0.85)
            turned.append(cv2.warpAffine(photo, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0)))
        size, threshold = classifier.image_size, classifier.threshold  # type: ignore[union-attr]
        calls = {
            "as they are": [resize_square(p, size) for p in photos],
            "turned, before": [resize_square(p, size) for p in turned],
            "turned, photo_input": [photo_input(p, size) for p in turned],
        }
        rows[folder] = {
            name: int((classifier.predict_proba(images) >= threshold).sum())  # type: ignore[union-attr]
            for name, images in calls.items()
        }
    return rows


def rotated(image: np.ndarray, mask: np.ndarray, angle: float, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned by ``angle`` degrees at 0.85x onto black and JPEG-compressed; ``mask`` with the same warp."""
    from PIL import Image

    h, w = mask.shape
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 0.85)
    turned = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    truth = cv2.warpAffine(mask.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0) > 0
    buffer = io.BytesIO()
    Image.fromarray(turned).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")), truth


def map_all(mapper: object, images: list[np.ndarray], truths: list[np.ndarray]) -> dict[str, object]:
    """Pooled scores and verdicts of ``mapper``'s maps of ``images``."""
    from crackscope.evaluation.map_scores import score_masks
    from crackscope.maps.measure import label_cracks

    results = [mapper.map_image(im) for im in images]  # type: ignore[attr-defined]
    masks = [r.mask for r in results]
    exact, near = score_masks(masks, truths), score_masks(masks, truths, tol=2.0)
    return {
        "exact_f1": round(exact["f1"], 4),
        "exact_precision": round(exact["precision"], 4),
        "exact_recall": round(exact["recall"], 4),
        "tolerant_f1": round(near["f1"], 4),
        "cracked": sum(bool(r.cracked) for r in results),
        "pieces_per_photo": round(statistics.mean(label_cracks(m)[1] for m in masks), 2),
        "median_scale": round(statistics.median(r.scale for r in results), 3),
        "median_no_data": round(statistics.median(r.no_data for r in results), 3),
    }


def pieces() -> list[dict[str, object]]:
    """The pure black or white pieces of DeepCrack's and CRACK500's photos that pass the size and depth tests."""
    from dataclasses import replace

    from crackscope.io import read_image
    from crackscope.maps.no_data import NoDataOptions, no_data_mask

    rule = NoDataOptions()
    loose = replace(rule, min_border=1e-9)  # every piece that passes the size and depth tests
    rows = []
    for folder in ("deepcrack-train", "crack500-379"):
        for path in sorted((DATA / folder / "images").glob("*.jpg")):
            image = read_image(path)
            found = no_data_mask(image, options=loose)
            if not found.any():
                continue
            n, labels = cv2.connectedComponents(found.view(np.uint8), connectivity=8)
            edge = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
            for k in range(1, n):
                share = float(np.count_nonzero(edge == k)) / edge.size
                piece = labels == k
                rows.append(
                    {
                        "photo": f"{folder}/{path.name}",
                        "colour": int(image[piece][0][0]),
                        "pixels": int(piece.sum()),
                        "edge_share": round(share, 4),
                        "fill": share >= rule.min_border,
                    }
                )
    return rows


def main() -> None:
    from dataclasses import replace

    from crackscope.maps.factory import default_recipe, make_mapper

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="builtin")
    ap.add_argument("--angles", default="8,20,35")
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--margin", type=int, default=None, help="the rule's margin (default: the recipe's)")
    args = ap.parse_args()
    angles = [float(a) for a in args.angles.split(",")]

    context = run_context()
    started = time.perf_counter()
    pairs = tune_pairs(40, "tune+hairline")
    images = [image for _, image, _ in pairs]
    truths = [mask for _, _, mask in pairs]
    turned = [rotated(im, m, angles[i % len(angles)], args.quality) for i, (_, im, m) in enumerate(pairs)]
    recipe = default_recipe(args.run)
    if args.margin is not None and recipe.no_data is not None:
        recipe = recipe.with_(no_data=replace(recipe.no_data, margin=args.margin))
    rows = {
        "as they are, rule on": map_all(make_mapper(args.run, recipe), images, truths),
        "rotated, rule on": map_all(make_mapper(args.run, recipe), [t[0] for t in turned], [t[1] for t in turned]),
        "rotated, rule off": map_all(
            make_mapper(args.run, recipe.with_(no_data=None)), [t[0] for t in turned], [t[1] for t in turned]
        ),
    }
    for name, row in rows.items():
        print(json.dumps({"row": name, **row}), flush=True)
    classified = classifier_rows(args.run)
    print(json.dumps({"called cracked (of 100)": classified}), flush=True)
    found = pieces()
    for piece in found:
        print(json.dumps(piece), flush=True)
    context.update(
        {
            "run": args.run,
            "photos": len(pairs),
            "angles": angles,
            "quality": args.quality,
            "no_data": None if recipe.no_data is None else recipe.no_data.as_dict(),
            "rows": rows,
            "classifier": classified,
            "pieces": found,
            "seconds": round(time.perf_counter() - started, 1),
            "load_1min_after": load_1min(),
        }
    )
    append_result("no_data.jsonl", context)


if __name__ == "__main__":
    main()
