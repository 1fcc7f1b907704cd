"""Photos as cameras and uploads change them (blur, JPEG, noise, a quarter turn, grey, a colour cast): the bundled
run's maps and photo verdicts on the choosing photos.

    .venv/bin/python benchmarks/bench_robustness.py [--run builtin] [--mask NAME=VALUE ...] [--changes NAME,...]

The 55 choosing photos (``bench_restorer.tune_pairs(40, "tune+hairline")``; never a held-out photo) are mapped by
the run's recipe as they are and changed seven ways (Gaussian blur of sigma 1 and 2 px, JPEG at quality 25,
Gaussian noise of 12 grey levels, turned a quarter turn with their masks, grey, a warm colour cast of red x 1.25 and
blue x 0.75). Per row: pooled exact and 2 px F1 (P / R), and the photos called cracked by the classifier's tiles
alone (``MapResult.cracked``) and by the product's verdict (:func:`crackscope.maps.base.photo_verdict`: the
classifier, or a crack left in the mask). Every choosing photo has a crack. Then photos of another surface and
scale, each 10th of Özgenel's ``uncracked`` and ``cracked`` folders in name order (500 each, 227 px; no masks):
the share called cracked both ways. ``--mask NAME=VALUE`` maps with the run's mask settings changed (any
``RefineOptions`` field; ``none`` for None); ``--changes`` maps only the rows named (``as they are``, the changes
above, ``Özgenel``). No setting is chosen here; a JSON line goes to ``benchmarks/results/robustness.jsonl``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_restorer import append_result, tune_pairs  # noqa: E402
from bench_width_rule import parse_grid  # noqa: E402
from context import load_1min, run_context  # noqa: E402

OZGENEL = ROOT.parent / "shared" / "datasets" / "ozgenel-10k"


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _noise(image: np.ndarray, std: float, seed: int) -> np.ndarray:
    noisy = image + np.random.default_rng(seed).normal(0.0, std, image.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _quarter(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(array))


Change = tuple[Callable[[np.ndarray, int], np.ndarray], Callable[[np.ndarray], np.ndarray] | None]
CHANGES: dict[str, Change] = {
    "as they are": (lambda im, i: im, None),
    "blur 1 px": (lambda im, i: cv2.GaussianBlur(im, (0, 0), 1.0), None),
    "blur 2 px": (lambda im, i: cv2.GaussianBlur(im, (0, 0), 2.0), None),
    "JPEG 25": (lambda im, i: _jpeg(im, 25), None),
    "noise 12": (lambda im, i: _noise(im, 12.0, i), None),
    "quarter turn": (lambda im, i: _quarter(im), _quarter),
    "grey": (lambda im, i: np.repeat(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2), None),
    "colour cast": (lambda im, i: np.clip(im * np.array([1.25, 1.0, 0.75]), 0, 255).astype(np.uint8), None),
}


def main() -> None:
    from crackscope.evaluation.map_scores import score_masks
    from crackscope.maps.base import photo_verdict
    from crackscope.maps.factory import default_recipe, make_mapper
    from crackscope.maps.postprocess import drop_border_artefacts

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="builtin")
    ap.add_argument("--mask", action="append", default=[], metavar="NAME=VALUE", help="a mask setting changed")
    ap.add_argument("--changes", default=None, help="only these rows, comma-separated (default: all)")
    args = ap.parse_args()
    changes = set(args.changes.split(",")) if args.changes else {*CHANGES, "Özgenel"}
    unknown = sorted(changes - {*CHANGES, "Özgenel"})
    if unknown:
        ap.error(f"unknown row {unknown[0]!r} (known: {', '.join([*CHANGES, 'Özgenel'])})")
    mask_settings = {name: values[0] for name, values in parse_grid(args.mask).items()}
    context = run_context()
    started = time.perf_counter()
    pairs = tune_pairs(40, "tune+hairline")
    recipe = default_recipe(args.run)
    recipe = recipe.with_(refine_options=recipe.refine_options.with_(**mask_settings))
    mapper = make_mapper(args.run, recipe)
    rows = []
    for name, (change, on_mask) in CHANGES.items():
        if name not in changes:
            continue
        images = [change(image, i) for i, (_, image, _) in enumerate(pairs)]
        truths = [on_mask(m) if on_mask else m for _, _, m in pairs]
        results = [mapper.map_image(image) for image in images]
        masks = [drop_border_artefacts(np.asarray(r.mask, bool)) for r in results]  # as map keeps them
        exact, near = score_masks(masks, truths), score_masks(masks, truths, tol=2.0)
        row = {
            "change": name,
            "exact_f1": round(exact["f1"], 4),
            "precision": round(exact["precision"], 4),
            "recall": round(exact["recall"], 4),
            "tolerant_f1": round(near["f1"], 4),
            "cracked_by_classifier": sum(bool(r.cracked) for r in results),
            "cracked_verdict": sum(photo_verdict(r, m) for r, m in zip(results, masks, strict=True)),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    from crackscope.io import read_image

    for folder in ("uncracked", "cracked") if "Özgenel" in changes else ():
        paths = sorted((OZGENEL / folder).glob("*.jpg"))[::10]
        results = [mapper.map_image(read_image(p)) for p in paths]
        masks = [drop_border_artefacts(np.asarray(r.mask, bool)) for r in results]
        row = {
            "change": f"Özgenel {folder}",
            "photos": len(paths),
            "cracked_by_classifier": sum(bool(r.cracked) for r in results),
            "cracked_verdict": sum(photo_verdict(r, m) for r, m in zip(results, masks, strict=True)),
        }
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    context.update(
        {
            "run": args.run,
            "mask_settings": mask_settings,
            "photos": len(pairs),
            "rows": rows,
            "seconds": round(time.perf_counter() - started, 1),
            "load_1min_after": load_1min(),
        }
    )
    append_result("robustness.jsonl", context)


if __name__ == "__main__":
    main()
