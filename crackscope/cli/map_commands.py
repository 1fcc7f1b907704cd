"""``crackscope map`` (whole photos -> masks, maps, measurements) and ``crackscope score`` (pixel scores)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from crackscope.cli.common import console, fail, out


def map_cmd(
    run: Path = typer.Argument(..., help="A run folder (classifier or restorer)."),
    images: list[str] = typer.Argument(..., help="Image files, folders or glob patterns."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    method: str = typer.Option("gradcam++", "--method", help="CAM method for classifier runs."),
    mm_per_px: Optional[float] = typer.Option(None, "--mm-per-px", help="Scale, to report sizes in millimetres."),
    refine: bool = typer.Option(True, "--refine/--no-refine", help="Refine maps with the image's dark lines."),
    tile: Optional[int] = typer.Option(None, "--tile", help="Tile size in photo pixels (default: the patch size the run was trained on)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo images whose outputs already exist."),
    refine_options: Optional[Path] = typer.Option(
        None, "--refine-options", help="JSON file of refinement settings, e.g. benchmarks/results/maps_refine_v2.json."
    ),
    gate: str = typer.Option(
        "photo", "--gate", help="photo: a photo the classifier calls crack-free gets an empty mask; pixels: pixels decide."
    ),
    pixel_model: Optional[list[Path]] = typer.Option(
        None, "--pixel-model",
        help="A `crackscope selftrain` folder: its pixel model picks the crack pixels (repeat: their mean).",
    ),
) -> None:
    """Map cracks in whole photos: masks, soft maps, skeletons, numbered overlays, cracks.csv, summary.json."""
    from crackscope.maps.pipeline import map_images
    from crackscope.maps.refine import RefineOptions

    if mm_per_px is not None and mm_per_px <= 0:
        fail("--mm-per-px must be > 0")
    if tile is not None and tile < 8:
        fail("--tile must be at least 8 px")
    if gate not in ("photo", "pixels"):
        fail("--gate must be photo or pixels")
    options = RefineOptions.from_json(refine_options) if refine_options is not None else None
    summary = map_images(
        run, images, out_dir, method=method, mm_per_px=mm_per_px, refine=refine, tile=tile, overwrite=overwrite,
        show_progress=True, refine_options=options, gate=gate, pixel_model=pixel_model or None,
    )
    done = summary["counts"]
    out.print(
        f"mapped {done['mapped']} image(s), skipped {done['skipped']} finished, {done['errors']} error(s); "
        f"{done['cracks']} crack(s) -> {out_dir}"
    )
    for err in summary["errors"]:
        console.print(f"[yellow]skipped[/] {err['file']}: {err['problem']}", highlight=False)


def selftrain_cmd(
    run: Path = typer.Argument(..., help="A classifier run folder."),
    images: list[str] = typer.Argument(..., help="Unlabelled photos: files, folders or glob patterns."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for the pixel model."),
    minutes: float = typer.Option(10.0, "--minutes", help="Training time."),
    method: str = typer.Option("gradcam++", "--method", help="CAM method for the class maps."),
    refine_options: Optional[Path] = typer.Option(
        None, "--refine-options", help="JSON refinement settings for the pseudo-labels (default: built-in v1)."
    ),
    mask_options: Optional[Path] = typer.Option(
        None, "--mask-options",
        help="JSON settings stored with the model for `map --pixel-model` (default: the teacher's, else --refine-options).",
    ),
    outside_lines_unlabelled: bool = typer.Option(
        False, "--outside-lines-unlabelled",
        help="Outside the class map's region, leave line-like pixels unlabelled instead of background.",
    ),
    blobs_background: bool = typer.Option(
        False, "--blobs-background",
        help="Dark blobs the line-shape filter rejects (pores, stains) are background, also outside the map's region.",
    ),
    teacher: Optional[Path] = typer.Option(
        None, "--teacher", help="A pixel-model folder: learn its masks instead (a second self-training round)."
    ),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Self-train a pixel model on the run's refined class maps of unlabelled photos (no mask is read)."""
    from crackscope.maps.refine import RefineOptions
    from crackscope.maps.selftrain import PseudoLabelOptions, self_train

    if minutes <= 0:
        fail("--minutes must be > 0")
    options = RefineOptions.from_json(refine_options) if refine_options is not None else None
    masks = RefineOptions.from_json(mask_options) if mask_options is not None else None
    labels = PseudoLabelOptions(outside_lines_unlabelled=outside_lines_unlabelled, blobs_background=blobs_background)
    res = self_train(
        run, images, out_dir, method=method, refine_options=options, label_options=labels, mask_options=masks,
        teacher=teacher, seconds=minutes * 60, seed=seed, show_progress=True,
    )
    cfg = res["config"]
    out.print(
        f"trained a pixel model on {res['photos']} photo(s): {cfg['steps']} steps in {cfg['seconds']:.0f} s "
        f"-> {out_dir}; map with `crackscope map {run} IMAGES --pixel-model {out_dir}`"
    )
    for path, problem in res["skipped"]:
        console.print(f"[yellow]skipped[/] {path}: {problem}", highlight=False)


def score_cmd(
    pred_dir: Path = typer.Argument(..., help="A `crackscope map` output folder or a folder of masks."),
    gt_dir: Path = typer.Argument(..., help="Ground-truth masks (matched by file stem)."),
    tol: float = typer.Option(0, "--tol", help="Pixel tolerance (2 is the usual in crack papers)."),
    prob_dir: Optional[Path] = typer.Option(None, "--prob", help="Probability maps (default: PRED_DIR/probability)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Write scores.json and pr_curve.png here."),
) -> None:
    """Pooled precision, recall, F1 and IoU (exact and with tolerance), and ODS/OIS from probability maps."""
    from rich.table import Table

    from crackscope.evaluation.scoring import plot_pr_curve, score_dirs
    from crackscope.io import write_json_atomic

    if tol < 0:
        fail("--tol must be >= 0")
    res = score_dirs(pred_dir, gt_dir, tol=tol, prob_dir=prob_dir)
    if res["n_images"] == 0:
        fail(f"no prediction in {pred_dir} matches a ground-truth mask in {gt_dir} by file name")
    table = Table(title=f"{res['n_images']} image(s), pixels pooled")
    for col in ("", "precision", "recall", "F1", "IoU"):
        table.add_column(col, justify="right" if col else "left")

    def row(label: str, m: dict) -> None:
        table.add_row(label, *(f"{m[k]:.4f}" for k in ("precision", "recall", "f1", "iou")))

    row("masks, exact", res["exact"])
    if res["tolerant"]:
        row(f"masks, {tol:g} px", res["tolerant"])
    for kind in ("ods", "ois"):
        for variant, m in (res.get(kind) or {}).items():
            label = f"{kind.upper()}, {'exact' if variant == 'exact' else f'{tol:g} px'}"
            if kind == "ods":
                label += f" (t={m['threshold']:.3f})"
            row(label, m)
    out.print(table)
    for key in ("missing_predictions", "missing_ground_truth"):
        if res[key]:
            console.print(f"[yellow]{key.replace('_', ' ')}:[/] {len(res[key])}: {', '.join(res[key][:10])}")
    for s in res["skipped"]:
        console.print(f"[yellow]skipped[/] {s['file']}: {s['problem']}", highlight=False)
    if out_dir is not None:
        write_json_atomic(Path(out_dir) / "scores.json", res)
        if res.get("curves"):
            curves = {
                ("exact" if k == "exact" else f"{tol:g} px"): {"curve": c, "ods": res["ods"][k]}
                for k, c in res["curves"].items()
            }
            plot_pr_curve(curves, Path(out_dir) / "pr_curve.png")
        out.print(f"wrote {out_dir}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("map")(map_cmd)
    app.command("score")(score_cmd)
    app.command("selftrain")(selftrain_cmd)
