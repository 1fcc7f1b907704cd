"""Training benchmark: accuracy, recall and training time of classifiers on the real crack sets.

Jobs (run in the order given, each one a full ``crackscope.training.train`` run kept in ``--out``):

- ``ozgenel-<model>[-fp32]``: Özgenel's 10k set, a fixed seeded (seed 0) 80/20 train/validation split
  grouped by file, no test part.
- ``deepcrack-<model>[-fp32]``: labelled patches cut from DeepCrack's 300 photos (automatic 96 px patches,
  stride 96), split by photo: the LAST 60 photos in sorted file-name order are the held-out test set
  (listed in ``OUT/deepcrack-heldout.txt``); the other 240 photos are split 85/15 into train/val (seed 0).

Results go to ``OUT/bench-train.json`` and are rendered into ``benchmarks/results/training.md`` after every
job, with the 1-minute load average seen before and after each run (the machine is shared).

    .venv/bin/python benchmarks/bench_train.py --out bench-out ozgenel-crackfast deepcrack-crackfast ...
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from context import load_1min, run_context  # benchmarks/context.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
OZGENEL = DATASETS / "ozgenel-10k"
DEEPCRACK = DATASETS / "deepcrack-train"
RESULTS = ROOT / "benchmarks" / "results" / "training.md"
HELDOUT_PHOTOS = 60

# Per-model benchmark settings that fit a shared 2-core CPU (sizes below the models' recipe sizes).
SETTINGS: dict[str, dict[str, Any]] = {
    "crackfast": {"image_size": 128, "epochs": 8},
    "seed-baseline": {"image_size": 96, "epochs": 3},
    "seed-v3": {"image_size": 96, "epochs": 3},
}
THREADS = 2  # torch threads; --threads 1 when other jobs share the cores (2 threads then spin-wait)
TIME_LIMIT_S = 600.0  # training stops after 10 minutes (the epoch in progress ends early)


def deepcrack_split(out: Path) -> Path:
    """Split DeepCrack patches by photo: last 60 photos (sorted) = test, the rest 85/15 train/val."""
    from crackscope.data.items import dataset_items
    from crackscope.data.splits import split_items, write_split_csv

    items = dataset_items(DEEPCRACK)
    photos = sorted({it.path.name for it in items})
    heldout = set(photos[-HELDOUT_PHOTOS:])
    out.mkdir(parents=True, exist_ok=True)
    (out / "deepcrack-heldout.txt").write_text("\n".join(sorted(heldout)) + "\n")
    rest = [it for it in items if it.path.name not in heldout]
    splits = split_items(rest, fractions=(0.85, 0.15, 0.0), seed=0)
    splits["test"] = [it for it in items if it.path.name in heldout]
    return write_split_csv(out / "deepcrack-split.csv", splits)


def run_job(job: str, out: Path) -> dict[str, Any]:
    from crackscope.training import TrainOptions, train

    dataset, _, model = job.partition("-")
    precision = "bf16"
    if model.endswith("-fp32"):
        model, precision = model[: -len("-fp32")], "fp32"
    settings = dict(SETTINGS.get(model, {"image_size": 96, "epochs": 3}))
    kwargs: dict[str, Any] = {
        "precision": precision,
        "time_limit": TIME_LIMIT_S,
        "seed": 0,
        "threads": THREADS,
        **settings,
    }
    if dataset == "ozgenel":
        data = OZGENEL
        kwargs["fractions"] = (0.8, 0.2, 0.0)
    elif dataset == "deepcrack":
        data = DEEPCRACK
        kwargs["split"] = deepcrack_split(out)
    else:
        raise ValueError(f"unknown dataset in job {job!r}")
    run_dir = out / job
    context = run_context()  # date, commit, machine, load before
    t0 = time.perf_counter()
    train(data, out=run_dir, options=TrainOptions(model=model, **kwargs))
    wall = time.perf_counter() - t0
    config = json.loads((run_dir / "config.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "job": job,
        "dataset": dataset,
        "model": model,
        "precision": config["precision"],
        "threads": THREADS,
        "image_size": config["image_size"],
        "epochs_run": config["epochs_run"],
        "best_epoch": config["best_epoch"],
        "parameters": config["parameters"],
        "split_counts": config["split_counts"],
        "val": metrics.get("val"),
        "test": metrics.get("test"),
        "training_seconds": config["training_seconds"],
        "data_seconds": config["data_seconds"],
        "wall_seconds": round(wall, 1),
        "load_before": context["load_1min"],
        "load_after": load_1min(),
        "date": context["date"],
        "commit": context["commit"],
        "machine": context["machine"],
        "finished": time.strftime("%Y-%m-%d %H:%M"),
    }


def pct(m: dict | None, key: str) -> str:
    return "-" if not m else f"{100 * m[key]:.2f}%"


def render(results: list[dict[str, Any]], command: str) -> str:
    lines = [
        "# Training benchmark",
        "",
        f"Command: `{command}`",
        "",
        "Machine: shared with other jobs; torch threads per row in the table; the 1-minute load"
        " average before/after each run is in the table (a load equal to the core count means the cores were fully"
        " busy, more means other jobs shared them). Each run's date, commit and machine, read from the system when"
        " it ran, are listed below the table.",
        "",
        "Settings: seed 0; each model's own recipe (optimizer, lr, augmentation, smoothing, L2) except the image size"
        f" and epochs shown; early stopping on validation loss with restore-best; training stops after"
        f" {TIME_LIMIT_S / 60:.0f} minutes (the epoch in progress ends early and is validated; its step count is in"
        " the run's history.csv). Ozgenel: fixed seeded 80/20 split"
        " (8000/2000), no test part. DeepCrack: automatic 96 px patches (stride 96) of the 300 photos, split by"
        " photo: the last 60 photos in sorted order are the held-out test set (`bench-out/deepcrack-heldout.txt`),"
        " the other 240 are split 85/15 into train/val.",
        "",
        "| data | model | precision, threads | size | params | epochs (best) | val accuracy | val recall "
        "| test accuracy"
        " | test recall | training time | data decode | load before/after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['precision']}, {r.get('threads', 2)} thr "
            f"| {r['image_size']} | {r['parameters']:,} |"
            f" {r['epochs_run']} ({r['best_epoch']}) | {pct(r['val'], 'accuracy')} | {pct(r['val'], 'recall')} |"
            f" {pct(r['test'], 'accuracy')} | {pct(r['test'], 'recall')} | {r['training_seconds'] / 60:.1f} min |"
            f" {r['data_seconds']:.0f} s | {r['load_before']}/{r['load_after']} |"
        )
    lines += ["", "Runs (date, commit; machine: arch, cores, Python):", ""]
    for r in results:
        if "commit" in r:
            lines.append(f"- {r['job']}: {r['date']}, commit {r['commit']}; {r['machine']}")
        else:  # rows recorded before the context was read from the system
            lines.append(f"- {r['job']}: finished {r.get('finished', 'unknown')}, commit not recorded")
    return "\n".join(lines) + "\n"


LEGACY_START, LEGACY_END = "<!-- bench_train table: start -->", "<!-- bench_train table: end -->"


def markers(out: Path) -> tuple[str, str]:
    """Each --out folder has its own generated table, so a run into a new folder never drops another's rows."""
    return f"<!-- bench_train table: {out.as_posix()} start -->", f"<!-- bench_train table: {out.as_posix()} end -->"


def write_results(table: str, out: Path) -> None:
    """Replace this --out folder's generated table in the results file, keeping everything else as it is
    (hand-written notes, other folders' tables); a new folder's table goes on top."""
    start, end = markers(out)
    block = f"{start}\n{table}{end}\n"
    text = RESULTS.read_text() if RESULTS.is_file() else ""
    if start not in text and LEGACY_START in text and LEGACY_END in text:
        legacy = text.split(LEGACY_START, 1)[1].split(LEGACY_END, 1)[0]
        if f"--out {out} " in legacy:  # the table from before per-folder markers, made from this folder
            start, end = LEGACY_START, LEGACY_END
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        text = before + block + ("\n" + after if after else "")
    else:
        text = block + ("\n" + text if text else "")
    RESULTS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", nargs="+", help="e.g. ozgenel-crackfast deepcrack-crackfast ozgenel-crackfast-fp32")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 when other jobs share the cores)")
    args = parser.parse_args()
    import torch

    global THREADS
    THREADS = args.threads
    torch.set_num_threads(THREADS)
    results_path = args.out / "bench-train.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else []
    command = f"python benchmarks/bench_train.py --out {args.out} " + " ".join(args.jobs)
    for job in args.jobs:
        print(f"== {job}", flush=True)
        result = run_job(job, args.out)
        results = [r for r in results if r["job"] != job] + [result]
        args.out.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=2))
        write_results(render(results, command), args.out)
        print(json.dumps(result, indent=2), flush=True)


if __name__ == "__main__":
    main()
