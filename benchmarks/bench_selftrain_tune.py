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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_maps as bm  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
OPT_V2 = RESULTS / "maps_refine_v2.json"
OPT_V1 = RESULTS / "maps_refine_tuned.json"
OPT_ST = RESULTS / "maps_selftrain_options.json"


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
    from crackscope.maps.mapper import ClassifierMapper
    from crackscope.training.run import load_run

    mapper = ClassifierMapper(load_run(args.run), method="gradcam++")
    train_photos, held_out = bm.split_photos()
    photos = train_photos + held_out  # the CAM pass reads images only, never masks
    t = time.perf_counter()
    for i in range(0, len(photos), 50):
        bm.cam_pass(mapper, [(p.stem, _read(p), None) for p in photos[i : i + 50]], args.run / "cams-gradcam++")
    print(f"CAMs of {len(photos)} photos in {time.perf_counter() - t:.0f} s (tile {mapper.tile})")


def _read(path: Path) -> np.ndarray:
    from crackscope.io import read_image

    return read_image(path)


def _self_images(run: Path):
    _, self_photos = photo_sets()
    pairs = [(p.stem, _read(p), None) for p in self_photos]  # images only: no mask is read
    return pairs, cached_cams(run, pairs)


def cmd_train(args) -> None:
    import torch

    from crackscope.maps.selftrain import PseudoLabelOptions, pseudo_labels, train_pixel_model

    torch.set_num_threads(2)
    pairs, cams = _self_images(args.run)
    if args.labels:
        z = np.load(args.labels)
        labels = [z[stem] for stem, _, _ in pairs]
        source = str(args.labels)
    else:
        refine = bm.load_options(OPT_V2)
        popts = PseudoLabelOptions(negative_below=args.negative_below)
        labels = [pseudo_labels(img, cam, refine=refine, options=popts) for (_, img, _), cam in zip(pairs, cams)]
        source = f"refined v2, {popts.as_dict()}"
    model = train_pixel_model(
        [img for _, img, _ in pairs], labels, out=args.out, steps=10**9, seconds=args.seconds, crop=96,
        batch_size=12, width=args.width, lr=3e-3, seed=0, log=print,
        extra_config={"photos": len(pairs), "labels": source, "run": str(args.run)},
    )
    print(f"trained {model.config['steps']} steps in {model.config['seconds']} s -> {args.out}")


def cmd_labels2(args) -> None:
    import cv2
    import torch

    from crackscope.maps.refine import support_region
    from crackscope.maps.selftrain import IGNORE, load_pixel_model, refine_with_pixel_model

    torch.set_num_threads(2)
    model = load_pixel_model(args.model)
    opts = bm.load_options(OPT_ST)
    pairs, cams = _self_images(args.run)
    ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    labels, positive = {}, []
    for (stem, img, _), cam in zip(pairs, cams):
        prob = model.predict(img)
        _, mask = refine_with_pixel_model(img, cam, model, options=opts, probability=prob)
        region = support_region(cam, level=opts.region_level, dilation=opts.region_dilation + 8, floor=opts.region_floor)
        lab = np.full(mask.shape, IGNORE, np.uint8)
        lab[(~region) | (prob < args.negative_below)] = 0
        lab[cv2.dilate(mask.astype(np.uint8), ring).astype(bool) & ~mask] = IGNORE
        lab[mask] = 1
        labels[stem] = lab
        positive.append(mask.mean())
    np.savez_compressed(args.out, **labels)
    print(f"round-2 labels of {len(labels)} photos -> {args.out}; mean positive fraction {np.mean(positive):.4f}")


def _score(pairs, cams, probs, opts) -> dict:
    from crackscope.evaluation.scoring import ods_ois, score_masks
    from crackscope.maps.selftrain import refine_with_pixel_model

    masks, softs = [], []
    for (_, img, _), cam, prob in zip(pairs, cams, probs):
        soft, mask = refine_with_pixel_model(img, cam, None, options=opts, probability=prob)
        masks.append(mask)
        softs.append(soft)
    gts = [gt for _, _, gt in pairs]
    exact, tol = score_masks(masks, gts), score_masks(masks, gts, tol=2)
    return {"f1": round(exact["f1"], 4), "precision": round(exact["precision"], 4), "recall": round(exact["recall"], 4),
            "f1_2px": round(tol["f1"], 4), "ods": round(ods_ois(softs, gts)["ods"]["f1"], 4)}


def _record(res: dict, path: Path | None) -> None:
    """Print one result and, with ``--json``, append it as a line to that file."""
    print(json.dumps(res))
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(res) + "\n")


def cmd_eval(args) -> None:
    import torch

    from crackscope.maps.selftrain import load_pixel_model

    torch.set_num_threads(2)
    models = [load_pixel_model(p) for p in args.models.split(",")]
    tune, _ = photo_sets()
    photos = bm.split_photos()[1] if args.held_out else tune
    pairs = bm.load_pairs(photos)  # tune photos: their masks may choose settings; held-out: scoring only
    cams = cached_cams(args.run, pairs)
    probs = [np.mean([m.predict(img) for m in models], axis=0).astype(np.float32) for _, img, _ in pairs]
    which = "HELD-OUT photos" if args.held_out else "tune photos"
    res = {"models": args.models, "run": str(args.run), "photos": f"{len(pairs)} {which}",
           "steps": [m.config.get("steps") for m in models], "seconds": [m.config.get("seconds") for m in models],
           "self-trained mask settings": _score(pairs, cams, probs, bm.load_options(OPT_ST)),
           "v2 mask settings": _score(pairs, cams, probs, bm.load_options(OPT_V2))}
    _record(res, args.json)


def cmd_checks(args) -> None:
    """Tune photos: test-time flips/turns, the half-max rule's response blur and radius, the map region, and
    where the errors are (missed cracks far from any prediction vs width errors near the cracks)."""
    import itertools

    import cv2
    import torch
    from scipy import ndimage

    from crackscope.maps.postprocess import remove_small
    from crackscope.maps.refine import dark_line_response, keep_elongated, support_region
    from crackscope.maps.selftrain import load_pixel_model

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
    regions = [support_region(c, level=opts.region_level, dilation=opts.region_dilation, floor=opts.region_floor)
               for c in cams]

    def width_f1(blur: float, frac: float, radius: int) -> float:
        from crackscope.evaluation.scoring import score_masks

        masks = []
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
        for (_, img, _), prob, region in zip(pairs, probs, regions):
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
        {"region_level": lvl, "region_dilation": dil, "pixel_threshold": thr,
         "f1": _score(pairs, cams, probs, opts.with_(region_level=lvl, region_dilation=dil, pixel_threshold=thr))["f1"]}
        for lvl, dil, thr in itertools.product([0.05, 0.15], [8, 16, 32, 64], [0.4, 0.5])
    ]
    res["no_region"] = _score(pairs, cams, probs, opts.with_(region_level=0.0, region_dilation=0, region_floor=0.0))
    from crackscope.maps.selftrain import refine_with_pixel_model

    err = dict.fromkeys(("tp", "fp_near", "fp_far", "fn_near", "fn_far", "fn_far_outside_region",
                         "fn_far_inside_region_low_probability"), 0)
    for (_, img, gt), cam, prob, region in zip(pairs, cams, probs, regions):
        _, m = refine_with_pixel_model(img, cam, None, options=opts, probability=prob)
        gt = gt.astype(bool)
        d_gt, d_pred = ndimage.distance_transform_edt(~gt), ndimage.distance_transform_edt(~m)
        fp, fn = m & ~gt, gt & ~m
        far_miss = fn & (d_pred > 2)
        for key, val in (("tp", m & gt), ("fp_near", fp & (d_gt <= 2)), ("fp_far", fp & (d_gt > 2)),
                         ("fn_near", fn & (d_pred <= 2)), ("fn_far", far_miss),
                         ("fn_far_outside_region", far_miss & ~region),
                         ("fn_far_inside_region_low_probability", far_miss & region & (prob < opts.pixel_threshold))):
            err[key] += int(val.sum())
    res["errors_px"] = err
    _record(res, args.json)


def cmd_refine(args) -> None:
    from crackscope.evaluation.scoring import score_masks
    from crackscope.maps.refine import refine_map

    tune, _ = photo_sets()
    pairs = bm.load_pairs(tune)
    cams = cached_cams(args.run, pairs)
    res = {"run": str(args.run), "photos": f"{len(pairs)} tune photos"}
    for name, path in (("v1", OPT_V1), ("v2", OPT_V2)):
        opts = bm.load_options(path)
        masks = [refine_map(img, cam, options=opts)[1] for (_, img, _), cam in zip(pairs, cams)]
        e = score_masks(masks, [gt for _, _, gt in pairs])
        res[name] = {"f1": round(e["f1"], 4), "precision": round(e["precision"], 4), "recall": round(e["recall"], 4)}
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
    p = sub.add_parser("labels2")
    p.add_argument("model", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--negative-below", type=float, default=0.3)
    p = sub.add_parser("eval")
    p.add_argument("models")
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--json", type=Path)
    p.add_argument("--held-out", action="store_true", help="score on the 60 held-out photos (the chosen variant only)")
    p = sub.add_parser("checks")
    p.add_argument("model", type=Path)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--json", type=Path)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("refine")
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--json", type=Path)
    args = ap.parse_args()
    commands = {"cams": cmd_cams, "train": cmd_train, "labels2": cmd_labels2, "eval": cmd_eval, "refine": cmd_refine,
                "checks": cmd_checks}
    commands[args.cmd](args)


if __name__ == "__main__":
    main()
