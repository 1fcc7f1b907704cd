"""Crack-map benchmark on DeepCrack, split by photo: plain CAM thresholding vs refined maps vs black-hat baseline.

    .venv/bin/python benchmarks/bench_maps.py [--run bench-out/deepcrack-crackfast] [--wait-min 20]
        [--train-if-missing] [--tune] [--big] [--out benchmarks/results/maps.md]

Split: the 300 DeepCrack photos in sorted order; the first 240 train the classifier on patch labels (the
training engineer's run, or ``--train-if-missing``), the last 60 are held out. No mask is used to train,
and the refinement is tuned (``--tune``) on training photos only; the held-out photos are only scored.
Of the 240 training photos, 40 ("tune" photos, every 6th) are the only ones whose masks may choose settings;
the other 200 train the self-trained pixel model (``--pixel-model``/``--pixel-model-prior`` folders, trained
here with ``--selftrain-seconds`` when missing) on pseudo-labels, images only. CAMs are cached per photo
(``--cam-cache``, default ``RUN/cams-METHOD``). Rows: plain CAM + Otsu, refined v1 (``--options``), refined v2
(``--options-v2``), refined with the a-priori ``PRIOR_OPTIONS``, the self-trained models, and the black-hat
baselines.
``--big`` times mapping one 4032x3024 photo (a DeepCrack photo upscaled with OpenCV) in a subprocess and
reads its peak memory (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from context import run_context  # benchmarks/context.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "deepcrack-train"
DEFAULT_RUN = ROOT / "bench-out" / "deepcrack-crackfast"
HELDOUT_LIST = ROOT / "bench-out" / "deepcrack-heldout.txt"
N_TRAIN = 240
TOL = 2


KEEP_MARKER = "<!-- notes below this line are kept when bench_maps.py rewrites the file -->"


def split_photos() -> tuple[list[Path], list[Path]]:
    photos = sorted((DATA / "images").glob("*.jpg"))
    return photos[:N_TRAIN], photos[N_TRAIN:]


def mask_of(photo: Path) -> Path:
    return DATA / "masks" / f"{photo.stem}.png"


def wait_for_run(run: Path, minutes: float) -> bool:
    deadline = time.time() + minutes * 60
    while True:
        cfg = run / "config.json"
        if cfg.is_file() and (run / "model.safetensors").is_file():
            try:
                if json.loads(cfg.read_text()).get("complete", True):
                    return True
            except json.JSONDecodeError:
                pass
        if time.time() > deadline:
            return False
        print(f"waiting for {run} ...", flush=True)
        time.sleep(30)


def train_run(run: Path, train_photos: list[Path]) -> None:
    """Train crackfast on patches of the training photos (patch labels come from masks; no mask is a target)."""
    from crackscope.training import TrainOptions, train

    data = Path(tempfile.mkdtemp(prefix="deepcrack-train240-"))
    (data / "images").mkdir()
    (data / "masks").mkdir()
    for p in train_photos:
        (data / "images" / p.name).symlink_to(p)
        (data / "masks" / mask_of(p).name).symlink_to(mask_of(p))
    train(data, out=run, options=TrainOptions(model="crackfast", seed=0))


def load_pairs(photos: list[Path]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    from crackscope.io import read_image, read_mask

    return [(p.stem, read_image(p), read_mask(mask_of(p))) for p in photos]


def cam_pass(mapper, pairs, cache: Path | None = None) -> tuple[list[tuple[np.ndarray, list]], list[float]]:
    """Blended CAM + tile predictions per photo; with ``cache`` each photo's result is kept in
    ``cache/<stem>.npz`` and re-used (seconds are only reported for photos computed in this run)."""
    from crackscope.maps.base import Tile

    out, secs = [], []
    for stem, img, _ in pairs:
        f = cache / f"{stem}.npz" if cache else None
        if f is not None and f.is_file():
            z = np.load(f)
            tiles = tuple(
                Tile(tuple(int(v) for v in b), probability=float(p))
                for b, p in zip(z["boxes"], z["probs"], strict=False)
            )
            out.append((z["cam"].astype(np.float32), tiles))
            continue
        t = time.perf_counter()
        cam, tiles = mapper.cam_map(img)
        secs.append(time.perf_counter() - t)
        out.append((cam, tiles))
        if f is not None:
            f.parent.mkdir(parents=True, exist_ok=True)
            np.savez(
                f.with_suffix(".tmp.npz"),
                cam=cam.astype(np.float16),
                boxes=np.array([t.box for t in tiles]),
                probs=np.array([t.probability for t in tiles]),
            )
            f.with_suffix(".tmp.npz").replace(f)
    return out, secs


def baseline_threshold(pairs, options) -> float:
    """The black-hat response level with the best pooled exact F1 on (training) photos: ODS of those photos."""
    from crackscope.evaluation.map_scores import ods_ois

    resp = [options.response(img) for _, img, _ in pairs]
    return float(ods_ois(resp, [gt for _, _, gt in pairs])["ods"]["threshold"])


def evaluate(pairs, cams, methods: dict[str, object]) -> dict[str, dict]:
    """Score each method (``fn(image, cam, tiles) -> (soft, mask)``): masks exactly and at 2 px, soft maps
    by ODS/OIS, and the median seconds per photo after the CAM pass."""
    from crackscope.evaluation.map_scores import ods_ois, score_masks

    gts = [gt for _, _, gt in pairs]
    result = {}
    for key, fn in methods.items():
        masks, softs, secs = [], [], []
        for (_, img, _), (cam, tiles) in zip(pairs, cams, strict=False):
            t = time.perf_counter()
            soft, mask = fn(img, cam, tiles)
            secs.append(time.perf_counter() - t)
            masks.append(mask)
            softs.append(np.clip(soft, 0.0, 1.0))
        result[key] = {
            "exact": score_masks(masks, gts),
            "tol": score_masks(masks, gts, tol=TOL),
            "curve_exact": ods_ois(softs, gts),
            "curve_tol": ods_ois(softs, gts, tol=TOL),
            "median_sec": statistics.median(secs),
        }
        print(f"{key}: exact F1 {result[key]['exact']['f1']:.3f}, 2 px F1 {result[key]['tol']['f1']:.3f}", flush=True)
    return result


def mapper_method(mapper, *, refine: bool, options=None, gate: str = "photo", pixel_model=None):
    """A method that runs ``mapper.finish`` with the given settings (the product's own code path)."""

    def fn(img, cam, tiles):
        mapper.recipe = mapper.recipe.with_(
            refine=refine, refine_options=options or mapper.recipe.refine_options, gate=gate
        )
        mapper.pixel_model = pixel_model
        res = mapper.finish(img, cam, tiles)
        return res.probability, res.mask

    return fn


def baseline_method(options, level: float | None = None):
    from crackscope.maps.baseline import blackhat_otsu
    from crackscope.maps.postprocess import remove_small

    def fn(img, cam, tiles):
        resp, mask = blackhat_otsu(img, radii=options.radii, blur=options.blur, contrast=options.contrast)
        if level is not None:
            mask = remove_small(resp >= level, min_size=30)
        return resp, mask

    return fn


def load_options(path: Path):
    from crackscope.maps.refine import RefineOptions

    d = json.loads(path.read_text())
    return RefineOptions(**{**d, "radii": tuple(d["radii"])})


def selftrain(mapper, pairs, cams, *, refine, out: Path, seconds: float, seed: int = 0):
    """Train the pixel model on pseudo-labels of (training) photos; no ground-truth mask is read."""
    import torch

    from crackscope.maps.selftrain import PseudoLabelOptions, SelfTrainOptions, pseudo_labels, train_pixel_model

    popts = PseudoLabelOptions()
    labels = [
        pseudo_labels(img, cam, refine=refine, options=popts)
        for (_, img, _), (cam, _) in zip(pairs, cams, strict=False)
    ]
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    return train_pixel_model(
        [img for _, img, _ in pairs],
        labels,
        out=out,
        options=SelfTrainOptions(seconds=seconds, crop=96, batch_size=12, width=12, lr=3e-3, seed=seed),
        extra_config={
            "pseudo_labels": popts.as_dict(),
            "refine": refine.as_dict(),
            "photos": len(pairs),
            "photo_names": [stem for stem, _, _ in pairs],
        },
    )


def tune(pairs, cams, mapper) -> tuple[object, list[dict]]:
    """Coordinate search of the refinement settings on training photos (exact F1 of the pooled masks)."""
    from crackscope.evaluation.map_scores import Counts, count_mask
    from crackscope.maps.refine import RefineOptions, refine_map

    responses: dict[tuple, list[np.ndarray]] = {}

    def score(opts: RefineOptions) -> float:
        key = (opts.radii, opts.blur, opts.contrast, opts.relative_contrast)
        if key not in responses:
            responses[key] = [opts.response(img) for _, img, _ in pairs]
        total = Counts()
        for (_, img, gt), (cam, tiles), resp in zip(pairs, cams, responses[key], strict=False):
            _, mask = refine_map(img, cam, options=opts, response=resp)
            if not mapper.is_cracked(tiles):
                mask = np.zeros_like(mask)
            total = total + count_mask(mask, gt)
        return total.f1

    log: list[dict] = []
    best = RefineOptions()
    best_f1 = score(best)
    log.append({"options": best.as_dict(), "f1": best_f1})
    grid = [
        {"radii": [(2, 4, 8), (3, 6, 12), (4, 8, 16), (3, 6, 12, 20)], "blur": [1.0, 1.5, 2.0]},
        {"region_level": [0.15, 0.3, 0.45, 0.6], "region_dilation": [0, 4, 8, 16]},
        {"min_response": [0.05, 0.1, 0.2, 0.3], "min_size": [10, 30, 60, 120]},
        {"closing": [0, 1, 2]},
        {"mask_threshold": [None, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]},
        {"min_size": [10, 30, 60, 120], "closing": [0, 1, 2]},
        {"radii": [(2, 4, 8), (3, 6, 12), (4, 8, 16), (3, 6, 12, 20)], "blur": [1.0, 1.5, 2.0]},
        {"region_level": [0.15, 0.3, 0.45, 0.6], "region_dilation": [0, 4, 8, 16]},
    ]
    for block in grid:
        names = list(block)
        for values in itertools.product(*(block[n] for n in names)):
            opts = best.with_(**dict(zip(names, values, strict=False)))
            f1 = score(opts)
            log.append({"options": opts.as_dict(), "f1": f1})
            if f1 > best_f1 + 1e-6:
                best, best_f1 = opts, f1
        print(f"tuned {names}: F1 {best_f1:.4f} with {best.as_dict()}", flush=True)
    return best, log


def big_child(run: str, photo: str, out: str, method: str) -> None:
    """Subprocess body: map one 4032x3024 upscaled photo and print timings and ru_maxrss as JSON."""
    import cv2

    from crackscope.io import read_image, write_image_atomic
    from crackscope.maps.pipeline import map_images
    from crackscope.maps.recipe import MapRecipe
    from crackscope.training.run import load_run

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    big = cv2.resize(read_image(photo), (4032, 3024), interpolation=cv2.INTER_CUBIC)
    src = Path(out) / "input" / "big_4032x3024.png"
    write_image_atomic(src, big)
    del big
    load_run(run)  # warm imports so the timing below is the mapping
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    summary = map_images(run, [src], Path(out) / "maps", recipe=MapRecipe(method=method), overwrite=True)
    sec = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    img = summary["images"][0]
    print(
        json.dumps(
            {
                "seconds": sec,
                "maxrss_mb": rss / 1024,
                "maxrss_before_mb": rss0 / 1024,
                "maxrss_loaded_mb": rss_loaded / 1024,
                "tiles": len(img["tiles"]),
                "n_cracks": img["n_cracks"],
                "errors": summary["errors"],
            }
        )
    )


def run_big(run: Path, photo: Path, method: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bigmap-") as tmp:
        proc = subprocess.run(
            [sys.executable, __file__, "--big-child", str(run), str(photo), tmp, "--method", method],
            capture_output=True,
            text=True,
            check=False,
            env=dict(os.environ, CRACKSCOPE_NO_TCMALLOC="1"),
        )
    if proc.returncode != 0:
        raise RuntimeError(f"big-photo child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt_row(name: str, r: dict) -> str:
    e, t, ce, ct = r["exact"], r["tol"], r["curve_exact"], r["curve_tol"]
    return (
        f"| {name} | {e['precision']:.3f} | {e['recall']:.3f} | **{e['f1']:.3f}** | {e['iou']:.3f} | "
        f"{t['f1']:.3f} | {t['iou']:.3f} | {ce['ods']['f1']:.3f} | {ce['ois']['f1']:.3f} | "
        f"{ct['ods']['f1']:.3f} | {ct['ois']['f1']:.3f} | {r['median_sec'] * 1000:.0f} |"
    )


#: refinement settings fixed by reasoning, never compared against any mask (the mask-free variant): the
#: dark-line filter's own defaults, a generous region, Otsu inside it with hysteresis, and line-shaped objects
PRIOR_OPTIONS = {
    "radii": [3, 6, 12],
    "blur": 1.5,
    "contrast": 40.0,
    "region_level": 0.2,
    "region_dilation": 8,
    "min_response": 0.2,
    "mask_threshold": None,
    "closing": 0,
    "min_size": 30,
    "hysteresis": 0.5,
    "max_fill": 0.3,
    "min_length": 0,
    "region_floor": 0.0,
    "pixel_threshold": 0.5,
}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, default=DEFAULT_RUN)
    ap.add_argument("--wait-min", type=float, default=0)
    ap.add_argument("--train-if-missing", action="store_true")
    ap.add_argument("--tune", action="store_true", help="coordinate search of the v1 refinement (training masks)")
    ap.add_argument("--tune-photos", type=int, default=40)
    ap.add_argument(
        "--options",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "maps_refine_tuned.json",
        help="v1 refinement settings (chosen on training photos' masks by --tune)",
    )
    ap.add_argument("--options-v2", type=Path, help="v2 refinement settings JSON (hysteresis, shape filter)")
    ap.add_argument(
        "--options-selftrained",
        type=Path,
        help="settings for the self-trained model's masks (region, threshold, cleanup; default: --options-v2)",
    )
    ap.add_argument("--pixel-model", type=Path, help="self-trained pixel model (pseudo-labels from --options-v2)")
    ap.add_argument(
        "--pixel-model-prior",
        type=Path,
        help="self-trained pixel model (pseudo-labels from the mask-free prior settings)",
    )
    ap.add_argument(
        "--selftrain-seconds",
        type=float,
        default=0,
        help="train the pixel models that are missing, this many CPU seconds each",
    )
    ap.add_argument("--cam-cache", type=Path, help="cache folder for CAMs (default RUN/cams-METHOD)")
    ap.add_argument("--method", default="gradcam++")
    ap.add_argument("--big", action="store_true")
    ap.add_argument("--reuse-big", type=Path, help="take the 4032x3024 result from an earlier maps_raw.json")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "maps.md")
    ap.add_argument("--limit", type=int, default=0, help="smoke test: only the first N held-out photos")
    ap.add_argument("--big-child", nargs=3, metavar=("RUN", "PHOTO", "OUT"))
    args = ap.parse_args()
    if args.big_child:
        big_child(*args.big_child, method=args.method)
        return

    from crackscope.evaluation.map_scores import plot_pr_curve
    from crackscope.maps.classifier import ClassifierMapper
    from crackscope.maps.pixel_model import load_pixel_model
    from crackscope.maps.recipe import MapRecipe
    from crackscope.maps.refine import RefineOptions
    from crackscope.training.run import load_run

    t_start = time.time()
    context = run_context()  # date, commit, machine, load at the start
    train_photos, held_out = split_photos()
    split_note = "first 240 / last 60 of the sorted photo names"
    if HELDOUT_LIST.is_file():
        listed = {Path(line.strip()).stem for line in HELDOUT_LIST.read_text().splitlines() if line.strip()}
        same = listed == {p.stem for p in held_out}
        split_note += f"; matches {HELDOUT_LIST.relative_to(ROOT)}: {same}"
        if not same:
            raise SystemExit(f"{HELDOUT_LIST} does not list the last 60 photos; refusing to mix splits")
    if not wait_for_run(args.run, args.wait_min):
        if not args.train_if_missing:
            raise SystemExit(f"no finished run in {args.run}")
        print("training crackfast on the 240 training photos ...", flush=True)
        train_run(args.run, train_photos)
    run = load_run(args.run)
    mapper = ClassifierMapper(run, MapRecipe(method=args.method))
    cache = args.cam_cache or (args.run / f"cams-{args.method}")
    print(f"run {args.run}: {run.name}, input {run.image_size}, tile {mapper.tile}, threshold {run.threshold:.3f}")
    # training photos: 40 "tune" photos (masks may choose settings) and the rest (self-training, images only)
    tune_photos = train_photos[:: max(1, len(train_photos) // args.tune_photos)][: args.tune_photos]
    self_photos = [p for p in train_photos if p not in set(tune_photos)]

    options = load_options(args.options) if args.options and args.options.is_file() else RefineOptions()
    tune_log: list[dict] = []
    if args.tune:
        tpairs = load_pairs(tune_photos)
        tcams, _ = cam_pass(mapper, tpairs, cache)
        options, tune_log = tune(tpairs, tcams, mapper)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        (args.out.parent / "maps_refine_tuned.json").write_text(json.dumps(options.as_dict(), indent=2) + "\n")
    options_v2 = load_options(args.options_v2) if args.options_v2 else None
    options_st = load_options(args.options_selftrained) if args.options_selftrained else options_v2
    prior = RefineOptions(**{**PRIOR_OPTIONS, "radii": tuple(PRIOR_OPTIONS["radii"])})

    pixel_models: dict[str, object] = {}
    for key, path, refine in (("prior", args.pixel_model_prior, prior), ("v2", args.pixel_model, options_v2)):
        if path is None or refine is None:
            continue
        if not (path / "pixel_model.safetensors").is_file():
            if args.selftrain_seconds <= 0:
                raise SystemExit(f"no pixel model in {path} (give --selftrain-seconds to train one)")
            spairs = load_pairs(self_photos)
            scams, _ = cam_pass(mapper, spairs, cache)
            print(f"self-training {key} on {len(spairs)} training photos ...", flush=True)
            selftrain(mapper, spairs, scams, refine=refine, out=path, seconds=args.selftrain_seconds)
            del spairs, scams
        pixel_models[key] = load_pixel_model(path)

    if args.limit:
        held_out = held_out[: args.limit]
    base_level = baseline_threshold(load_pairs(tune_photos), options)
    pairs = load_pairs(held_out)
    cams, cam_secs = cam_pass(mapper, pairs, cache)
    methods = {
        "plain": mapper_method(mapper, refine=False),
        "refined": mapper_method(mapper, refine=True, options=options),
    }
    labels = {
        "plain": "plain CAM map + Otsu (the studies' approach)",
        "refined": "refined v1 (CAM region x dark-line response, Otsu; settings from training masks)",
    }
    if options_v2 is not None:
        methods["refined_v2"] = mapper_method(mapper, refine=True, options=options_v2, gate="pixels")
        labels["refined_v2"] = (
            "refined v2 (+ half-max width rule, line-shape filter, no photo zeroing; settings from training masks)"
        )
    methods["refined_prior"] = mapper_method(mapper, refine=True, options=prior, gate="pixels")
    labels["refined_prior"] = "refined, a-priori settings (+ hysteresis, line-shape filter; no mask used)"
    if "v2" in pixel_models:
        methods["selftrained"] = mapper_method(
            mapper, refine=True, options=options_st, gate="pixels", pixel_model=pixel_models["v2"]
        )
        labels["selftrained"] = "self-trained pixel model on refined-v2 pseudo-labels (settings from training masks)"
    if "prior" in pixel_models:
        methods["selftrained_prior"] = mapper_method(
            mapper, refine=True, options=prior, gate="pixels", pixel_model=pixel_models["prior"]
        )
        labels["selftrained_prior"] = "self-trained pixel model on a-priori pseudo-labels, threshold 0.5 (no mask used)"
    methods["baseline"] = baseline_method(options)
    labels["baseline"] = "black-hat + Otsu baseline (no learning)"
    methods["baseline_fixed"] = baseline_method(options, base_level)
    labels["baseline_fixed"] = f"black-hat, fixed level {base_level:.3f} chosen on training masks (no learning)"
    res = evaluate(pairs, cams, methods)
    tiles_per_photo = len(cams[0][1])
    cracked_called = sum(mapper.is_cracked(t) for _, t in cams)
    gt_cracked = sum(bool(gt.any()) for _, _, gt in pairs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot_pr_curve(
        {
            labels[k].split(" (")[0]: {"curve": v["curve_exact"]["curve"], "ods": v["curve_exact"]["ods"]}
            for k, v in res.items()
            if k != "baseline_fixed"
        },
        args.out.parent / "maps_pr.png",
    )
    big = run_big(args.run, held_out[0], args.method) if args.big else None
    if big is None and args.reuse_big:
        big = json.loads(args.reuse_big.read_text())["big"]
        big["reused_from"] = str(args.reuse_big)
    load = os.getloadavg()
    context["load_1min_after"] = round(load[0], 2)
    best_key = max(res, key=lambda k: res[k]["exact"]["f1"])
    pm_notes = []
    for key, pm in pixel_models.items():
        c = pm.config
        pm_notes.append(
            f"`{_rel(Path(pm.source))}` ({key}: {c['steps']} steps in {c['seconds']:.0f} s, crops "
            f"{c['crop']} px, batch {c['batch_size']}, width {c['width']}, {c.get('photos')} photos)"
        )

    lines = [
        "# Crack maps on DeepCrack (held-out photos)",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_maps.py {' '.join(sys.argv[1:])}`  ",
        f"Date: {context['date']}. Commit: {context['commit']}. Machine (arch, cores, Python): "
        f"{context['machine']}, shared with other jobs (1-min load average {context['load_1min']} at the start; "
        f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}).  ",
        f"Data: `{DATA}`, split by photo ({split_note}); {len(held_out)} held-out photos "
        f"({gt_cracked} with cracks in the GT), 544x384. Training photos: {len(tune_photos)} 'tune' photos (every "
        f"{max(1, len(train_photos) // args.tune_photos)}th; the only masks any setting was chosen on) and "
        f"{len(self_photos)} self-training photos (images only).  ",
        f"Classifier: `{_rel(args.run)}` "
        f"({run.name}, input {run.image_size} px, trained on patch labels of the 240 training photos; "
        "no mask was ever a training target). "
        f"Maps: {args.method}, tile {mapper.tile} px, overlap {mapper.recipe.overlap}, "
        f"{tiles_per_photo} tiles per photo; "
        f"{cracked_called} of {len(held_out)} photos called cracked (some tile >= threshold {run.threshold:.3f}).",
        "",
        f"Pixels pooled over the held-out set; tolerance {TOL} px as in crack-detection papers "
        "(definitions in `crackscope/evaluation/map_scores.py`). ODS/OIS from the soft maps "
        "(plain: blended CAM; refined: dark-line response x dilated CAM; self-trained: pixel probability inside "
        "the region; baseline: black-hat response).",
        "",
        "| method | P | R | F1 exact | IoU exact | F1 2px | IoU 2px | ODS | OIS | ODS 2px | OIS 2px "
        "| ms/photo (after CAM) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *[_fmt_row(labels[k], res[k]) for k in res],
        "",
        "ODS/OIS pick thresholds with the held-out masks (an upper bound for any fixed threshold); the mask "
        "columns use only settings chosen on training photos (or none).  ",
        f"Best exact F1: {labels[best_key]} {res[best_key]['exact']['f1']:.3f}; "
        f"vs plain {res[best_key]['exact']['f1'] / max(res['plain']['exact']['f1'], 1e-9):.2f}x, "
        f"vs black-hat + Otsu {res[best_key]['exact']['f1'] / max(res['baseline']['exact']['f1'], 1e-9):.2f}x, "
        f"vs fixed-level black-hat "
        f"{res[best_key]['exact']['f1'] / max(res['baseline_fixed']['exact']['f1'], 1e-9):.2f}x.  ",
        (
            f"CAM pass (tiling + {args.method} on every tile): median {statistics.median(cam_secs):.2f} s per photo."
            if cam_secs
            else f"CAM pass: read from the cache `{_rel(cache)}` (computed by an earlier run of this "
            "script, same code)."
        ),
        "  ",
        "Goal: exact F1 >= 0.70 on the held-out photos: "
        + (
            "**met**."
            if res[best_key]["exact"]["f1"] >= 0.70
            else f"**not met** (best exact F1 {res[best_key]['exact']['f1']:.3f})."
        ),
        "",
        "Settings: v1 `"
        + json.dumps(options.as_dict())
        + "`"
        + (
            f" (tuned here on {args.tune_photos} training photos, coordinate search of {len(tune_log)} settings, "
            f"training-photo exact F1 {max(x['f1'] for x in tune_log):.3f})"
            if tune_log
            else f" (read from `{_rel(args.options)}`)"
        )
        + ".  ",
        ("v2 `" + json.dumps(options_v2.as_dict()) + f"` (read from `{_rel(args.options_v2)}`).  ")
        if options_v2
        else "",
        (
            "self-trained masks `"
            + json.dumps(options_st.as_dict())
            + f"` (read from `{_rel(args.options_selftrained)}`).  "
        )
        if args.options_selftrained and options_st
        else "",
        "a-priori `" + json.dumps(prior.as_dict()) + "` (fixed in the script, never compared with a mask).  ",
        ("Pixel models: " + "; ".join(pm_notes) + ".") if pm_notes else "",
        "",
        "PR curves (exact): `benchmarks/results/maps_pr.png`.",
    ]
    if big:
        lines += [
            "",
            "## A 4032x3024 photo",
            "",
            f"`map_images` on one DeepCrack photo upscaled to 4032x3024 (bicubic), {big['tiles']} tiles, "
            f"refined, all outputs written: **{big['seconds']:.1f} s**, peak RSS of the process "
            f"**{big['maxrss_mb']:.0f} MB** (`ru_maxrss`; {big['maxrss_loaded_mb']:.0f} MB after loading "
            "Python, torch and the model, before mapping). One run (a single measurement, not a median)"
            + (
                f"; measured by an earlier run of this script with `--big` ({big['reused_from']}), same code "
                "path and settings."
                if big.get("reused_from")
                else "."
            ),
        ]
    lines += ["", f"Total benchmark time {time.time() - t_start:.0f} s."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    kept = ""  # hand-written notes after the marker (what was tuned on what, later sessions) survive a re-run
    if args.out.is_file() and KEEP_MARKER in (old := args.out.read_text()):
        kept = "\n" + old[old.index(KEEP_MARKER) :]
    args.out.write_text("\n".join(lines) + "\n" + kept)
    (args.out.parent / "maps_raw.json").write_text(
        json.dumps(
            {
                k: {kk: vv for kk, vv in v.items() if not kk.startswith("curve")}
                | {
                    "label": labels[k],
                    "ods": v["curve_exact"]["ods"],
                    "ois": {kk: vv for kk, vv in v["curve_exact"]["ois"].items() if kk != "thresholds"},
                    "ods_tol": v["curve_tol"]["ods"],
                }
                for k, v in res.items()
            }
            | {"big": big, "cam_secs": cam_secs, "context": context},
            indent=1,
            default=float,
        )
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
