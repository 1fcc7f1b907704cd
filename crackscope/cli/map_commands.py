"""``crackscope map`` (whole photos -> masks, maps, measurements), ``fit``, ``selftrain``, ``presets`` and ``score``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from crackscope.cli.common import (
    DEVICE_OPTION,
    EXIT_NOTHING_USED,
    LAYOUT_OPTION,
    ProgressBars,
    check_device,
    check_layout,
    console,
    exit_for_batch,
    fail,
    fail_for_data,
    is_main_process,
    out,
    print_skipped,
    progress_bars,
)
from crackscope.cli.model_commands import EXPORT_HELP, ONNX_MISSING, RUNTIMES, onnx_export_dir

if TYPE_CHECKING:
    from crackscope.maps.base import Mapper
    from crackscope.maps.pixel_model import PixelPredictor
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
    exposure: bool | None = None,
    join_faint: float | None = None,
) -> MapRecipe:
    """The run's recipe (or the named preset) with the options given on the command line. Pixel models given
    here map with the mask settings stored with the first of them, unless ``refine_options`` are given.
    ``exposure``: apply (or not) the exposure range the run's fit measured (an error if it measured none).
    ``join_faint``: the mask settings' ``hysteresis`` (fainter stretches down to this fraction of the threshold
    join the cracks they touch)."""
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
        recipe = recipe.with_(**changes) if changes else recipe
        if join_faint is not None:
            recipe = recipe.with_join_faint(join_faint)
        return recipe if exposure is None else recipe.with_exposure(exposure)
    except (CrackscopeError, ValueError, OSError) as exc:  # the run, a preset, a settings file: usage errors
        fail_for_data(exc, None)


ENGINES = ("plain", "ray")
RAY_MISSING = 'the Ray engine needs Ray Data: pip install "crackscope[ray]"'


def map_cmd(
    run: Path = typer.Argument(
        ..., metavar="RUN", help="A run folder (classifier or restorer), or `builtin` for the bundled model."
    ),
    images: list[str] = typer.Argument(..., metavar="IMAGES", help="Image files, folders or glob patterns."),
    out_dir: Path = typer.Option(..., "--out", "-o", metavar="DIR", help="Output folder."),
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
    exposure: bool | None = typer.Option(
        None,
        "--exposure/--no-exposure",
        help="Stretch dark, washed-out or flat photos into the exposure range the run was fitted on (off by "
        "default; see crackscope.maps.exposure).",
    ),
    join_faint: float | None = typer.Option(
        None,
        "--join-faint",
        metavar="FRACTION",
        help="Keep a crack's fainter stretches, down to this fraction of the mask threshold, where they join it "
        "(0.25 lifted the bundled run on a surface it was not fitted on, CRACK500, from 0.496 to 0.540 exact F1, "
        "and cost 0.011 on its own; off by default).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo images whose outputs already exist."),
    device: str = DEVICE_OPTION,
    runtime: str = typer.Option(
        "torch",
        "--runtime",
        help="Pixel-model runtime: torch, or onnx (ONNX Runtime on the CPU; the class maps stay in torch).",
    ),
    export: Path | None = typer.Option(None, "--export", metavar="DIR", help=EXPORT_HELP),
    engine: str = typer.Option(
        "plain", "--engine", help="Engine: plain (this process) or ray (Ray Data workers; pip install crackscope[ray])."
    ),
    address: str | None = typer.Option(
        None, "--address", metavar="ADDR", help="Ray cluster to join (auto, ray://HOST:10001; default: a local Ray)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Ray workers, one model each (default: as many as the CPUs or GPUs allow)."
    ),
    gpus_per_worker: float = typer.Option(
        0.0, "--gpus-per-worker", help="GPUs each Ray worker takes (0: CPU workers; 0.5: two share a GPU)."
    ),
) -> None:
    """Map cracks in whole photos: masks, soft maps, skeletons, numbered overlays, cracks.csv, summary.json."""
    from crackscope.errors import CrackscopeError
    from crackscope.maps.pipeline import map_images

    device = check_device(device)
    if engine not in ENGINES:
        fail(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if runtime not in RUNTIMES:
        fail(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    ray_options = [name for name, given in _ray_flags(address, workers, gpus_per_worker) if given]
    if engine == "plain" and ray_options:
        verb = "goes" if len(ray_options) == 1 else "go"
        fail(f"{' and '.join(ray_options)} {verb} with --engine ray")
    recipe = _recipe(
        run,
        preset,
        method=method,
        tile=tile,
        gate=gate,
        refine=refine,
        refine_options=refine_options,
        pixel_models=pixel_model,
        exposure=exposure,
        join_faint=join_faint,
    )
    if engine == "ray":
        summary = _map_with_ray(
            run, images, out_dir, recipe, mm_per_px, overwrite, device, runtime, (address, workers, gpus_per_worker)
        )
    else:
        mapper = _plain_mapper(run, recipe, device=device, runtime=runtime, export=export)
        try:
            with ProgressBars() as bars:
                summary = map_images(
                    run,
                    images,
                    out_dir,
                    recipe=recipe,
                    mm_per_px=mm_per_px,
                    overwrite=overwrite,
                    on_progress=bars,
                    mapper=mapper,
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


def _ray_flags(address: str | None, workers: int | None, gpus_per_worker: float) -> list[tuple[str, bool]]:
    return [
        ("--address", address is not None),
        ("--workers", workers is not None),
        ("--gpus-per-worker", bool(gpus_per_worker)),
    ]


def _plain_mapper(run: Path, recipe: MapRecipe, *, device: str, runtime: str, export: Path | None) -> Mapper:
    """The mapper of the plain engine on ``device``; with ``runtime`` onnx its pixel models run in ONNX Runtime
    (from the export folder), the class maps in torch."""
    from crackscope.errors import CrackscopeError
    from crackscope.maps.factory import make_mapper

    try:
        pixels = _onnx_pixel_models(run, recipe, export) if runtime == "onnx" else None
        return make_mapper(run, recipe, device=device, pixel_model=pixels, class_map=False)  # outputs have none
    except ImportError:
        fail(ONNX_MISSING)
    except (CrackscopeError, ValueError, OSError) as exc:  # no run, a pixel model missing, no export
        fail_for_data(exc, None)


def _onnx_pixel_models(run: Path, recipe: MapRecipe, export: Path | None) -> PixelPredictor | None:
    """The recipe's pixel models from the run's ONNX export (``--runtime onnx``), or None when the recipe maps
    without pixel models (a warning says that ONNX then runs nothing)."""
    from crackscope.export.onnx import load_onnx_pixel_models
    from crackscope.runs import run_kind

    if run_kind(run) != "classifier":
        fail("--runtime onnx maps with classifier runs (their pixel models); a restorer run maps in torch")
    if not (recipe.refine and recipe.pixel_models):
        console.print(
            f"[yellow]warning:[/] preset {recipe.name} maps without pixel models, so --runtime onnx changes "
            "nothing (class maps are made in torch)",
            highlight=False,
            soft_wrap=True,
        )
        return None
    folder = onnx_export_dir(run, export)
    pixels: PixelPredictor = load_onnx_pixel_models(folder, [Path(name).name for name in recipe.pixel_models])
    return pixels


def _map_with_ray(
    run: Path,
    images: list[str],
    out_dir: Path,
    recipe: MapRecipe,
    mm_per_px: float | None,
    overwrite: bool,
    device: str,
    runtime: str,
    cluster: tuple[str | None, int | None, float],
) -> dict[str, Any]:
    """``map --engine ray``: the photos mapped by Ray workers (``crackscope.maps.ray_engine``); the summary of
    ``map_images``."""
    from crackscope.errors import CrackscopeError

    if runtime != "torch":
        fail("--runtime onnx goes with --engine plain (Ray workers map in torch)")
    if device not in ("auto", "cpu") or (device == "cpu" and cluster[2]):
        fail(f"--device {device} goes with --engine plain; Ray workers take a GPU each with --gpus-per-worker")
    try:
        from crackscope.maps.ray_engine import RayOptions, map_images_ray

        options = RayOptions(address=cluster[0], num_workers=cluster[1], num_gpus_per_worker=cluster[2])
        with ProgressBars() as bars:
            return map_images_ray(
                run,
                images,
                out_dir,
                recipe=recipe,
                mm_per_px=mm_per_px,
                cluster=options,
                overwrite=overwrite,
                on_progress=bars,
            )
    except ImportError:
        fail(RAY_MISSING)
    except (CrackscopeError, ValueError, OSError) as exc:
        fail_for_data(exc, None)


def selftrain_cmd(
    run: Path = typer.Argument(..., metavar="RUN", help="A classifier run folder."),
    images: list[str] = typer.Argument(
        ..., metavar="PHOTOS", help="Unlabelled photos: files, folders or glob patterns."
    ),
    out_dir: Path = typer.Option(..., "--out", "-o", metavar="DIR", help="Folder for the pixel model."),
    minutes: float = typer.Option(10.0, "--minutes", help="Training time in minutes."),
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
    restorer: Path | None = typer.Option(
        None,
        "--restorer",
        metavar="RUN",
        help="A restorer run: fuse its restoration error into the class maps the pseudo-labels come from.",
    ),
    restoration: float | None = typer.Option(
        None, "--restoration", help="Weight of the restoration error (default with --restorer: the preset's)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampling and the training."),
    device: str = DEVICE_OPTION,
) -> None:
    """Self-train one pixel model on the run's refined class maps of unlabelled photos (no mask is read)."""
    from crackscope.errors import BadInputError, CrackscopeError
    from crackscope.inputs import expand_inputs
    from crackscope.maps.pixel_model import load_pixel_models
    from crackscope.maps.presets import RESTORATION_WEIGHT
    from crackscope.maps.recipe import PixelStage, PseudoLabelOptions, get_preset
    from crackscope.maps.refine import RefineOptions
    from crackscope.maps.selftrain import SelfTrainOptions, self_train
    from crackscope.training.run import load_run
    from crackscope.unsupervised.run import load_restorer_run

    device = check_device(device)
    if restoration is not None and restorer is None:
        fail("--restoration weighs a restorer's error; give the restorer with --restorer RUN")
    if restorer is not None and teacher is not None:
        fail("--restorer adds to a first round's pseudo-labels; a --teacher round learns the teacher's masks instead")
    weight = 0.0 if restorer is None else (RESTORATION_WEIGHT if restoration is None else restoration)
    try:  # everything but the photos first: these are usage errors (2)
        refine = get_preset(preset or "refined").refine_options
        options = SelfTrainOptions(
            seconds=minutes * 60, seed=seed, device=device, restorer=None if restorer is None else str(restorer)
        )
        if refine_options is not None:
            refine = RefineOptions.from_json(refine_options)
        stage = PixelStage(
            out_dir.name,
            refine=refine,
            labels=PseudoLabelOptions(
                outside_lines_unlabelled=outside_lines_unlabelled,
                blobs_background=blobs_background,
                restoration=weight,
            ),
            mask=RefineOptions.from_json(mask_options) if mask_options is not None else None,
        )
        loaded = load_run(run, device=device)
        if restorer is not None:
            load_restorer_run(restorer, device=device)  # a usage error (2) before any work
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
                loaded,
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
    data: list[Path] | None = typer.Argument(
        None,
        metavar="DATA...",
        help="One or more data sets in any layout (class folders, labelled files, images + masks).",
    ),
    out_dir: Path = typer.Option(
        ..., "--out", "-o", metavar="DIR", help="The run folder (an interrupted fit resumes in it)."
    ),
    sources: Path | None = typer.Option(
        None,
        "--sources",
        metavar="FILE",
        help="A TOML or JSON list of data folders with names and weights, instead of DATA.",
    ),
    minutes: float = typer.Option(20.0, "--minutes", help="Time budget for everything, in minutes."),
    preset: str | None = typer.Option(None, "--preset", "-p", help="Map recipe to train for (default: selftrained)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the training and the photo sample."),
    max_photos: int = typer.Option(400, "--max-photos", help="Most photos self-training reads (a seeded sample)."),
    restorer: Path | None = typer.Option(
        None,
        "--restorer",
        metavar="RUN",
        help="A restorer run whose error the pseudo-labels fuse (presets such as selftrained-restorer).",
    ),
    photos: list[Path] | None = typer.Option(
        None,
        "--photos",
        metavar="PATH",
        help="Photos of the surfaces you will map, no labels needed (a file, folder or glob; repeatable): "
        "self-training learns them beside DATA's photos.",
    ),
    layout: str | None = LAYOUT_OPTION,
    device: str = DEVICE_OPTION,
) -> None:
    """Train a classifier and the pixel models its map preset needs, in one run folder; then `crackscope map RUN`."""
    from crackscope.cli.model_commands import training_data
    from crackscope.errors import CrackscopeError
    from crackscope.maps.fit import FitOptions, fit

    check_layout(layout)
    device = check_device(device)
    main = is_main_process()
    folders, fit_data = training_data(data, sources, layout=layout, resume=False)
    if fit_data is None:  # only when resuming, which fit does by itself
        fail("give one or more DATA folders, or --sources FILE")
    try:
        options = FitOptions(
            minutes=minutes,
            seed=seed,
            max_photos=max_photos,
            layout=layout,
            device=device,
            restorer=None if restorer is None else str(restorer),
            photos=tuple(photos or ()),
        )
        with progress_bars(main) as bars:
            res = fit(fit_data, out_dir, preset=preset, options=options, on_progress=bars)
    except (CrackscopeError, ValueError, OSError) as exc:
        fail_for_data(exc, folders[0] if len(folders) == 1 else None)
    if not main:
        return
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
    pred_dir: Path = typer.Argument(..., metavar="PRED", help="A `crackscope map` output folder or a folder of masks."),
    gt_dir: Path = typer.Argument(..., metavar="GT", help="Ground-truth masks (matched by file stem)."),
    tol: float = typer.Option(
        2.0, "--tol", help="Pixel tolerance of the tolerant scores (2, the usual in crack papers; 0: exact only)."
    ),
    prob_dir: Path | None = typer.Option(
        None, "--prob", metavar="DIR", help="Probability maps (default: PRED/probability)."
    ),
    out_dir: Path | None = typer.Option(
        None, "--out", "-o", metavar="DIR", help="Folder for scores.json and pr_curve.png."
    ),
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
