"""Scaling benchmark (issue 18), side by side in one run on this machine: the plain and the Ray engine of ``map``
(photos/s), and torch (bf16 where the CPU runs it natively) against ONNX Runtime (images/s of the classifier,
photos/s of the pixel models and of whole maps).

    .venv/bin/python benchmarks/bench_scaling.py [--photos 60] [--ray-workers 2] [--repeats 3]
        [--work bench-out/scaling] [--only engines,runtimes] [--quick]

Photos: the LAST ``--photos`` DeepCrack photos (the crack-map benchmark's held-out photos, 544x384); run: the bundled
one (``builtin``, its own recipe: CAM + two pixel models).

- ``engines``: ``map_images`` (one process) and ``map_images_ray`` (a local Ray started by the call, ``--ray-workers``
  actors of one CPU each) map the same photos into two folders; photos/s counts the whole call (Ray's start
  included, and reported on its own), and the masks are compared file for file.
- ``runtimes``: the run is exported (``export_onnx``, checked against torch) and timed with both runtimes: the
  classifier on batches of 64 photos resized to its input (images/s), the pixel-model ensemble on whole photos
  (photos/s), and whole maps with the torch or the ONNX pixel models (photos/s; the CAM pass is torch in both).
  Probability and mask agreement with torch are reported.

Each part's numbers, with date, commit, machine and load, are a JSON line appended to
``benchmarks/results/scaling.jsonl``; a table is printed. ``--quick`` is a smoke check of the script on 6
synthetic photos (nothing is appended).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from context import load_1min, run_context  # benchmarks/context.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEEPCRACK = ROOT.parent / "shared" / "datasets" / "deepcrack-train"
RESULTS = ROOT / "benchmarks" / "results" / "scaling.jsonl"
PARTS = ("engines", "runtimes")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--ray-workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of each runtime measurement")
    parser.add_argument("--work", type=Path, default=ROOT / "bench-out" / "scaling")
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument("--quick", action="store_true", help="smoke check on 6 synthetic photos, nothing recorded")
    return parser.parse_args()


def _photos(args: argparse.Namespace, work: Path) -> list[Path]:
    if args.quick:
        from crackscope.data.synth import synthesize

        root = work / "synth"
        if not (root / "images").is_dir():
            synthesize(root, n=6, size=96, seed=0)
        return sorted((root / "images").glob("*.png"))
    if not (DEEPCRACK / "images").is_dir():
        sys.exit(f"DeepCrack is not at {DEEPCRACK} (see shared/datasets/README.md)")
    return sorted((DEEPCRACK / "images").glob("*.jpg"))[-args.photos :]


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def engines(photos: list[Path], work: Path, args: argparse.Namespace) -> dict:
    import shutil

    import ray

    from crackscope.io import read_mask
    from crackscope.maps.pipeline import map_images
    from crackscope.maps.ray_engine import RayOptions, map_images_ray

    for name in ("plain", "ray"):
        shutil.rmtree(work / name, ignore_errors=True)
    started = time.perf_counter()
    plain = map_images("builtin", photos, work / "plain")
    plain_s = time.perf_counter() - started
    started = time.perf_counter()
    ray.init(num_cpus=args.ray_workers, include_dashboard=False, log_to_driver=False)
    ray_start_s = time.perf_counter() - started
    try:  # the call joins the Ray started here, so its start is timed apart
        started = time.perf_counter()
        summary = map_images_ray("builtin", photos, work / "ray", cluster=RayOptions(num_workers=args.ray_workers))
        ray_s = time.perf_counter() - started
    finally:
        ray.shutdown()
    masks = sorted((work / "plain" / "masks").glob("*.png"))
    same = sum(np.array_equal(read_mask(p), read_mask(work / "ray" / "masks" / p.name)) for p in masks)
    return {
        "part": "engines",
        "photos": len(photos),
        "plain_photos_per_s": round(plain["counts"]["mapped"] / plain_s, 3),
        "ray_workers": args.ray_workers,
        "ray_photos_per_s": round(summary["counts"]["mapped"] / ray_s, 3),
        "ray_photos_per_s_with_start": round(summary["counts"]["mapped"] / (ray_s + ray_start_s), 3),
        "ray_start_s": round(ray_start_s, 2),
        "identical_masks": f"{same}/{len(masks)}",
    }


def runtimes(photos: list[Path], work: Path, args: argparse.Namespace) -> dict:
    import torch

    from crackscope.export import export_onnx, load_onnx_classifier, load_onnx_pixel_models
    from crackscope.io import read_image
    from crackscope.maps.classifier import ClassifierMapper
    from crackscope.maps.factory import pixel_model_paths, resolve_recipe
    from crackscope.maps.pixel_model import load_pixel_models
    from crackscope.models.speed import bf16_supported
    from crackscope.training.run import load_run

    export = work / "onnx"
    check = None if (export / "export.json").is_file() else export_onnx("builtin", export)
    images = [read_image(p) for p in photos]
    run = load_run("builtin", device="cpu")
    recipe = resolve_recipe(run.path)
    onnx_run = load_onnx_classifier(export, threads=torch.get_num_threads())
    batch = (images * (64 // len(images) + 1))[:64]
    torch_cls = _median_seconds(lambda: run.predict_logits(batch), args.repeats)
    onnx_cls = _median_seconds(lambda: onnx_run.predict_logits(batch), args.repeats)
    cls_diff = float(np.abs(run.predict_proba(batch) - onnx_run.predict_proba(batch)).max())

    torch_pixels = load_pixel_models(pixel_model_paths(run.path, recipe.pixel_models))
    onnx_pixels = load_onnx_pixel_models(export, recipe.pixel_models, threads=torch.get_num_threads())
    sample = images[: min(len(images), 10)]
    torch_px = _median_seconds(lambda: [torch_pixels.predict(im) for im in sample], args.repeats)
    onnx_px = _median_seconds(lambda: [onnx_pixels.predict(im) for im in sample], args.repeats)
    px_diff = max(float(np.abs(torch_pixels.predict(im) - onnx_pixels.predict(im)).max()) for im in sample)

    torch_mapper = ClassifierMapper(run, recipe, pixel_model=torch_pixels)
    onnx_mapper = ClassifierMapper(run, recipe, pixel_model=onnx_pixels)
    torch_map = _median_seconds(lambda: [torch_mapper.map_image(im) for im in sample], max(1, args.repeats // 2))
    onnx_map = _median_seconds(lambda: [onnx_mapper.map_image(im) for im in sample], max(1, args.repeats // 2))
    agree = [float((torch_mapper.map_image(im).mask == onnx_mapper.map_image(im).mask).mean()) for im in sample]
    return {
        "part": "runtimes",
        "torch_precision": "bf16" if bf16_supported() else "fp32",
        "threads": torch.get_num_threads(),
        "export_max_abs_logit_diff": None if check is None else check.max_abs_diff,
        "classifier_images_per_s": {"torch": round(64 / torch_cls, 1), "onnx": round(64 / onnx_cls, 1)},
        "classifier_max_prob_diff": cls_diff,
        "pixel_models_photos_per_s": {
            "torch": round(len(sample) / torch_px, 3),
            "onnx": round(len(sample) / onnx_px, 3),
        },
        "pixel_models_max_prob_diff": px_diff,
        "map_photos_per_s": {"torch": round(len(sample) / torch_map, 3), "onnx": round(len(sample) / onnx_map, 3)},
        "map_mask_agreement": round(statistics.mean(agree), 5),
        "photo_size": f"{images[0].shape[1]}x{images[0].shape[0]}",
    }


def main() -> None:
    args = _args()
    parts = [p for p in args.only.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        sys.exit(f"unknown parts {unknown}; choose from {PARTS}")
    work = args.work / ("quick" if args.quick else "")
    work.mkdir(parents=True, exist_ok=True)
    photos = _photos(args, work)
    rows = []
    for part in parts:
        context = run_context()
        row = engines(photos, work, args) if part == "engines" else runtimes(photos, work, args)
        row["context"] = {**context, "load_1min_after": load_1min()}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if not args.quick:
            with RESULTS.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    print("\n| part | numbers |\n|---|---|")
    for row in rows:
        print(
            f"| {row['part']} | " + ", ".join(f"{k} {v}" for k, v in row.items() if k not in ("part", "context")) + " |"
        )


if __name__ == "__main__":
    main()
