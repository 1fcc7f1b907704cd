"""The end-to-end demo: synthetic data -> fast default model -> explanations and crack maps -> scores -> report.

Everything lands in one folder::

    OUT/data/          synthetic images, exact masks, labels.csv
    OUT/run/           the trained classifier run (config, weights, curves, metrics, split)
    OUT/explanations/  CAM maps, overlays and panels of the held-out (test-split) images
    OUT/maps/          crack maps of the held-out images (masks, probability, skeletons, overlays, cracks.csv)
    OUT/scores.json    the maps scored against the exact masks (exact and 2 px)
    OUT/summary.json   the headline figures
    OUT/report.html    the self-contained report
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crackscope.progress import OnProgress, report

# Full demo, measured 2026-11-21 on the 2-core machine while it was heavily shared (load 15-18): the whole
# run_demo took 23 CPU-seconds single-threaded (so well under the 3-minute cap on 2 idle cores); test
# accuracy 0.93, recall 0.90, map F1 0.63 exact / 0.89 at 2 px (2 training threads, seed 0). Batch 16 gives
# twice the steps of the recipe's 32 at the same cost and learnt clearly faster on 280 training images.
# Quick: a smoke test of every step in seconds.
FULL = {"n": 400, "size": 96, "epochs": 12, "batch_size": 16}
QUICK = {"n": 40, "size": 48, "epochs": 1, "batch_size": 16}
SCORE_TOL = 2
EXPLAIN_LIMIT = 16


@dataclass(frozen=True)
class DemoOptions:
    """The demo's sizes and choices. ``n`` images of ``size`` px, ``epochs`` and ``batch_size`` default to the
    full demo's (:data:`FULL`) or, with ``quick``, the smoke test's (:data:`QUICK`); ``seed`` seeds the data and
    the training; ``preset`` is the map recipe of the maps and the report, with ``method`` as its CAM method.

    Raises
    ------
    ValueError
        If a size is too small or the method or preset is unknown.
    """

    n: int | None = None
    size: int | None = None
    seed: int = 0
    quick: bool = False
    epochs: int | None = None
    batch_size: int | None = None
    method: str = "gradcam++"
    preset: str = "refined"

    def __post_init__(self) -> None:
        from crackscope.cam import METHODS
        from crackscope.maps.recipe import get_preset

        if self.sizes["n"] < 12:
            raise ValueError(f"n must be at least 12 (train, validation and test need images), got {self.sizes['n']}")
        if self.sizes["size"] < 32:
            raise ValueError(f"size must be at least 32 px, got {self.sizes['size']}")
        if self.sizes["epochs"] < 1 or self.sizes["batch_size"] < 1:
            raise ValueError(f"epochs and batch size must be at least 1, got {self.sizes}")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        get_preset(self.preset)

    @property
    def sizes(self) -> dict[str, int]:
        """``n``, ``size``, ``epochs`` and ``batch_size`` with the defaults filled in."""
        given = {"n": self.n, "size": self.size, "epochs": self.epochs, "batch_size": self.batch_size}
        base = QUICK if self.quick else FULL
        return {key: base[key] if value is None else int(value) for key, value in given.items()}


def run_demo(
    out: str | Path,
    *,
    options: DemoOptions = DemoOptions(),
    progress: bool = True,
    on_progress: OnProgress | None = None,
) -> dict[str, Any]:
    """Run the whole demo into ``out`` and return the headline figures (also in ``OUT/summary.json``).

    ``on_progress`` is told of the explanations, the maps, the scores and the report; with ``progress`` also of
    every training step (``epoch i/N``), without it of the synthetic data and of the training as a whole (its
    start, and its end at the number of epochs run) instead."""
    from crackscope.cam import explain
    from crackscope.data.splits import read_split_csv
    from crackscope.data.synth import synthesize
    from crackscope.evaluation.map_scores import score_dirs
    from crackscope.io import read_image, write_json_atomic
    from crackscope.maps.pipeline import map_images
    from crackscope.maps.recipe import get_preset
    from crackscope.models import DEFAULT_MODEL
    from crackscope.report import build_report
    from crackscope.training import TrainOptions, train
    from crackscope.training.run import load_run

    sizes = options.sizes
    n, size, epochs, batch_size = sizes["n"], sizes["size"], sizes["epochs"], sizes["batch_size"]
    seed, quick, method, preset = options.seed, options.quick, options.method, options.preset
    recipe = get_preset(preset).with_(method=method)

    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # The demo owns these sub-folders: a re-run starts them afresh.
    for name in ("data", "run", "explanations", "maps"):
        if (out / name).exists():
            shutil.rmtree(out / name)
    timings: dict[str, float] = {}

    def lap(step: str, t0: float) -> float:
        timings[step] = round(time.perf_counter() - t0, 2)
        return time.perf_counter()

    early = None if progress else on_progress  # told of the steps the training display would overlap
    t = time.perf_counter()
    report(early, "synthesising data", 0, n)
    data = synthesize(
        out / "data", n=n, size=size, seed=seed, progress=lambda done: report(early, "synthesising data", done, n)
    )
    t = lap("synthesize", t)
    report(early, "training epochs", 0, epochs)

    # patch_size = size keeps each synthetic photo whole (one item per image, labelled by its mask).
    run_dir = train(
        data,
        out=out / "run",
        options=TrainOptions(
            model=DEFAULT_MODEL, epochs=epochs, image_size=size, batch_size=batch_size, seed=seed, patch_size=size
        ),
        on_progress=on_progress if progress else None,  # one display at a time (see ``early``)
    )
    t = lap("train", t)
    epochs_run = int(_read_json(run_dir / "config.json").get("epochs_run", epochs))
    report(early, "training epochs", epochs_run, epochs_run)  # fewer than ``epochs`` after an early stop

    test_items = read_split_csv(run_dir / "split.csv")["test"]
    test_paths = [item.path for item in test_items]
    if not test_paths:
        raise ValueError(f"the test split of {run_dir} is empty: use more images (n={n})")

    run = load_run(run_dir)
    shown = test_paths[:EXPLAIN_LIMIT]
    report(on_progress, "explaining", 0, len(shown))
    images = [read_image(p) for p in shown]
    import torch

    expl = explain(run.model, torch.stack([run.preprocess(im) for im in images]), method=method)
    expl.save(out / "explanations", images=images, names=[p.stem for p in shown], threshold=run.threshold)
    report(on_progress, "explaining", len(shown), len(shown))
    t = lap("explain", t)

    map_summary = map_images(run_dir, test_paths, out / "maps", recipe=recipe, on_progress=on_progress)
    t = lap("map", t)

    report(on_progress, "scoring", 0, 1)
    scores = score_dirs(out / "maps", data / "masks", tol=SCORE_TOL)
    write_json_atomic(out / "scores.json", scores)
    report(on_progress, "scoring", 1, 1)
    t = lap("score", t)

    html = build_report(
        run_dir, data=data, maps_dir=out / "maps", out=out / "report.html", preset=recipe, on_progress=on_progress
    )
    lap("report", t)

    metrics = _read_json(run_dir / "metrics.json")
    test = metrics.get("test") or metrics.get("val") or {}
    summary = {
        "report": str(html),
        "run": str(run_dir),
        "model": DEFAULT_MODEL,
        "n_images": n,
        "size": size,
        "epochs": epochs,
        "batch_size": batch_size,
        "quick": quick,
        "method": method,
        "preset": preset,
        "test_images": len(test_paths),
        "mapped_images": len(map_summary.get("images", [])),
        "map_errors": map_summary.get("errors", []),
        "test_accuracy": float(test.get("accuracy", float("nan"))),
        "test_recall": float(test.get("recall", float("nan"))),
        "threshold": float(metrics.get("threshold", run.threshold)),
        "map_f1_exact": float(scores["exact"]["f1"]),
        "map_iou_exact": float(scores["exact"]["iou"]),
        "map_f1_2px": float(scores["tolerant"]["f1"]),
        "map_iou_2px": float(scores["tolerant"]["iou"]),
        "scored_images": int(scores["n_images"]),
        "timings_s": timings,
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_json_atomic(out / "summary.json", summary)
    return summary


def _read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or an empty dict when there is no such file."""
    from crackscope.io import read_json_object

    return read_json_object(path) if path.is_file() else {}
