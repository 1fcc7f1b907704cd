"""Classifiers across sources (issue 16): one source, all three, and leave-one-source-out, each scored on every source.

    .venv/bin/python benchmarks/bench_sources.py [--minutes 4] [--model crackfast] [--augment robust]
        [--rows ozgenel,all,loso] [--epochs 12] [--patience N] [--label-smoothing X] [--image-size PX]
        [--patch-size PX [--stride PX]] [--seed 0] [--synthetic N] [--weight-average SIGMA_REL]
    .venv/bin/python benchmarks/bench_sources.py --periods 60   # each source's texture period, nothing trained

Sources (``../shared/datasets``): Özgenel 10k (class folders, 227 px), DeepCrack's training set and CRACK500 (images
+ masks, cut into labelled patches by the product's rule). Each row trains ``crackfast`` (or ``--model``) with
``crackscope.training.train`` for at most ``--minutes`` (the sources sampled in balance when there are several;
split within each source, crops of one photo kept together), then ``evaluate`` scores it at the run's threshold
(chosen on the pooled validation data of the trained sources) on every source: a trained source on its own test part
(``split="test"``), a source left out on all of it; each row also gives the run's own validation score (from its
``metrics.json``), the part that may choose between configurations. Rows: ``ozgenel`` (Özgenel only), ``all`` (all
three), ``loso`` (three runs, each leaving one source out; its held-out score is the row's result), ``loso:NAME``
(only the run that leaves NAME out). ``--synthetic N`` adds a fourth source trained on in every row: N synthetic 128
px photos of ``crackscope.data.synth`` (half cracked; whole photos in class folders, written once under ``--work``),
never scored. No setting is chosen here: every row uses the same options. A line with date, commit, machine and load
goes to ``benchmarks/results/sources.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_restorer import append_result  # noqa: E402
from context import load_1min, run_context  # noqa: E402

if TYPE_CHECKING:
    from crackscope.data.sources import DataSource

RESULTS = ROOT / "benchmarks" / "results" / "sources.jsonl"
DATA = ROOT.parent / "shared" / "datasets"
NAMES = {"ozgenel": "ozgenel-10k", "deepcrack": "deepcrack-train", "crack500": "crack500-379"}


def main() -> None:
    from crackscope.data.sources import DataSource
    from crackscope.training import TrainOptions, train
    from crackscope.training.classifier_scores import evaluate

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--model", default="crackfast", help="a registered model (default: crackfast)")
    ap.add_argument("--augment", default="robust")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--patience", type=int, default=None, help="early-stopping patience (0: off; default: the model's)")
    ap.add_argument("--label-smoothing", type=float, default=None, help="default: the model's recipe (crackfast: 0)")
    ap.add_argument("--image-size", type=int, default=None, help="input size in px (default: the model's, 128)")
    ap.add_argument("--patch-size", type=int, default=None, help="patches of image + mask sets (default: automatic)")
    ap.add_argument("--stride", type=int, default=None, help="their stride (default: the patch size)")
    ap.add_argument("--weight-average", type=float, default=0.0, help="relative width of the weight average (0: off)")
    ap.add_argument("--rows", default="ozgenel,all,loso", help="ozgenel, all, loso or loso:NAME (one held out)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--synthetic", type=int, default=0, help="N synthetic photos trained on in every row (0: none)")
    ap.add_argument("--work", type=Path, default=ROOT / "bench-out" / "sources")
    ap.add_argument("--periods", type=int, default=0, help="only measure N photos' texture period per source")
    args = ap.parse_args()

    sources = {name: DataSource(DATA / folder, name) for name, folder in NAMES.items()}
    if args.periods:
        texture_periods(sources, args.periods, args.seed)
        return
    plan: list[tuple[str, list[str]]] = []
    rows_asked = args.rows.split(",")
    if "ozgenel" in rows_asked:
        plan.append(("ozgenel only", ["ozgenel"]))
    if "all" in rows_asked:
        plan.append(("all three", list(NAMES)))
    for row in rows_asked:  # "loso": all three; "loso:NAME": only the run that holds NAME out
        if row == "loso" or row.startswith("loso:"):
            held_out = list(NAMES) if row == "loso" else [row.split(":", 1)[1]]
            unknown = [h for h in held_out if h not in NAMES]
            if unknown:
                ap.error(f"unknown source {unknown[0]!r} in --rows; sources: {', '.join(NAMES)}")
            plan += [(f"without {held}", [n for n in NAMES if n != held]) for held in held_out]
    extra = []
    if args.synthetic:
        folder = synthetic_photos(args.work / f"synthetic-{args.synthetic}", args.synthetic)
        sources["synthetic"] = DataSource(folder, "synthetic")
        extra = ["synthetic"]
    context = run_context()
    rows = []
    for label, trained in plan:
        trained = trained + extra
        out = args.work / label.replace(" ", "-")
        options = TrainOptions(
            model=args.model,
            epochs=args.epochs,
            patience=args.patience,
            label_smoothing=args.label_smoothing,
            image_size=args.image_size,
            patch_size=args.patch_size,
            stride=args.stride,
            augment=args.augment,
            seed=args.seed,
            time_limit=args.minutes * 60,
            weight_average=args.weight_average,
        )
        started = time.perf_counter()
        data = sources[trained[0]].path if len(trained) == 1 else tuple(sources[n] for n in trained)
        train(data, out=out, options=options)
        minutes = (time.perf_counter() - started) / 60
        scores = {}
        for name, source in sources.items():
            if name in extra:
                continue
            seen = name in trained
            target = source.path if len(trained) == 1 else (source,)  # as the run was trained
            report = evaluate(out, target, split="test" if seen else None)
            scores[name] = {
                "part": "test split" if seen else "all (never trained on)",
                "accuracy": round(float(report["accuracy"]), 4),
                "recall": round(float(report["recall"]), 4),
                "ece": round(float(report["ece"]), 4),
            }
        val = json.loads((out / "metrics.json").read_text())["val"]  # the run's own validation part, at its threshold
        validation = {"items": val["n"], "accuracy": round(float(val["accuracy"]), 4), "errors": val["fp"] + val["fn"]}
        row = {
            "row": label,
            "trained_on": trained,
            "train_minutes": round(minutes, 2),
            "validation": validation,
            "scores": scores,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    context["load_1min_after"] = load_1min()
    record = {
        **context,
        "model": args.model,
        "augment": args.augment,
        "minutes_cap": args.minutes,
        "epochs": args.epochs,
        "patience": args.patience,
        "label_smoothing": args.label_smoothing,
        "seed": args.seed,
        "image_size": args.image_size,
        "patch_size": args.patch_size,
        "stride": args.stride,
        "synthetic": args.synthetic,
        "weight_average": args.weight_average,
        "rows": rows,
    }
    append_result(RESULTS.name, record)


def texture_periods(sources: dict[str, DataSource], n: int, seed: int) -> None:
    """Median texture period (``crackscope.maps.scale.texture_period``) of a seeded sample of ``n`` photos of each
    source, at the photo's size and at the model's input (the photo, or its patch, resized to 128 px)."""
    import numpy as np

    from crackscope.data.items import auto_patch_size
    from crackscope.data.layouts import load_dataset
    from crackscope.inputs import sample_paths
    from crackscope.io import read_image
    from crackscope.maps.scale import texture_period

    out = {}
    for name, source in sources.items():
        dataset = load_dataset(source.path)
        photos = [read_image(p) for p in sample_paths((s.path for s in dataset.samples), max_photos=n, seed=seed)]
        period = float(np.median([texture_period(im) for im in photos]))
        masked = any(s.mask_path is not None for s in dataset.samples)
        side = auto_patch_size(im.shape[:2] for im in photos) if masked else min(photos[0].shape[:2])
        out[name] = {"photos": len(photos), "period_px": round(period, 2), "input_side_px": side,
                     "period_at_128px": round(period * 128 / side, 2)}  # fmt: skip
    record = {**run_context(), "texture_periods": out, "seed": seed}
    print(json.dumps(record))
    append_result(RESULTS.name, record)


def synthetic_photos(folder: Path, n: int) -> Path:
    """``n`` synthetic 128 px photos in ``folder/cracked`` and ``folder/uncracked`` (written once; seed 0)."""
    import numpy as np

    from crackscope.data.synth import generate_pair
    from crackscope.io import write_image_atomic

    if len(list(folder.glob("*/*.png"))) == n:
        return folder
    rng = np.random.default_rng(0)
    for i in range(n):
        cracked = i % 2 == 1
        image, _ = generate_pair(rng, 128, cracked=cracked)
        write_image_atomic(folder / ("cracked" if cracked else "uncracked") / f"synth_{i:05d}.png", image)
    return folder


if __name__ == "__main__":
    main()
