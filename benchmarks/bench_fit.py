"""``crackscope fit`` + ``crackscope map`` + ``crackscope score`` on held-out photos, as one command.

    .venv/bin/python benchmarks/bench_fit.py [--data ../shared/datasets/deepcrack-train] [--minutes 20]
        [--preset selftrained] [--restorer RUN] [--photos-from OTHER [--photos-held-out 60]] [--out bench-out/fit]
        [--no-held-out-score] [--builtin]

The photos of DATA (an image + mask set) in sorted order: all but the last ``--held-out`` (60) are the
fit's data (their masks only cut the classifier's patch labels; no mask is a pixel target); the last ones
are held out: mapped by the fitted run with its own recipe (no option) and scored against their masks at
exact and 2 px tolerance. With ``--score-data OTHER`` the photos of another image + mask set are scored too
(no setting may be chosen on them; ``--score-last N``: only its last N photos, e.g. DeepCrack's held-out ones).
``--extra-source OTHER`` fits on DATA's photos and OTHER too (several sources: the classifier samples them in
balance, self-training reads an equal share of each). ``--photos-from OTHER`` gives the fit OTHER's photos
without their masks (``crackscope fit --photos``: self-training reads about half its photos from them), all
but the last ``--photos-held-out`` (60) in name order; score those last ones with ``--score-data OTHER
--score-last 60``.
The row, with date, commit, machine and load, is appended to ``benchmarks/results/fit.jsonl`` and printed.
``--no-held-out-score`` fits without mapping or scoring the held-out photos (no look at their masks: for a run
whose adoption a rule on other photos decides first). ``--builtin`` copies the fitted run (weights, configs,
recipe) into ``crackscope/builtin/``: the model shipped with the package.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "datasets"
RESULTS = ROOT / "benchmarks" / "results" / "fit.jsonl"
#: what the bundled run keeps of a fitted run folder (the rest is training state and plots)
BUILTIN_FILES = ("config.json", "model.safetensors", "metrics.json", "map_recipe.json", "fit.json")

from context import load_1min, run_context  # noqa: E402  (benchmarks/context.py, beside this script)


def link_pairs(photos: list[Path], masks: Path, dest: Path) -> Path:
    """An image + mask folder of links to ``photos`` and their masks."""
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "images").mkdir(parents=True)
    (dest / "masks").mkdir()
    for p in photos:
        (dest / "images" / p.name).symlink_to(p.resolve())
        (dest / "masks" / f"{p.stem}.png").symlink_to((masks / f"{p.stem}.png").resolve())
    return dest


def print_progress(task: str, done: int, total: int | None) -> None:
    if total is not None and done == total:
        print(f"  {task}: done ({total})", flush=True)


def score_set(run: Path, photos: list[Path], masks: Path, out: Path) -> dict[str, object]:
    from crackscope.evaluation.map_scores import score_dirs
    from crackscope.maps.pipeline import map_images

    t = time.perf_counter()
    summary = map_images(run, photos, out, overwrite=True)
    seconds = time.perf_counter() - t
    scores = score_dirs(out, masks, tol=2)
    exact, tol = scores["exact"], scores["tolerant"]
    return {
        "photos": len(photos),
        "errors": len(summary["errors"]),
        "map_seconds": round(seconds, 1),
        "exact": {k: round(float(exact[k]), 4) for k in ("precision", "recall", "f1", "iou")},
        "2px": {k: round(float(tol[k]), 4) for k in ("precision", "recall", "f1", "iou")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=SHARED / "deepcrack-train")
    ap.add_argument("--held-out", type=int, default=60)
    ap.add_argument(
        "--no-held-out-score",
        action="store_true",
        help="fit only: do not map and score the held-out photos (a run whose adoption is decided elsewhere first)",
    )
    ap.add_argument("--score-data", type=Path, action="append", default=[])
    ap.add_argument("--score-last", type=int, default=None, help="score only the last N photos of each --score-data")
    ap.add_argument(
        "--extra-source", type=Path, action="append", default=[], help="fit on DATA and this data set too (any layout)"
    )
    ap.add_argument("--photos-from", type=Path, default=None, help="a set whose photos fit gets (no masks)")
    ap.add_argument("--photos-held-out", type=int, default=60, help="the last N photos of --photos-from are not given")
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--preset", default=None)
    ap.add_argument("--restorer", type=Path, default=None, help="a restorer run (presets that fuse its error)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench-out" / "fit")
    ap.add_argument("--builtin", action="store_true", help="copy the fitted run into crackscope/builtin/")
    args = ap.parse_args()

    from crackscope.data.sources import DataSource
    from crackscope.maps.fit import FitOptions, fit

    photos = sorted((args.data / "images").glob("*.jpg")) + sorted((args.data / "images").glob("*.png"))
    photos = sorted(photos)
    train_photos, held_out = photos[: -args.held_out], photos[-args.held_out :]
    context = run_context()
    data = link_pairs(train_photos, args.data / "masks", args.out / "data")
    run = args.out / "run"
    given: tuple[Path, ...] = ()
    if args.photos_from is not None:
        others = sorted((args.photos_from / "images").iterdir())[: -args.photos_held_out]
        folder = args.out / "photos"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for p in others:
            (folder / p.name).symlink_to(p.resolve())
        given = (folder,)
    fit_data: Path | tuple[DataSource, ...] = data
    if args.extra_source:
        fit_data = (DataSource(data, args.data.name), *(DataSource(x, x.name) for x in args.extra_source))
    res = fit(
        fit_data,
        run,
        preset=args.preset,
        options=FitOptions(
            minutes=args.minutes,
            seed=args.seed,
            restorer=None if args.restorer is None else str(args.restorer),
            photos=given,
        ),
        on_progress=print_progress,
    )
    row: dict[str, object] = {
        **context,
        "command": " ".join(sys.argv),
        "preset": res.recipe.name,
        "fit_data": f"{args.data.name}: first {len(train_photos)} photos in name order"
        + "".join(f" + {x.name}" for x in args.extra_source)
        + (
            f"; --photos: {args.photos_from.name}'s photos (no masks) but its last {args.photos_held_out}"
            if args.photos_from is not None
            else ""
        ),
        "restorer": None if args.restorer is None else str(args.restorer),
        "fit_minutes": round(res.seconds / 60, 2),
        "steps": [s.__dict__ for s in res.steps],
        "scored": {},
    }
    sets = {}
    if not args.no_held_out_score:
        sets[f"{args.data.name} held-out (last {len(held_out)})"] = (held_out, args.data / "masks")
    for other in args.score_data:
        every = sorted((other / "images").iterdir())
        if args.score_last:
            sets[f"{other.name} held-out (last {args.score_last})"] = (every[-args.score_last :], other / "masks")
        else:
            sets[f"{other.name} (all)"] = (every, other / "masks")
    for name, (ps, masks) in sets.items():
        row["scored"][name] = score_set(run, ps, masks, args.out / f"maps-{len(row['scored'])}")  # type: ignore[index]
        print(name, json.dumps(row["scored"][name]), flush=True)  # type: ignore[index]
    row["load_1min_after"] = load_1min()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=1))
    if args.builtin:
        dest = ROOT / "crackscope" / "builtin"
        for name in BUILTIN_FILES:
            shutil.copy2(run / name, dest / name)
        if (dest / "pixel-models").exists():
            shutil.rmtree(dest / "pixel-models")
        for stage in res.recipe.pixel_models:
            (dest / "pixel-models" / stage).mkdir(parents=True)
            for f in ("pixel_model.safetensors", "pixel_model.json"):
                shutil.copy2(run / "pixel-models" / stage / f, dest / "pixel-models" / stage / f)
        print(f"copied the fitted run into {dest}")


if __name__ == "__main__":
    main()
