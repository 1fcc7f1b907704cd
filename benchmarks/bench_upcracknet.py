"""UP-CrackNet benchmark: restorers trained on crack-free images only, scored on held-out DeepCrack photos.

    .venv/bin/python benchmarks/bench_upcracknet.py [--minutes 10] [--rows deepcrack-random,deepcrack-off,ozgenel]
        [--paper-timing] [--work bench-out/upcracknet] [--out benchmarks/results/upcracknet.md]

Rows (CPU configuration, each trained for the same wall-clock budget):
- ``deepcrack-random``: crack-free patches cut from the FIRST 240 DeepCrack photos (sorted names), style term
  on a fixed random-init VGG-19 (the substitute used when ImageNet weights are not available);
- ``deepcrack-off``: the same data, style term off (what the substitute costs or buys);
- ``ozgenel``: the uncracked half of Özgenel's 10k set (227 px concrete patches), random-VGG style;
- ``ozgenel-off``: the same data, style term off (comparable with ``deepcrack-off``).
Every row maps the LAST 60 DeepCrack photos (the crack-map benchmark's held-out photos) with
``RestorerMapper`` and scores them with ``crackscope.evaluation.map_scores`` (exact and 2 px tolerance,
F1/IoU of the Otsu masks, ODS/OIS of the soft error maps). No crack label is used to train.
``--normalization-check ROW`` compares BatchNorm modes at inference on an existing row.
``--paper-timing`` times a few training steps of the paper configuration (256 px, ngf 64, batch 8) to
estimate its full training time on this CPU. Each row's numbers are saved as JSON in the work folder, and
the report is rebuilt from whatever rows exist.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from context import load_1min, run_context  # benchmarks/context.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEEPCRACK = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "deepcrack-train"
OZGENEL = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ozgenel-10k"
N_TRAIN = 240
TOL = 2
ROWS = {
    "deepcrack-random": ("deepcrack", "random"),
    "deepcrack-off": ("deepcrack", "off"),
    "ozgenel": ("ozgenel", "random"),
    "ozgenel-off": ("ozgenel", "off"),
}


def split_photos() -> tuple[list[Path], list[Path]]:
    photos = sorted((DEEPCRACK / "images").glob("*.jpg"))
    return photos[:N_TRAIN], photos[N_TRAIN:]


def train_set(work: Path) -> Path:
    """A folder of symlinks to the first 240 DeepCrack photos and their masks (nothing copied)."""
    root = work / "deepcrack-train240"
    train, _ = split_photos()
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for p in train:
        for src, dst in (
            (p, root / "images" / p.name),
            (DEEPCRACK / "masks" / f"{p.stem}.png", root / "masks" / f"{p.stem}.png"),
        ):
            if not dst.exists():
                os.symlink(src, dst)
    return root


def run_row(name: str, *, work: Path, minutes: float, limit_test: int | None = None) -> dict:
    from crackscope.evaluation.map_scores import ods_ois, score_masks
    from crackscope.io import read_image
    from crackscope.unsupervised.mapper import RestorerMapper
    from crackscope.unsupervised.run import load_restorer_run
    from crackscope.unsupervised.train import RestorerTrainOptions, train_restorer

    source, style = ROWS[name]
    data = train_set(work) if source == "deepcrack" else OZGENEL
    run_dir = work / name
    context = run_context()  # date, commit, machine, load before
    t0 = time.monotonic()
    if not (run_dir / "model.safetensors").exists():
        options = RestorerTrainOptions(style=style, epochs=1000, time_budget=minutes * 60, seed=0)
        train_restorer(data, out=run_dir, config="cpu", options=options)
    train_s = time.monotonic() - t0
    hist = list(csv.DictReader((run_dir / "history.csv").open()))
    cfg = json.loads((run_dir / "config.json").read_text())
    steps = sum(int(r["steps"]) for r in hist)
    per_step = [float(r["seconds"]) / int(r["steps"]) for r in hist if int(r["steps"]) > 0]
    best_epoch = max((int(r["epoch"]) for r in hist if r["best"] == "1"), default=None)

    _, heldout = split_photos()
    heldout = heldout[:limit_test] if limit_test else heldout
    scored = {norm: _score_heldout(run_dir, heldout, norm) for norm in ("batch", "running")}
    masks, softs, gts, secs = scored["batch"]["arrays"]
    if name == "deepcrack-random":  # one example for the docs: photo | restored | soft map | mask | GT
        _save_example(work / "example.png", read_image(heldout[0]), RestorerMapper(load_restorer_run(run_dir)), gts[0])
    curve_e, curve_t = ods_ois(softs, gts, tol=0), ods_ois(softs, gts, tol=TOL)
    row = {
        "name": name,
        "data": str(data),
        "style": style,
        "train_images": cfg["train_images"],
        "val_images": cfg["val_images"],
        "epochs": len(hist),
        "steps": steps,
        "best_epoch": best_epoch,
        "train_minutes": round(train_s / 60, 1) if train_s > 5 else None,
        "sec_per_step": statistics.median(per_step) if per_step else None,
        "best_val_rec": min(float(r["val_rec"]) for r in hist),
        "map_sec_per_photo": statistics.median(secs),
        "exact": score_masks(masks, gts, tol=0),
        "tol": score_masks(masks, gts, tol=TOL),
        "ods": curve_e["ods"],
        "ois": {k: v for k, v in curve_e["ois"].items() if k != "thresholds"},
        "ods_tol": curve_t["ods"],
        "ois_tol": {k: v for k, v in curve_t["ois"].items() if k != "thresholds"},
        "n_test": len(heldout),
        "gt_crack_fraction": float(np.mean([g.mean() for g in gts])),
        "pred_crack_fraction": float(np.mean([m.mean() for m in masks])),
        "normalization": "batch",
        "running_normalization": scored["running"]["summary"],
        "context": {**context, "load_1min_after": load_1min()},
    }
    (work / f"{name}.json").write_text(json.dumps(row, indent=2))
    return row


def _score_heldout(run_dir: Path, heldout: list[Path], normalization: str) -> dict:
    """Map the held-out photos with BatchNorm in ``normalization`` mode; the arrays and a short summary."""
    from dataclasses import replace

    from crackscope.evaluation.map_scores import ods_ois, score_masks
    from crackscope.io import read_image, read_mask
    from crackscope.unsupervised.mapper import RestorerMapper
    from crackscope.unsupervised.run import load_restorer_run

    run = load_restorer_run(run_dir)
    run.restorer = replace(run.restorer, normalization=normalization)
    mapper = RestorerMapper(run)
    masks, softs, gts, secs = [], [], [], []
    for p in heldout:
        image = read_image(p)
        t = time.monotonic()
        res = mapper.map_image(image)
        secs.append(time.monotonic() - t)
        masks.append(res.mask)
        softs.append(res.probability)
        gts.append(read_mask(DEEPCRACK / "masks" / f"{p.stem}.png", shape=image.shape[:2]))
    exact, tol = score_masks(masks, gts, tol=0), score_masks(masks, gts, tol=TOL)
    summary = {
        "f1_exact": exact["f1"],
        "f1_tol": tol["f1"],
        "iou_exact": exact["iou"],
        "ods_tol": ods_ois(softs, gts, tol=TOL)["ods"]["f1"],
        "pred_crack_fraction": float(np.mean([m.mean() for m in masks])),
    }
    return {"arrays": (masks, softs, gts, secs), "summary": summary}


def _save_example(path: Path, image: np.ndarray, mapper, gt: np.ndarray) -> None:
    from crackscope.io import write_image_atomic
    from crackscope.unsupervised.inference import error_map

    restored = mapper.run.restore(image)
    soft, mask = error_map(image, restored)
    gray = lambda a: np.repeat((a * 255).astype(np.uint8)[..., None], 3, axis=2)  # noqa: E731
    panels = [image, restored, gray(soft), gray(mask.astype(np.float32)), gray(gt.astype(np.float32))]
    gap = np.full((image.shape[0], 4, 3), 255, np.uint8)
    row = np.concatenate([x for p in panels for x in (p, gap)][:-1], axis=1)
    write_image_atomic(path, row[::2, ::2].copy())


def paper_timing(work: Path, steps: int = 2) -> dict:
    """Median seconds of a paper-configuration training step (256 px, ngf/ndf 64, batch 8, VGG-19 style)."""
    import torch

    from crackscope.unsupervised.config import paper_config
    from crackscope.unsupervised.corruption import checkerboard_masks, corrupt, random_choice
    from crackscope.unsupervised.losses import RestorationLoss
    from crackscope.unsupervised.train import build_networks, style_features, train_step

    cfg = paper_config()
    G, D = build_networks(cfg)
    loss_fn = RestorationLoss(style_features("random", layers=cfg.style_layers, vgg_weights=None))
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    y = torch.rand(cfg.batch_size, 3, 256, 256) * 2 - 1
    x = corrupt(y, torch.from_numpy(checkerboard_masks(256)), random_choice(cfg.batch_size))
    context = run_context()  # date, commit, machine, load before
    times = []
    for i in range(steps + 1):
        t = time.monotonic()
        train_step(G, D, opt_g, opt_d, x, y, loss_fn)
        if i:  # the first step warms up
            times.append(time.monotonic() - t)
    # crack-free 256 px training images the paper's recipe would see here: patches of the 240 photos
    from crackscope.unsupervised.data import crack_free_sources

    n = len(crack_free_sources(train_set(work), patch_size=288, stride=144, margin=8).sources)
    out = {
        "sec_per_step": statistics.median(times),
        "steps_timed": steps,
        "train_images_256": n,
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
    }
    out["hours_estimate"] = out["sec_per_step"] * max(1, n // cfg.batch_size) * cfg.epochs / 3600
    out["context"] = {**context, "load_1min_after": load_1min()}
    (work / "paper-timing.json").write_text(json.dumps(out, indent=2))
    return out


def _load_rows(work: Path) -> dict[str, dict]:
    return {n: json.loads((work / f"{n}.json").read_text()) for n in ROWS if (work / f"{n}.json").exists()}


def report(work: Path, out: Path, *, minutes: float, command: str, load: str, context: dict) -> None:
    rows = _load_rows(work)
    timing = json.loads((work / "paper-timing.json").read_text()) if (work / "paper-timing.json").exists() else None
    f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [
        "# UP-CrackNet (unsupervised restoration) on held-out DeepCrack photos",
        "",
        f"Command: `{command}`  ",
        f"Report written {context['date']}, commit {context['commit']}. Machine (arch, cores, Python): "
        f"{context['machine']}, shared with other jobs (1-min load average {context['load_1min']} at the start, "
        f"{load_1min()} at the end; {load}); torch CPU. Each row's own date, commit and load are listed below the "
        "table.  ",
        f"Test set: the LAST 60 of the 300 DeepCrack photos in sorted order (544x384, the crack-map benchmark's "
        f"held-out photos); pixels pooled over the set; tolerance {TOL} px. No crack label of any kind is used to "
        "train; DeepCrack masks are used only to cut crack-free patches (no crack pixel within 4 px) from the "
        "FIRST 240 photos, and to score.",
        "",
        f"CPU configuration (`--config cpu`): 64 px crops at native resolution, U-Net ngf 32 with 6 down-convs "
        f"(1x1 bottleneck), PatchGAN ndf 32 with 2 strided convs, batch 8, epochs of 150 steps, the paper's "
        f"losses, optimiser and lr decay; each row trained for a budget of {minutes:g} minutes of wall clock, "
        "keeping the epoch with the best validation restoration loss. Inference: 64 px tiles, 25% overlap, Hann "
        "blend, BatchNorm with the statistics of the photo's tiles (chunks of at most 32; pix2pix's test-time "
        "default); error map, bilateral filter (25, 450, 15) and Otsu as in the paper's code.",
        "",
        "| row | train data (crack-free) | style term | train imgs | epochs / steps | s/step | "
        "F1 exact | IoU exact | F1 2px | IoU 2px | ODS exact | OIS exact | ODS 2px | OIS 2px | map s/photo |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    labels = {
        "deepcrack-random": "DeepCrack 240 photos, patches",
        "deepcrack-off": "DeepCrack 240 photos, patches",
        "ozgenel": "Özgenel uncracked (5000)",
        "ozgenel-off": "Özgenel uncracked (5000)",
    }
    styles = {"random": "fixed random VGG-19 (substitute)", "off": "off"}
    for name, r in rows.items():
        lines.append(
            f"| {name} | {labels[name]} | {styles[r['style']]} | {r['train_images']} | {r['epochs']} / {r['steps']} | "
            f"{f(r['sec_per_step'])} | {f(r['exact']['f1'])} | {f(r['exact']['iou'])} | {f(r['tol']['f1'])} | "
            f"{f(r['tol']['iou'])} | {f(r['ods']['f1'])} | {f(r['ois']['f1'])} | {f(r['ods_tol']['f1'])} | "
            f"{f(r['ois_tol']['f1'])} | {f(r['map_sec_per_photo'])} |"
        )
    lines.append(
        "| ImageNet VGG-19 style (the paper's) | - | imagenet | - | - | - | not measured: the weights "
        "cannot be downloaded here | | | | | | | | |"
    )
    lines += ["", "Paper anchor: trained on CRACK500 (full configuration, 300 epochs, GPU), F1 0.758 on DeepCrack.", ""]
    if "deepcrack-random" in rows and "deepcrack-off" in rows:
        a, b = rows["deepcrack-random"], rows["deepcrack-off"]
        ratio = lambda x, y: "-" if not y else f"{x / y:.2f}x"  # noqa: E731
        lines += [
            "Style substitute vs style off (same data, same budget): "
            f"F1 2px {f(a['tol']['f1'])} vs {f(b['tol']['f1'])} ({ratio(a['tol']['f1'], b['tol']['f1'])}), "
            f"ODS 2px {f(a['ods_tol']['f1'])} vs {f(b['ods_tol']['f1'])} "
            f"({ratio(a['ods_tol']['f1'], b['ods_tol']['f1'])}); "
            f"seconds per step {f(a['sec_per_step'])} vs {f(b['sec_per_step'])} "
            f"({ratio(a['sec_per_step'], b['sec_per_step'])}), so in the same budget the substitute run took "
            f"{a['steps']} steps and the style-off run {b['steps']}.",
            "",
        ]
    for name, r in rows.items():
        lines.append(
            f"- {name}: precision/recall exact {f(r['exact']['precision'])}/{f(r['exact']['recall'])}, "
            f"2px {f(r['tol']['precision'])}/{f(r['tol']['recall'])}; predicted crack fraction "
            f"{r['pred_crack_fraction']:.3f} vs GT {r['gt_crack_fraction']:.3f}; best epoch {r['best_epoch']}, "
            f"best validation restoration loss {r['best_val_rec']:.2f}."
        )
        ctx = r.get("context")
        lines.append(
            f"  - measured {ctx['date']}, commit {ctx['commit']}, {ctx['machine']}, 1-min load average "
            f"{ctx['load_1min']} before, {ctx['load_1min_after']} after."
            if ctx
            else "  - date and commit not recorded (measured before they were read from the system)."
        )
        old = r.get("running_normalization")
        if old:
            lines.append(
                f"  - same run with BatchNorm's running averages (eval mode, what `map` did before the "
                f"normalisation fix): F1 exact {f(old['f1_exact'])}, 2px {f(old['f1_tol'])}, ODS 2px "
                f"{f(old['ods_tol'])}, predicted crack fraction {old['pred_crack_fraction']:.3f}. The table uses "
                "batch statistics (pix2pix's test-time default)."
            )
    if timing:
        lines += [
            "",
            f"Paper configuration on this CPU (256 px, ngf/ndf 64, batch 8, VGG-19 style term up to relu5_2): "
            f"{timing['sec_per_step']:.1f} s per training step (median of {timing['steps_timed']} timed steps, "
            f"machine shared). 300 epochs over 1,000 training images are 37,500 steps, about "
            f"{timing['sec_per_step'] * 37500 / 3600:.0f} hours here "
            "(an ESTIMATE from the measured per-step time, not a "
            "measured run; the 240 training photos give only "
            f"{timing['train_images_256']} crack-free 288 px patches, too few for the paper's recipe). It needs a GPU.",
        ]
    out.write_text("\n".join(lines) + "\n")


def normalization_check(run_dir: Path) -> dict:
    """Every 4th held-out photo mapped with BatchNorm's running averages and with batch statistics over chunks of
    1, 8, 32 and all tiles of a photo: exact F1 of the pooled Otsu masks and the mean absolute difference between
    photo and restoration (grey levels). Saved as ``normalization-check.json`` beside the run."""
    from dataclasses import replace

    from crackscope.evaluation.map_scores import score_masks
    from crackscope.io import read_image, read_mask
    from crackscope.unsupervised.inference import error_map
    from crackscope.unsupervised.run import load_restorer_run

    run = load_restorer_run(run_dir)
    photos = split_photos()[1][::4]
    variants = {
        "running": ("running", 32),
        "batch, 1 tile": ("batch", 1),
        "batch, 8 tiles": ("batch", 8),
        "batch, 32 tiles (default)": ("batch", 32),
        "batch, all tiles": ("batch", 10**6),
    }
    out = {"run": str(run_dir), "photos": len(photos)}
    for label, (norm, chunk) in variants.items():
        run.restorer = replace(run.restorer, normalization=norm)
        masks, gts, diffs = [], [], []
        for p in photos:
            image = read_image(p)
            restored = run.restore(image, batch_size=chunk)
            masks.append(error_map(image, restored, bilateral=tuple(run.restorer.bilateral))[1])
            gts.append(read_mask(DEEPCRACK / "masks" / f"{p.stem}.png", shape=image.shape[:2]))
            diffs.append(float(np.abs(image.astype(np.float32) - restored.astype(np.float32)).mean()))
        out[label] = {
            "f1_exact": round(score_masks(masks, gts)["f1"], 4),
            "mean_abs_diff": round(float(np.mean(diffs)), 2),
        }
        print(label, out[label], flush=True)
    (run_dir.parent / "normalization-check.json").write_text(json.dumps(out, indent=2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--paper-timing", action="store_true")
    ap.add_argument("--paper-steps", type=int, default=2, help="timed paper-configuration steps (after 1 warm-up)")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--limit-test", type=int, default=None, help="map only this many held-out photos (smoke test)")
    ap.add_argument("--work", type=Path, default=ROOT / "bench-out" / "upcracknet")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "upcracknet.md")
    ap.add_argument("--load-note", default="load average noted in the run log")
    ap.add_argument(
        "--normalization-check",
        metavar="ROW",
        help="map every 4th held-out photo with WORK/ROW under each BatchNorm mode and chunk size; then stop",
    )
    args = ap.parse_args()
    if args.normalization_check:
        normalization_check(args.work / args.normalization_check)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    context = run_context()  # date, commit, machine, load at the start
    command = "python " + " ".join([Path(sys.argv[0]).as_posix().replace(str(ROOT) + "/", ""), *sys.argv[1:]])
    if not args.report_only:
        for name in [r for r in args.rows.split(",") if r]:
            if name not in ROWS:
                raise SystemExit(f"unknown row {name!r}; choose from {', '.join(ROWS)}")
            print(f"[{time.strftime('%H:%M:%S')}] row {name}, load {os.getloadavg()}", flush=True)
            row = run_row(name, work=args.work, minutes=args.minutes, limit_test=args.limit_test)
            print(json.dumps({k: row[k] for k in ("name", "epochs", "steps", "sec_per_step")}), flush=True)
            print(
                f"  F1 exact {row['exact']['f1']:.3f} 2px {row['tol']['f1']:.3f} ODS2px {row['ods_tol']['f1']:.3f}",
                flush=True,
            )
        if args.paper_timing:
            print(f"[{time.strftime('%H:%M:%S')}] paper timing, load {os.getloadavg()}", flush=True)
            print(paper_timing(args.work, steps=args.paper_steps), flush=True)
    report(args.work, args.out, minutes=args.minutes, command=command, load=args.load_note, context=context)
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
