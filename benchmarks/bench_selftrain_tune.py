"""Self-training variants for the crack-map benchmark, compared on the 40 'tune' TRAINING photos only.

The crack-map goal (exact F1 >= 0.70 on the 60 held-out DeepCrack photos) is scored by `bench_maps.py`; this
script tries variants of the self-trained pixel model and scores them on the tune photos (every 6th of the
first 240 sorted photos, the only masks any setting may be chosen on), so that a variant is carried to the
held-out photos only if it wins here. The held-out masks are never read.

    .venv/bin/python benchmarks/bench_selftrain_tune.py train OUT --run RUN --seconds 300 [--labels NPZ]
    .venv/bin/python benchmarks/bench_selftrain_tune.py labels2 MODEL OUT.npz --run RUN   # round-2 labels
    .venv/bin/python benchmarks/bench_selftrain_tune.py cams --run RUN                   # CAM cache, 300 photos
    .venv/bin/python benchmarks/bench_selftrain_tune.py eval MODEL[,MODEL...] --run RUN [--json OUT]
    .venv/bin/python benchmarks/bench_selftrain_tune.py refine --run RUN                 # no pixel model
    .venv/bin/python benchmarks/bench_selftrain_tune.py eval MODEL --run RUN --held-out   # the chosen one only
    .venv/bin/python benchmarks/bench_selftrain_tune.py checks MODEL --run RUN           # TTA, width, region, errors
    .venv/bin/python benchmarks/bench_selftrain_tune.py widths                           # crack width per series
    .venv/bin/python benchmarks/bench_selftrain_tune.py refine-grid --run RUN --write OPTS.json  # texture-relative
    .venv/bin/python benchmarks/bench_selftrain_tune.py mask-grid MODEL[,MODEL] --run RUN --write MASK.json

Third session: the held-out photos are all DeepCrack "IMG" photos (a fact of their file names), and
the training photos of that series have thin, faint cracks that the tune photos (mostly other series) hardly
contain. `refine-grid` and `mask-grid` therefore score on two sets of *training* photos, the tune photos and the
17 "thin" ones (self-training photos of the IMG series, :func:`thin_photos`), and choose by the mean of the two
sets' exact F1. `train --refine-options OPTS --outside-lines-unlabelled` makes pseudo-labels with the
texture-relative dark-line response and leaves line-like pixels outside the map's region unlabelled;
`labels2 --mask-options` makes round-2 labels with other mask settings; `--photos all` adds the tune and
held-out photos' *images* to self-training (transductive: what `crackscope selftrain` on the photos to be mapped
does; no mask is read).

`train` makes pseudo-labels of the 200 self-training photos from the run's cached CAMs with the refined-v2
settings (or reads round-2 labels from ``--labels``) and trains the pixel model exactly as `bench_maps.py
--selftrain-seconds` does (96 px crops, batch 12, width 12, lr 3e-3, seed 0, for ``--seconds``). `labels2`
makes round-2 labels from a trained model's masks (positives: its masks with the self-trained mask settings;
background: probability below 0.3 or outside the dilated map region; a 1 px ring left unlabelled). `eval`
scores masks (self-trained mask settings and v2 settings) pooled over the tune photos; several models are
averaged (an ensemble). ``eval --held-out`` scores on the 60 held-out photos instead, with the same code path
as `bench_maps.py`'s self-trained row (``gate="pixels"``: the mask is the pixel model's inside the map's
region): run it only for the variant the tune photos chose, and for the model `bench_maps.py` already reported
(a check that both scripts agree).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_maps as bm  # noqa: E402
from context import load_1min, run_context  # noqa: E402  (benchmarks/context.py)

RESULTS = ROOT / "benchmarks" / "results"
OPT_V2 = RESULTS / "maps_refine_v2.json"
OPT_V1 = RESULTS / "maps_refine_tuned.json"
OPT_ST = RESULTS / "maps_selftrain_options.json"
#: when and where this run started (date, commit, machine, load), read by :func:`main`; recorded with each result
CONTEXT: dict[str, object] = {}


def photo_sets() -> tuple[list[Path], list[Path]]:
    """(tune photos, self-training photos): the split `bench_maps.py` uses."""
    train_photos, _ = bm.split_photos()
    tune = train_photos[:: len(train_photos) // 40][:40]
    chosen = set(tune)
    return tune, [p for p in train_photos if p not in chosen]


def cached_cams(run: Path, pairs) -> list[np.ndarray]:
    cache = run / "cams-gradcam++"
    out = []
    for stem, _, _ in pairs:
        f = cache / f"{stem}.npz"
        if not f.is_file():
            raise SystemExit(f"no cached CAM {f}: run the `cams` command first")
        out.append(np.load(f)["cam"].astype(np.float32))
    return out


def cmd_cams(args) -> None:
    from crackscope.maps.classifier import ClassifierMapper
    from crackscope.maps.recipe import MapRecipe
    from crackscope.training.run import load_run

    mapper = ClassifierMapper(load_run(args.run), MapRecipe(method="gradcam++"))
    train_photos, held_out = bm.split_photos()
    photos = train_photos + held_out  # the CAM pass reads images only, never masks
    t = time.perf_counter()
    for i in range(0, len(photos), 50):
        bm.cam_pass(mapper, [(p.stem, _read(p), None) for p in photos[i : i + 50]], args.run / "cams-gradcam++")
    print(f"CAMs of {len(photos)} photos in {time.perf_counter() - t:.0f} s (tile {mapper.tile})")


def _read(path: Path) -> np.ndarray:
    from crackscope.io import read_image

    return read_image(path)


def _self_images(run: Path, photos: str = "self"):
    """Self-training photos, images only (no mask is read). ``photos="all"``: also the tune and the held-out
    photos' images (transductive self-training: what a user does with `crackscope selftrain` on the very photos
    they then map)."""
    tune, self_photos = photo_sets()
    chosen = self_photos + (tune + bm.split_photos()[1] if photos == "all" else [])
    pairs = [(p.stem, _read(p), None) for p in chosen]
    return pairs, cached_cams(run, pairs)


def cmd_train(args) -> None:
    import torch

    from crackscope.maps.selftrain import PseudoLabelOptions, SelfTrainOptions, pseudo_labels, train_pixel_model

    torch.set_num_threads(2)
    pairs, cams = _self_images(args.run, args.photos)
    if args.labels:
        z = np.load(args.labels)
        labels = [z[stem] for stem, _, _ in pairs]
        source = str(args.labels)
    else:
        refine = bm.load_options(args.refine_options)
        popts = PseudoLabelOptions(
            negative_below=args.negative_below,
            outside_lines_unlabelled=args.outside_lines_unlabelled,
            blobs_background=args.blobs_background,
        )
        labels = [
            pseudo_labels(img, cam, refine=refine, options=popts) for (_, img, _), cam in zip(pairs, cams, strict=False)
        ]
        source = f"refined {args.refine_options.name}, {popts.as_dict()}"
    model = train_pixel_model(
        [img for _, img, _ in pairs],
        labels,
        out=args.out,
        options=SelfTrainOptions(
            seconds=args.seconds, crop=96, batch_size=12, width=args.width, lr=3e-3, seed=args.seed
        ),
        extra_config={"photos": len(pairs), "photo_set": args.photos, "labels": source, "run": str(args.run)},
    )
    print(f"trained {model.config['steps']} steps in {model.config['seconds']} s -> {args.out}")


def cmd_labels2(args) -> None:
    import torch

    from crackscope.maps.pixel_model import load_pixel_model
    from crackscope.maps.selftrain import teacher_labels

    torch.set_num_threads(2)
    model = load_pixel_model(args.model)
    opts = bm.load_options(args.mask_options)
    pairs, cams = _self_images(args.run, args.photos)
    labels, positive = {}, []
    for (stem, img, _), cam in zip(pairs, cams, strict=False):
        prob = model.predict(img)
        labels[stem] = teacher_labels(
            img, cam, model, options=opts, negative_below=args.negative_below, probability=prob
        )
        positive.append((labels[stem] == 1).mean())
    np.savez_compressed(args.out, **labels)
    print(f"round-2 labels of {len(labels)} photos -> {args.out}; mean positive fraction {np.mean(positive):.4f}")


def _score(pairs, cams, probs, opts) -> dict:
    from crackscope.evaluation.map_scores import ods_ois, score_masks
    from crackscope.maps.pixel_model import refine_with_pixel_model

    masks, softs = [], []
    for (_, img, _), cam, prob in zip(pairs, cams, probs, strict=False):
        soft, mask = refine_with_pixel_model(img, cam, None, options=opts, probability=prob)
        masks.append(mask)
        softs.append(soft)
    gts = [gt for _, _, gt in pairs]
    exact, tol = score_masks(masks, gts), score_masks(masks, gts, tol=2)
    return {
        "f1": round(exact["f1"], 4),
        "precision": round(exact["precision"], 4),
        "recall": round(exact["recall"], 4),
        "f1_2px": round(tol["f1"], 4),
        "ods": round(ods_ois(softs, gts)["ods"]["f1"], 4),
    }


def _record(res: dict, path: Path | None) -> None:
    """Print one result and, with ``--json``, append it as a line to that file, with the run's context (date,
    commit, machine, load at the start and now)."""
    res = {**res, "context": {**CONTEXT, "load_1min_after": load_1min()}}
    print(json.dumps(res))
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(res) + "\n")


def no_region(opts):
    """The same mask settings without the class map's region (the pixel model alone decides)."""
    return opts.with_(region_level=0.0, region_dilation=0, region_floor=0.0)


def scored_set(photos: list[Path], run: Path, model) -> tuple[list, list[np.ndarray], list[np.ndarray]]:
    """(pairs with masks, cached CAMs, the model's probabilities) of photos whose masks may be read."""
    pairs = bm.load_pairs(photos)
    return pairs, cached_cams(run, pairs), [model.predict(img) for _, img, _ in pairs]


def cmd_eval(args) -> None:
    import torch

    from crackscope.maps.pixel_model import PixelEnsemble, load_pixel_model

    torch.set_num_threads(2)
    models = [load_pixel_model(p) for p in args.models.split(",")]
    model = PixelEnsemble(models)  # several: their mean probability
    tune, _ = photo_sets()
    photos = bm.split_photos()[1] if args.held_out else tune
    # tune photos: their masks may choose settings; held-out: scoring only
    pairs, cams, probs = scored_set(photos, args.run, model)
    which = "HELD-OUT photos" if args.held_out else "tune photos"
    res = {
        "models": args.models,
        "run": str(args.run),
        "photos": f"{len(pairs)} {which}",
        "steps": [m.config.get("steps") for m in models],
        "seconds": [m.config.get("seconds") for m in models],
        "self-trained mask settings": _score(pairs, cams, probs, bm.load_options(OPT_ST)),
        **(
            {f"mask settings {args.mask_options.name}": _score(pairs, cams, probs, bm.load_options(args.mask_options))}
            if args.mask_options
            else {}
        ),
        "v2 mask settings": _score(pairs, cams, probs, bm.load_options(OPT_V2)),
    }
    free = no_region(bm.load_options(OPT_ST))
    res["self-trained mask settings, no map region"] = _score(pairs, cams, probs, free)
    if not args.held_out:
        thin = scored_set([p for p in thin_photos() if p not in tune], args.run, model)
        key = "thin photos (self-training photos of the IMG series)"
        res[key] = _score(*thin, bm.load_options(OPT_ST))
        res[key + ", no map region"] = _score(*thin, free)
        if args.mask_options:
            res[f"{key}, mask settings {args.mask_options.name}"] = _score(*thin, bm.load_options(args.mask_options))
    _record(res, args.json)


def cmd_checks(args) -> None:
    """Tune photos: test-time flips/turns, the half-max rule's response blur and radius, the map region, and
    where the errors are (missed cracks far from any prediction vs width errors near the cracks)."""
    import itertools

    import cv2
    import torch
    from scipy import ndimage

    from crackscope.maps.pixel_model import load_pixel_model
    from crackscope.maps.postprocess import remove_small
    from crackscope.maps.refine import dark_line_response, keep_elongated, support_region

    torch.set_num_threads(args.threads)
    model = load_pixel_model(args.model)
    opts = bm.load_options(OPT_ST)
    tune, _ = photo_sets()
    pairs = bm.load_pairs(tune)
    cams = cached_cams(args.run, pairs)
    probs = [model.predict(img) for _, img, _ in pairs]
    res: dict = {"model": str(args.model), "run": str(args.run), "photos": f"{len(pairs)} tune photos"}
    res["plain"] = _score(pairs, cams, probs, opts)

    def views(img: np.ndarray) -> np.ndarray:
        acc = np.zeros(img.shape[:2], np.float64)
        for k in range(4):
            for flip in (False, True):
                x = np.rot90(img, k)
                x = x[:, ::-1] if flip else x
                p = model.predict(np.ascontiguousarray(x))
                acc += np.rot90(p[:, ::-1] if flip else p, -k)
        return (acc / 8).astype(np.float32)

    res["tta_8_views"] = _score(pairs, cams, [views(img) for _, img, _ in pairs], opts)
    regions = [
        support_region(c, level=opts.region_level, dilation=opts.region_dilation, floor=opts.region_floor) for c in cams
    ]

    def width_f1(blur: float, frac: float, radius: int) -> float:
        from crackscope.evaluation.map_scores import score_masks

        masks = []
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
        for (_, img, _), prob, region in zip(pairs, probs, regions, strict=False):
            r = dark_line_response(img, radii=opts.radii, blur=blur, contrast=opts.contrast)
            m = (prob * region >= opts.pixel_threshold) & (r >= frac * cv2.dilate(r, kernel))
            m = keep_elongated(remove_small(m, min_size=opts.min_size), max_fill=opts.max_fill, min_length=0)
            masks.append(m)
        return round(score_masks(masks, [gt for _, _, gt in pairs])["f1"], 4)

    res["half_max_grid"] = [
        {"blur": b, "half_max": f, "radius": r, "f1": width_f1(b, f, r)}
        for b, f, r in itertools.product([0.0, 1.0, 1.5, 2.0], [0.4, 0.5, 0.6], [3, 5])
    ]
    res["region_grid"] = [
        {
            "region_level": lvl,
            "region_dilation": dil,
            "pixel_threshold": thr,
            "f1": _score(pairs, cams, probs, opts.with_(region_level=lvl, region_dilation=dil, pixel_threshold=thr))[
                "f1"
            ],
        }
        for lvl, dil, thr in itertools.product([0.05, 0.15], [8, 16, 32, 64], [0.4, 0.5])
    ]
    res["no_region"] = _score(pairs, cams, probs, no_region(opts))
    from crackscope.maps.pixel_model import refine_with_pixel_model

    err = dict.fromkeys(
        (
            "tp",
            "fp_near",
            "fp_far",
            "fn_near",
            "fn_far",
            "fn_far_outside_region",
            "fn_far_inside_region_low_probability",
        ),
        0,
    )
    for (_, img, gt), cam, prob, region in zip(pairs, cams, probs, regions, strict=False):
        _, m = refine_with_pixel_model(img, cam, None, options=opts, probability=prob)
        gt = gt.astype(bool)
        d_gt, d_pred = ndimage.distance_transform_edt(~gt), ndimage.distance_transform_edt(~m)
        fp, fn = m & ~gt, gt & ~m
        far_miss = fn & (d_pred > 2)
        for key, val in (
            ("tp", m & gt),
            ("fp_near", fp & (d_gt <= 2)),
            ("fp_far", fp & (d_gt > 2)),
            ("fn_near", fn & (d_pred <= 2)),
            ("fn_far", far_miss),
            ("fn_far_outside_region", far_miss & ~region),
            ("fn_far_inside_region_low_probability", far_miss & region & (prob < opts.pixel_threshold)),
        ):
            err[key] += int(val.sum())
    res["errors_px"] = err
    _record(res, args.json)


def cmd_refine(args) -> None:
    from crackscope.evaluation.map_scores import score_masks
    from crackscope.maps.refine import refine_map

    tune, _ = photo_sets()
    pairs = bm.load_pairs(tune)
    cams = cached_cams(args.run, pairs)
    res = {"run": str(args.run), "photos": f"{len(pairs)} tune photos"}
    for name, path in (("v1", OPT_V1), ("v2", OPT_V2)):
        opts = bm.load_options(path)
        masks = [refine_map(img, cam, options=opts)[1] for (_, img, _), cam in zip(pairs, cams, strict=False)]
        e = score_masks(masks, [gt for _, _, gt in pairs])
        res[name] = {"f1": round(e["f1"], 4), "precision": round(e["precision"], 4), "recall": round(e["recall"], 4)}
    _record(res, args.json)


def thin_photos() -> list[Path]:
    """The training photos of the 'IMG' series (tune and self-training alike): thin, faint cracks (median mask
    area / skeleton length 2.4 px, against 4.4-16 px for the other series), like the held-out photos, which are
    nearly all of that series. Their masks may choose settings: they are training photos."""
    tune, self_photos = photo_sets()
    return [p for p in tune + self_photos if "_IMG" in p.stem]


def cmd_widths(args) -> None:
    """Median crack width (mask area / skeleton length, px) per photo series of the 240 TRAINING photos, and how
    many photos of each series are tune, self-training and held-out photos (file names only for the latter)."""
    from collections import defaultdict

    from crackscope.io import read_mask
    from crackscope.maps.postprocess import skeletonize_mask

    tune, self_photos = photo_sets()
    held_out = bm.split_photos()[1]

    def series(p: Path) -> str:
        return "IMG" if "_IMG" in p.stem else p.stem.split("_")[1][:4]

    widths: dict[str, list[float]] = defaultdict(list)
    for photo in tune + self_photos:  # training masks only
        gt = read_mask(bm.mask_of(photo))
        if gt.any():
            widths[series(photo)].append(float(gt.sum() / max(int(skeletonize_mask(gt).sum()), 1)))
    res = {"median width px (training masks)": {k: round(float(np.median(v)), 2) for k, v in sorted(widths.items())}}
    for name, photos in (("tune", tune), ("self-training", self_photos), ("held-out (names only)", held_out)):
        res[f"{name} photos per series"] = dict(sorted(Counter(series(p) for p in photos).items()))
    _record(res, args.json)


def cmd_refine_grid(args) -> None:
    """Refinement only (no pixel model), texture-relative contrast: a small grid scored on the tune photos and
    on the thin-crack training photos; the best by the mean of the two sets' F1 (each set weighs the same: pooled
    pixels would let the wide cracks of the tune photos decide) is written to ``--write``."""
    import itertools

    from crackscope.evaluation.map_scores import score_masks
    from crackscope.maps.refine import refine_map

    tune = photo_sets()[0]
    sets = {"tune": tune, "thin": [p for p in thin_photos() if p not in tune]}
    data = {k: (pairs := bm.load_pairs(v), cached_cams(args.run, pairs)) for k, v in sets.items()}
    base = bm.load_options(OPT_V2)

    def run(opts) -> dict:
        out, pooled = {}, []
        for name, (pairs, cams) in data.items():
            masks = [refine_map(img, cam, options=opts)[1] for (_, img, _), cam in zip(pairs, cams, strict=False)]
            gts = [gt for _, _, gt in pairs]
            e = score_masks(masks, gts)
            out[name] = round(e["f1"], 4)
            pooled += list(zip(masks, gts, strict=False))
        out["pooled"] = round(score_masks([m for m, _ in pooled], [g for _, g in pooled])["f1"], 4)
        out["mean"] = round((out["tune"] + out["thin"]) / 2, 4)
        return out

    res: dict = {"run": str(args.run), "photos": {k: len(v) for k, v in sets.items()}, "v2": run(base)}
    grid = []
    for blur, k, level in itertools.product([1.0, 2.0], [5.0, 10.0, 20.0], [0.2, 0.3, 0.5]):
        opts = base.with_(relative_contrast=True, blur=blur, contrast=k, min_response=level)
        grid.append({"blur": blur, "contrast": k, "min_response": level, **run(opts)})
        print(grid[-1], flush=True)
    res["relative_grid"] = grid
    best = max(grid, key=lambda g: g["mean"])
    res["best"] = best
    if args.write:
        opts = base.with_(
            relative_contrast=True, blur=best["blur"], contrast=best["contrast"], min_response=best["min_response"]
        )
        args.write.write_text(json.dumps(opts.as_dict(), indent=1) + "\n")
    _record(res, args.json)


def cmd_mask_grid(args) -> None:
    """A pixel model's mask settings (map region or none, probability threshold, the half-max width rule's
    response blur, fraction and radius) scored on the tune photos and on the thin-crack training photos; the
    best by the mean of the two sets' exact F1 is written to ``--write``."""
    import itertools

    import torch

    from crackscope.evaluation.map_scores import score_masks
    from crackscope.maps.pixel_model import load_pixel_models, refine_with_pixel_model

    torch.set_num_threads(2)
    model = load_pixel_models(args.model.split(","))  # several: their mean probability
    tune = photo_sets()[0]
    data = {
        name: scored_set(photos, args.run, model)
        for name, photos in (("tune", tune), ("thin", [p for p in thin_photos() if p not in tune]))
    }
    base = bm.load_options(OPT_ST)
    grid, settings = [], []
    blurs, fracs, sizes = (
        ((0.5, 1.0, 2.0), (0.5, 0.6), (120,)) if args.small else ((1.0, 2.0), (0.5, 0.6, 0.7), (30, 120))
    )
    for region, thr, blur, frac, radius, size in itertools.product(
        (True, False), (0.4, 0.5, 0.6), blurs, fracs, (3, 5), sizes
    ):
        opts = base.with_(pixel_threshold=thr, blur=blur, half_max=frac, half_max_radius=radius, min_size=size)
        opts = opts if region else no_region(opts)
        row = {
            "region": region,
            "pixel_threshold": thr,
            "blur": blur,
            "half_max": frac,
            "half_max_radius": radius,
            "min_size": size,
        }
        for name, (pairs, cams, probs) in data.items():
            masks = [
                refine_with_pixel_model(img, cam, None, options=opts, probability=prob)[1]
                for (_, img, _), cam, prob in zip(pairs, cams, probs, strict=False)
            ]
            row[name] = round(score_masks(masks, [gt for _, _, gt in pairs])["f1"], 4)
        row["mean"] = round((row["tune"] + row["thin"]) / 2, 4)
        grid.append(row)
        settings.append(opts)
        print(row, flush=True)
    best_index = max(range(len(grid)), key=lambda i: grid[i]["mean"])
    best = grid[best_index]
    res = {
        "model": args.model,
        "run": str(args.run),
        "base": "maps_selftrain_options.json",
        "reported settings": next(
            g
            for g in grid
            if g["region"]
            and g["pixel_threshold"] == 0.5
            and g["blur"] == base.blur
            and g["half_max"] == base.half_max
            and g["half_max_radius"] == base.half_max_radius
            and g["min_size"] == base.min_size
        ),
        "best": best,
        "grid": grid,
    }
    if args.write:
        args.write.write_text(json.dumps(settings[best_index].as_dict(), indent=1) + "\n")
    _record(res, args.json)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("cams")
    p.add_argument("--run", type=Path, required=True)
    p = sub.add_parser("train")
    p.add_argument("out", type=Path)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--seconds", type=float, default=300)
    p.add_argument("--labels", type=Path)
    p.add_argument("--negative-below", type=float, default=0.15, help="pseudo-label background below this response")
    p.add_argument("--width", type=int, default=12, help="pixel network width")
    p.add_argument("--seed", type=int, default=0, help="training seed (crops, initial weights)")
    p.add_argument("--refine-options", type=Path, default=OPT_V2, help="refinement settings of the pseudo-labels")
    p.add_argument(
        "--outside-lines-unlabelled",
        action="store_true",
        help="outside the map's region, line-like pixels are unlabelled instead of background",
    )
    p.add_argument(
        "--blobs-background",
        action="store_true",
        help="dark blobs the shape filter rejects are background, also outside the map's region",
    )
    p.add_argument(
        "--photos",
        choices=["self", "all"],
        default="self",
        help="self: the 200 self-training photos; all: also the tune and held-out photos' images (no masks)",
    )
    p = sub.add_parser("labels2")
    p.add_argument("model", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--negative-below", type=float, default=0.3)
    p.add_argument("--photos", choices=["self", "all"], default="self")
    p.add_argument("--mask-options", type=Path, default=OPT_ST, help="mask settings of the round-2 positives")
    p = sub.add_parser("eval")
    p.add_argument("models")
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--json", type=Path)
    p.add_argument("--held-out", action="store_true", help="score on the 60 held-out photos (the chosen variant only)")
    p.add_argument("--mask-options", type=Path, help="also score with these mask settings (from `mask-grid --write`)")
    p = sub.add_parser("checks")
    p.add_argument("model", type=Path)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--json", type=Path)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("widths")
    p.add_argument("--json", type=Path)
    p = sub.add_parser("refine-grid")
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--json", type=Path)
    p.add_argument("--write", type=Path, help="write the best settings here (JSON)")
    p = sub.add_parser("mask-grid")
    p.add_argument("model", help="pixel-model folder, or several separated by commas (an ensemble)")
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--json", type=Path)
    p.add_argument("--write", type=Path, help="write the best mask settings here (JSON)")
    p.add_argument(
        "--small",
        action="store_true",
        help="the first, smaller grid (response blur 0.5/1/2, half-max 0.5/0.6, min size 120)",
    )
    p = sub.add_parser("refine")
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--json", type=Path)
    args = ap.parse_args()
    CONTEXT.update(run_context())
    commands = {
        "cams": cmd_cams,
        "train": cmd_train,
        "labels2": cmd_labels2,
        "eval": cmd_eval,
        "refine": cmd_refine,
        "checks": cmd_checks,
        "refine-grid": cmd_refine_grid,
        "widths": cmd_widths,
        "mask-grid": cmd_mask_grid,
    }
    commands[args.cmd](args)


if __name__ == "__main__":
    main()
