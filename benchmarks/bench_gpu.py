"""GPU benchmark (issue 18): the restorer in the paper configuration, the classifier, and a 13 MP photo, on a GPU.

    .venv/bin/python benchmarks/bench_gpu.py [--device cuda] [--restorer-minutes 5] [--classifier-minutes 3]
        [--num-workers N] [--work bench-out/gpu] [--only restorer,classifier,mosaic] [--quick]

Parts (each one's numbers are a JSON line appended to ``benchmarks/results/gpu.jsonl`` with the GPU's name, the
date, commit, machine and load; a table is printed at the end):

- ``restorer``: UP-CrackNet in the paper configuration (``--config paper``: 256 px crops, ngf/ndf 64, 8 down-convs,
  batch 8, the paper's losses with the style term on a fixed random VGG-19 unless ``--vgg-weights`` is given) on
  crack-free patches of the FIRST 240 DeepCrack photos, for a fixed wall-clock budget; then the LAST 60 photos
  (held out) are mapped with the best generator and scored with the ``restorer-paper`` (Otsu) and
  ``restorer-thin`` presets (exact and 2 px F1, ODS at 2 px).
  Records steps/s (validation included), photos/s of mapping and the scores.
- ``classifier``: ``train`` with the default model on patches of the same 240 photos for a fixed budget; records
  training steps/s and the test F1 of ``metrics.json``.
- ``mosaic``: the 13 MP mosaic of ``make_mosaic.py`` (the last 64 DeepCrack photos, 4352x3072) mapped with the
  bundled run; records seconds, megapixels/s and F1 against the mosaic of the masks.

Without a CUDA GPU the script says so and exits with status 2 (nothing is measured). ``--quick`` is a smoke
check of the script itself on tiny synthetic data (any device, the CPU included; nothing is appended).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import NoReturn

import numpy as np
from context import load_1min, run_context  # benchmarks/context.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEEPCRACK = ROOT.parent / "shared" / "datasets" / "deepcrack-train"
RESULTS = ROOT / "benchmarks" / "results" / "gpu.jsonl"
N_TRAIN = 240
TOL = 2
PARTS = ("restorer", "classifier", "mosaic")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N (or cpu with --quick)")
    parser.add_argument("--restorer-minutes", type=float, default=5.0)
    parser.add_argument("--classifier-minutes", type=float, default=3.0)
    parser.add_argument("--num-workers", type=int, default=None, help="DataLoader workers (default: suggested)")
    parser.add_argument("--vgg-weights", default=None, help="torchvision's vgg19-dcbb9e9d.pth (ImageNet style term)")
    parser.add_argument("--work", type=Path, default=ROOT / "bench-out" / "gpu")
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts")
    parser.add_argument("--quick", action="store_true", help="smoke check on tiny synthetic data, nothing recorded")
    return parser.parse_args()


def _device(spec: str, *, quick: bool):  # -> torch.device
    from crackscope.devices import resolve_device
    from crackscope.errors import DeviceError

    try:
        device = resolve_device(spec)
    except DeviceError as exc:
        _no_gpu(f"bench_gpu.py measures a CUDA GPU, and none is here: {exc}")
    if device.type != "cuda" and not quick:
        _no_gpu(f"bench_gpu.py measures a CUDA GPU; --device {spec} is {device} here (--quick: a smoke check)")
    return device


def _no_gpu(message: str) -> NoReturn:
    print(message, file=sys.stderr)
    raise SystemExit(2)


# --- data ---------------------------------------------------------------------------------------------


def _deepcrack(work: Path) -> tuple[Path, list[Path]]:
    """A folder of links to the first 240 DeepCrack photos and masks, and the 60 held-out photos."""
    if not (DEEPCRACK / "images").is_dir():
        sys.exit(f"DeepCrack is not at {DEEPCRACK} (see shared/datasets/README.md)")
    photos = sorted((DEEPCRACK / "images").glob("*.jpg"))
    root = work / "deepcrack-train240"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for p in photos[:N_TRAIN]:
        for src, dst in (
            (p, root / "images" / p.name),
            (DEEPCRACK / "masks" / f"{p.stem}.png", root / "masks" / f"{p.stem}.png"),
        ):
            if not dst.exists():
                os.symlink(src, dst)
    return root, photos[N_TRAIN:]


def _synthetic(work: Path) -> tuple[Path, list[Path]]:
    """--quick: 24 synthetic 64 px photos with masks (train) and 4 of them as the 'held-out' photos."""
    from crackscope.data.synth import synthesize

    root = work / "synth"
    if not (root / "images").is_dir():
        synthesize(root, n=24, size=64, seed=0)
    return root, sorted((root / "images").glob("*.png"))[:4]


def _truth(photo: Path, shape: tuple[int, int]) -> np.ndarray:
    from crackscope.io import read_mask

    return read_mask(photo.parent.parent / "masks" / f"{photo.stem}.png", shape=shape)


def _history_rate(run: Path) -> tuple[int, float]:
    """Steps and seconds in a run's history.csv (validation included in the seconds)."""
    rows = list(csv.DictReader((run / "history.csv").open()))
    return sum(int(float(r["steps"])) for r in rows), sum(float(r["seconds"]) for r in rows)


# --- parts ----------------------------------------------------------------------------------------------


def restorer(device, data: Path, heldout: list[Path], work: Path, args: argparse.Namespace) -> dict:
    from crackscope.evaluation.map_scores import ods_ois, score_masks
    from crackscope.io import read_image
    from crackscope.maps.recipe import get_preset
    from crackscope.unsupervised.config import RestorerConfig, get_config
    from crackscope.unsupervised.mapper import RestorerMapper
    from crackscope.unsupervised.run import load_restorer_run
    from crackscope.unsupervised.train import RestorerTrainOptions, train_restorer

    run = work / "restorer-paper"
    if args.quick:
        config: str | RestorerConfig = RestorerConfig(
            image_size=32, ngf=8, n_downs=5, ndf=8, d_strided=2, batch_size=4, epochs=1, steps_per_epoch=3,
            style="off", val_max=4, crack_margin=2, name="quick",
        )  # fmt: skip
        budget = None
    else:
        config, budget = get_config("paper"), args.restorer_minutes * 60
    options = RestorerTrainOptions(
        epochs=None if args.quick else 1000,
        time_budget=budget,
        device=str(device),
        num_workers=args.num_workers if args.num_workers is not None else (0 if args.quick else 8),
        vgg_weights=args.vgg_weights,
        seed=0,
    )
    if not (run / "model.safetensors").exists():
        train_restorer(data, out=run, config=config, options=options)
    steps, seconds = _history_rate(run)
    loaded = load_restorer_run(run, device=device)
    gts = [_truth(photo, read_image(photo).shape[:2]) for photo in heldout]
    row: dict[str, object] = {"part": "restorer"}
    for preset in ("restorer-paper", "restorer-thin"):  # the paper's Otsu and the thin-crack post-processing
        mapper = RestorerMapper(loaded, get_preset(preset))
        masks, softs = [], []
        started = time.perf_counter()
        for photo in heldout:
            result = mapper.map_image(read_image(photo))
            masks.append(result.mask)
            softs.append(result.probability)
        map_seconds = time.perf_counter() - started
        row[preset] = {
            "map_photos_per_s": round(len(heldout) / map_seconds, 2),
            "f1_exact": score_masks(masks, gts, tol=0)["f1"],
            "f1_2px": score_masks(masks, gts, tol=TOL)["f1"],
            "ods_2px": ods_ois(softs, gts, tol=TOL)["ods"]["f1"],
        }
    saved = json.loads((run / "config.json").read_text())
    return {
        **row,
        "config": saved["restorer"]["name"],
        "image_size": saved["restorer"]["image_size"],
        "ngf": saved["restorer"]["ngf"],
        "style": saved["style"],
        "precision": saved.get("precision"),
        "steps": steps,
        "train_seconds": round(seconds, 1),
        "steps_per_s": round(steps / seconds, 2) if seconds else None,
        "map_photos": len(heldout),
    }


def classifier(device, data: Path, work: Path, args: argparse.Namespace) -> dict:
    from crackscope.training import TrainOptions, train

    run = work / "classifier"
    if args.quick:
        options = TrainOptions(model="tiny", epochs=1, image_size=32, batch_size=8, device=str(device), seed=0)
    else:
        options = TrainOptions(
            epochs=100,
            time_limit=args.classifier_minutes * 60,
            device=str(device),
            num_workers=args.num_workers if args.num_workers is not None else 4,
            seed=0,
        )
    if not (run / "metrics.json").exists():
        train(data, out=run, options=options)
    steps, seconds = _history_rate(run)
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    return {
        "part": "classifier",
        "model": config["model"],
        "precision": config["precision"],
        "batch_size": config["recipe"]["batch_size"],
        "epochs": config["epochs_run"],
        "steps": steps,
        "train_seconds": round(seconds, 1),
        "steps_per_s": round(steps / seconds, 2) if seconds else None,
        "test_f1": (metrics.get("test") or {}).get("f1"),
    }


def _builtin_mapper(device):  # -> Mapper
    """The bundled run's mapper on ``device``."""
    from crackscope.maps.factory import make_mapper

    return make_mapper("builtin", device=str(device))


def mosaic(device, heldout: list[Path], work: Path, args: argparse.Namespace) -> dict:
    from crackscope.evaluation.map_scores import score_masks
    from crackscope.io import read_image

    if args.quick:  # 2 x 2 synthetic photos instead of 8 x 8 DeepCrack ones
        tiles = [read_image(p) for p in heldout[:4]]
        truths = [_truth(p, t.shape[:2]) for p, t in zip(heldout[:4], tiles, strict=True)]
        side = 2
    else:
        photos = sorted((DEEPCRACK / "images").glob("*.jpg"))[-64:]
        tiles = [read_image(p) for p in photos]
        truths = [_truth(p, t.shape[:2]) for p, t in zip(photos, tiles, strict=True)]
        side = 8
    image = np.concatenate([np.concatenate(tiles[r * side : (r + 1) * side], axis=1) for r in range(side)], axis=0)
    truth = np.concatenate([np.concatenate(truths[r * side : (r + 1) * side], axis=1) for r in range(side)], axis=0)
    mapper = _builtin_mapper(device)
    mapper.map_image(image[:256, :256])  # warm-up (kernels, autotuning)
    started = time.perf_counter()
    result = mapper.map_image(image)
    seconds = time.perf_counter() - started
    megapixels = image.shape[0] * image.shape[1] / 1e6
    return {
        "part": "mosaic",
        "size": f"{image.shape[1]}x{image.shape[0]}",
        "seconds": round(seconds, 2),
        "photos_per_s": round(1 / seconds, 3),
        "megapixels_per_s": round(megapixels / seconds, 2),
        "f1_exact": score_masks([result.mask], [truth], tol=0)["f1"],
        "f1_2px": score_masks([result.mask], [truth], tol=TOL)["f1"],
    }


def main() -> None:
    args = _args()
    device = _device(args.device, quick=args.quick)
    from crackscope.devices import describe_device

    parts = [p for p in args.only.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        sys.exit(f"unknown parts {unknown}; choose from {PARTS}")
    work = args.work / ("quick" if args.quick else "")
    data, heldout = _synthetic(work) if args.quick else _deepcrack(work)
    gpu = describe_device(device)
    rows = []
    for part in parts:
        context = run_context()
        if part == "restorer":
            row = restorer(device, data, heldout, work, args)
        elif part == "classifier":
            row = classifier(device, data, work, args)
        else:
            row = mosaic(device, heldout, work, args)
        row.update({"gpu": gpu, "context": {**context, "load_1min_after": load_1min()}})
        rows.append(row)
        print(json.dumps(row), flush=True)
        if not args.quick:
            with RESULTS.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    print("\n| part | on | numbers |\n|---|---|---|")
    for row in rows:
        numbers = ", ".join(f"{k} {v}" for k, v in row.items() if k not in ("part", "gpu", "context"))
        print(f"| {row['part']} | {row['gpu']['name']} | {numbers} |")


if __name__ == "__main__":
    main()
