"""``crackscope map`` (whole photos -> masks, maps, measurements), ``fit``, ``selftrain``, ``presets`` and ``score``."""

from __future__ import annotations

from pathlib import Path

import typer

from crackscope.cli.common import (
    EXIT_NOTHING_USED,
    ProgressBars,
    console,
    exit_for_batch,
    fail,
    fail_for_data,
    out,
    print_skipped,
)
from crackscope.maps.recipe import MapRecipe


def _recipe(
    run: Path,
    preset: str | None,
    *,
    method: str | None = None,
    tile: int | None = None,
    gate: str | None = None,
    refine: bool | None = None,
    refine_options: Path | None = None,
    pixel_models: list[Path] | None = None,
) -> MapRecipe:
    """The run's recipe (or the named preset) with the options given on the command line. Pixel models given
    here map with the mask settings stored with the first of them, unless ``refine_options`` are given."""
    from crackscope.errors import CrackscopeError
    from crackscope.maps.factory import resolve_recipe
    from crackscope.maps.pixel_model import pixel_model_refine_options, read_pixel_model_config
    from crackscope.maps.refine import RefineOptions

    try:
        recipe = resolve_recipe(run, preset)
        changes: dict[str, object] = {}
        if method is not None:
            changes["method"] = method
        if tile is not None:
            changes["tile"] = tile
        if gate is not None:
            changes["gate"] = gate
        if refine is not None:
            changes["refine"] = refine
        if refine_options is not None:
            changes["refine_options"] = RefineOptions.from_json(refine_options)
        if pixel_models:
            changes["pixel_models"] = tuple(str(p) for p in pixel_models)
            changes["stages"] = ()
            stored = pixel_model_refine_options(read_pixel_model_config(pixel_models[0]))
            if refine_options is None and stored is not None:
                changes["refine_options"] = stored
        return recipe.with_(**changes) if changes else recipe
    except (CrackscopeError, ValueError, OSError) as exc:  # the run, a preset, a settings file: usage errors
        fail_for_data(exc, None)


def map_cmd(
    run: Path = typer.Argument(..., help="A run folder (classifier or restorer), or `builtin` for the bundled model."),
    images: list[str] = typer.Argument(..., help="Image files, folders or glob patterns."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    preset: str | None = typer.Option(
        None, "--preset", "-p", help="Map recipe (`crackscope presets`; default: the run's own, from `fit`)."
    ),
    mm_per_px: float | None = typer.Option(None, "--mm-per-px", help="Scale, to report sizes in millimetres."),
    method: str | None = typer.Option(None, "--method", help="Override the recipe's CAM method."),
    refine: bool | None = typer.Option(None, "--refine/--no-refine", help="Override: refine maps with the image."),
    tile: int | None = typer.Option(None, "--tile", help="Override the tile size in photo pixels."),
    gate: str | None = typer.Option(
        None, "--gate", help="Override: photo (a photo called crack-free gets an empty mask) or pixels (pixels decide)."
    ),
    refine_options: Path | None = typer.Option(
        None, "--refine-options", help="Override the refinement with a JSON file of RefineOptions fields."
    ),
    pixel_model: list[Path] | None = typer.Option(
        None,
        "--pixel-model",
        help="Override: a `crackscope selftrain` folder picks the crack pixels (repeat: their mean).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo images whose outputs already exist."),
) -> None:
    """Map cracks in whole photos: masks, soft maps, skeletons, numbered overlays, cracks.csv, summary.json."""
    from crackscope.errors import CrackscopeError
    from crackscope.maps.pipeline import map_images

    recipe = _recipe(
        run,
        preset,
        method=method,
        tile=tile,
        gate=gate,
        refine=refine,
        refine_options=refine_options,
        pixel_models=pixel_model,
    )
    try:
        with ProgressBars() as bars:
            summary = map_images(
                run, images, out_dir, recipe=recipe, mm_per_px=mm_per_px, overwrite=overwrite, on_progress=bars
            )
    except (CrackscopeError, ValueError, OSError) as exc:  # the settings (checked first), an unwritable --out
        fail_for_data(exc, None)
    done = summary["counts"]
    out.print(
        f"mapped {done['mapped']} image(s) with preset {recipe.name}, skipped {done['skipped']} finished, "
        f"{done['errors']} error(s); {done['cracks']} crack(s) -> {out_dir}"
    )
    print_skipped([(err["file"], err["problem"]) for err in summary["errors"]])
    exit_for_batch(done["done"], done["errors"])


def selftrain_cmd(
    run: Path = typer.Argument(..., help="A classifier run folder."),
    images: list[str] = typer.Argument(..., help="Unlabelled photos: files, folders or glob patterns."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for the pixel model."),
    minutes: float = typer.Option(10.0, "--minutes", help="Training time."),
    method: str = typer.Option("gradcam++", "--method", help="CAM method for the class maps."),
    preset: str | None = typer.Option(
        None, "--preset", "-p", help="Take the refinement for the pseudo-labels from this preset (default: refined)."
    ),
    refine_options: Path | None = typer.Option(
        None, "--refine-options", help="JSON refinement settings for the pseudo-labels (overrides --preset)."
    ),
    mask_options: Path | None = typer.Option(
        None,
        "--mask-options",
        help="JSON mask settings stored with the model (default: the teacher's, else the refinement).",
    ),
    outside_lines_unlabelled: bool = typer.Option(
        False,
        "--outside-lines-unlabelled",
        help="Outside the class map's region, leave line-like pixels unlabelled instead of background.",
    ),
    blobs_background: bool = typer.Option(
        False,
        "--blobs-background",
        help="Dark blobs the line-shape filter rejects (pores, stains) are background, also outside the map's region.",
    ),
    teacher: Path | None = typer.Option(
        None, "--teacher", help="A pixel-model folder: learn its masks instead (a second self-training round)."
    ),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Self-train one pixel model on the run's refined class maps of unlabelled photos (no mask is read)."""
    from crackscope.errors import BadInputError, CrackscopeError
    from crackscope.inputs import expand_inputs
    from crackscope.maps.pixel_model import load_pixel_models
    from crackscope.maps.recipe import PixelStage, PseudoLabelOptions, get_preset
    from crackscope.maps.refine import RefineOptions
    from crackscope.maps.selftrain import SelfTrainOptions, self_train
    from crackscope.runs import read_run_config

    try:  # everything but the photos first: these are usage errors (2)
        refine = get_preset(preset or "refined").refine_options
        options = SelfTrainOptions(seconds=minutes * 60, seed=seed)
        if refine_options is not None:
            refine = RefineOptions.from_json(refine_options)
        stage = PixelStage(
            out_dir.name,
            refine=refine,
            labels=PseudoLabelOptions(
                outside_lines_unlabelled=outside_lines_unlabelled, blobs_background=blobs_background
            ),
            mask=RefineOptions.from_json(mask_options) if mask_options is not None else None,
        )
        read_run_config(run)
        if teacher is not None:
            load_pixel_models(teacher)
    except (CrackscopeError, ValueError, OSError) as exc:
        fail_for_data(exc, None)
    photos, problems = expand_inputs(images)
    skipped = [(str(path), problem) for path, problem in problems]
    print_skipped(skipped)
    exit_for_batch(len(photos), len(skipped), what="photo")
    try:
        with ProgressBars() as bars:
            res = self_train(
                run,
                [str(p) for p in photos],
                out_dir,
                stage=stage,
                teacher=teacher,
                method=method,
                options=options,
                on_progress=bars,
            )
    except BadInputError as exc:  # photos were found but none could be used (unreadable, no crack pixel in any)
        fail(str(exc), EXIT_NOTHING_USED)
        return
    except (CrackscopeError, ValueError, OSError) as exc:
        fail_for_data(exc, None)
    cfg = res.config
    out.print(
        f"trained a pixel model on {res.photos} photo(s): {cfg['steps']} steps in {cfg['seconds']:.0f} s "
        f"-> {out_dir}; map with `crackscope map {run} IMAGES --pixel-model {out_dir}`"
    )
    print_skipped([(str(path), problem) for path, problem in res.skipped])
    exit_for_batch(res.photos, len(skipped) + len(res.skipped), what="photo")


def fit_cmd(
    data: Path = typer.Argument(..., help="A data set in any layout (class folders, labelled files, images + masks)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="The run folder (an interrupted fit resumes in it)."),
    minutes: float = typer.Option(20.0, "--minutes", help="Time budget for everything."),
    preset: str | None = typer.Option(None, "--preset", "-p", help="Map recipe to train for (default: selftrained)."),
    seed: int = typer.Option(0, "--seed"),
    max_photos: int = typer.Option(400, "--max-photos", help="Most photos self-training reads (a seeded sample)."),
    layout: str | None = typer.Option(None, "--layout", help="Override the detected data layout."),
) -> None:
    """Train a classifier and the pixel models its map preset needs, in one run folder; then `crackscope map RUN`."""
    from crackscope.errors import CrackscopeError
    from crackscope.maps.fit import FitOptions, fit

    try:
        options = FitOptions(minutes=minutes, seed=seed, max_photos=max_photos, layout=layout)
        with ProgressBars() as bars:
            res = fit(data, out_dir, preset=preset, options=options, on_progress=bars)
    except (CrackscopeError, ValueError, OSError) as exc:
        fail_for_data(exc, data)
    for step in res.steps:
        extra = f", {step.steps} steps" if step.steps else ""
        out.print(f"  {step.name}: {'kept from the last call' if step.resumed else f'{step.seconds:.0f} s{extra}'}")
    out.print(
        f"fitted preset {res.recipe.name} in {res.seconds / 60:.1f} min -> {out_dir}; "
        f"map with `crackscope map {out_dir} PHOTOS --out DIR`"
    )
    print_skipped(list(res.skipped))


def presets_cmd() -> None:
    """List the map presets, one line each."""
    from crackscope.maps.recipe import list_presets

    width = max(len(p.name) for p in list_presets())
    for p in list_presets():
        needs = " [fit]" if p.needs_fit else ""
        out.print(f"{p.name:<{width}}  {p.doc}{needs}", highlight=False, soft_wrap=True)


def score_cmd(
    pred_dir: Path = typer.Argument(..., help="A `crackscope map` output folder or a folder of masks."),
    gt_dir: Path = typer.Argument(..., help="Ground-truth masks (matched by file stem)."),
    tol: float = typer.Option(0, "--tol", help="Pixel tolerance (2 is the usual in crack papers)."),
    prob_dir: Path | None = typer.Option(None, "--prob", help="Probability maps (default: PRED_DIR/probability)."),
    out_dir: Path | None = typer.Option(None, "--out", "-o", help="Write scores.json and pr_curve.png here."),
) -> None:
    """Pooled precision, recall, F1 and IoU (exact and with tolerance), and ODS/OIS from probability maps."""
    from rich.table import Table

    from crackscope.evaluation.map_scores import plot_pr_curve, score_dirs
    from crackscope.inputs import INPUT_ERRORS, problem_of
    from crackscope.io import write_json_atomic

    try:
        res = score_dirs(pred_dir, gt_dir, tol=tol, prob_dir=prob_dir)
    except ValueError as exc:  # tol, a folder that is missing or none of the expected ones
        fail(str(exc))
        return
    except INPUT_ERRORS as exc:  # a file the scorer could not pass over
        fail(problem_of(exc), EXIT_NOTHING_USED)
        return
    if res["n_images"] == 0:
        console.print(
            f"[yellow]no prediction in {pred_dir} could be scored against a ground-truth mask in {gt_dir}[/] "
            "(matched by file name)",
            highlight=False,
        )
    else:
        table = Table(title=f"{res['n_images']} image(s), pixels pooled")
        for col in ("", "precision", "recall", "F1", "IoU"):
            table.add_column(col, justify="right" if col else "left")

        def row(label: str, m: dict[str, float]) -> None:
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
    print_skipped([(s["file"], s["problem"]) for s in res["skipped"]])
    if out_dir is not None:
        write_json_atomic(Path(out_dir) / "scores.json", res)
        if res.get("curves"):
            curves = {
                ("exact" if k == "exact" else f"{tol:g} px"): {"curve": c, "ods": res["ods"][k]}
                for k, c in res["curves"].items()
            }
            plot_pr_curve(curves, Path(out_dir) / "pr_curve.png")
        out.print(f"wrote {out_dir}")
    unmatched = len(res["missing_predictions"]) + len(res["missing_ground_truth"])
    exit_for_batch(res["n_images"], len(res["skipped"]) + unmatched, what="mask")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("map")(map_cmd)
    app.command("score")(score_cmd)
    app.command("selftrain")(selftrain_cmd)
    app.command("fit")(fit_cmd)
    app.command("presets")(presets_cmd)
