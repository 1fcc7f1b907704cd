"""``fit``: train everything a map preset needs, the classifier and its self-trained pixel models, in one run
folder within one time budget (``crackscope fit DATA --out RUN``).

1. The classifier (the preset's :class:`~crackscope.maps.recipe.ClassifierPlan`) learns DATA's labels (image
   + mask sets are cut into labelled patches; no mask is a pixel target), for at most ``plan.share`` of the
   budget. It is written into RUN as by ``crackscope train``.
2. The scale reference is measured on DATA's photos (``crackscope map`` brings every photo to it).
3. Up to ``max_photos`` photos of DATA (about half of them, with the rest from ``FitOptions.photos``: photos of
   the surfaces to be mapped, no labels, each as ``map`` shows it: fill painted, at the reference scale) are read
   once and mapped once with the classifier's class maps.
4. Each :class:`~crackscope.maps.recipe.PixelStage` makes its targets (pseudo-labels of the refined maps, or
   an earlier stage's masks) and trains its pixel model into ``RUN/pixel-models/NAME``; the time left is
   shared equally by the stages left.
5. The recipe (with the exposure range of DATA's photos) is stored as ``RUN/map_recipe.json``, so ``crackscope
   map RUN`` maps with it; ``RUN/fit.json`` records what each step did and how long it took.

A run that was stopped resumes: a finished classifier or stage is kept (a stopped classifier continues from
its last epoch), and the rest gets the time budget of the new call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from crackscope.errors import BadInputError
from crackscope.maps.exposure import ExposureOptions
from crackscope.maps.recipe import PIXEL_MODELS_DIR, MapRecipe, PixelStage, read_run_recipe
from crackscope.maps.scale import ScaleOptions
from crackscope.progress import OnProgress

if TYPE_CHECKING:
    from crackscope.data.sources import DataSource

#: the least training time a pixel stage gets, whatever is left of the budget
MIN_STAGE_SECONDS = 5.0
FIT_LOG = "fit.json"


@dataclass(frozen=True)
class FitOptions:
    """``minutes``: the whole budget; ``seed``: classifier and pixel models; ``max_photos``: most photos of
    DATA that self-training reads (a seeded sample of them when there are more); ``layout``: DATA's layout
    (None: detected); ``device``: where the classifier and the pixel models train and map (``auto``: CUDA when
    there is one); ``restorer``: a UP-CrackNet restorer run (``crackscope train-restorer``) whose restoration
    error the pseudo-labels of a preset like ``selftrained-restorer`` fuse into the class maps (needed by such a
    preset, unused by others); ``photos``: photos of the surfaces to be mapped, without labels (files, folders
    or glob patterns): self-training reads about half of its ``max_photos`` from them and half from DATA, each
    of them as ``crackscope map`` will show it (:func:`photo_as_mapped`: fill painted, resampled to the scale
    reference measured on DATA), so the pixel models also learn those surfaces; the classifier and the scale and
    exposure references stay DATA's.

    Raises
    ------
    ValueError
        Naming the field: a device name that is not one, ``minutes`` not positive, ``max_photos`` below 1.
    """

    minutes: float = 20.0
    seed: int = 0
    max_photos: int = 400
    layout: str | None = None
    device: str = "auto"
    restorer: str | None = None
    photos: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        from crackscope.devices import check_device_name

        given: object = self.photos
        one = isinstance(given, str | Path)  # a single path, not its characters
        object.__setattr__(self, "photos", (Path(str(given)),) if one else tuple(Path(p) for p in self.photos))
        check_device_name(self.device)
        if not self.minutes > 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")
        if self.max_photos < 1:
            raise ValueError(f"max_photos must be at least 1, got {self.max_photos}")


@dataclass(frozen=True)
class StageRecord:
    """One finished step of a fit: its name, seconds, and pixel-model training steps (0 for the classifier)."""

    name: str
    seconds: float
    steps: int = 0
    resumed: bool = False


@dataclass(frozen=True)
class FitResult:
    """A finished fit: the run folder, the recipe it maps with, its steps and the photos self-training used."""

    out: Path
    recipe: MapRecipe
    steps: tuple[StageRecord, ...]
    photos: int
    skipped: tuple[tuple[str, str], ...]
    seconds: float


def photo_paths(data: Path, *, layout: str | None, max_photos: int, seed: int) -> list[Path]:
    """The distinct photos of a data set (any layout), at most ``max_photos`` (a seeded sample, in name order).

    Raises
    ------
    BadInputError
        If the data set holds no photo.
    """
    from crackscope.data.layouts import load_dataset
    from crackscope.inputs import sample_paths

    dataset = load_dataset(data, layout=layout)
    if not dataset.samples:
        raise BadInputError(data, "no photo to self-train on")
    return sample_paths((s.path for s in dataset.samples), max_photos=max_photos, seed=seed)


FitData = Path | Sequence["DataSource"]


def fit_photos(data: FitData, *, options: FitOptions, max_photos: int) -> list[Path]:
    """The photos self-training (and the scale reference) reads: :func:`photo_paths` of DATA, or of each data
    source with an equal share of ``max_photos`` (each source in its own layout, else ``options.layout``).

    Raises
    ------
    BadInputError
        If a data set holds no photo.
    """
    if isinstance(data, Path):
        return photo_paths(data, layout=options.layout, max_photos=max_photos, seed=options.seed)
    share = max(1, max_photos // max(1, len(data)))
    paths: list[Path] = []
    for source in data:
        layout = source.layout or options.layout
        paths += photo_paths(source.path, layout=layout, max_photos=share, seed=options.seed)
    return paths


def target_photos(options: FitOptions) -> tuple[list[Path], list[tuple[str, str]]]:
    """The photo files ``options.photos`` name (in name order), and the entries inside its folders that could
    not be listed as photos, with the reason (left out, as unreadable photos are).

    Raises
    ------
    BadInputError
        Naming the input: a given path that does not exist, or a given folder or pattern holding no image file
        (a typo must not leave self-training without the photos it was given).
    """
    from crackscope.inputs import expand_inputs

    if not options.photos:
        return [], []
    paths, problems = expand_inputs(options.photos)
    given = {Path(str(p)) for p in options.photos}
    for where, problem in problems:
        if where in given:
            raise BadInputError(where, f"{problem} (given with --photos)")
    return sorted(paths), [(str(where), problem) for where, problem in problems]


def photo_as_mapped(image: np.ndarray, *, recipe: MapRecipe) -> np.ndarray:
    """``image`` as ``crackscope map`` shows it to a recipe's pixel models: its fill painted over (the recipe's
    ``no_data`` rule, :mod:`crackscope.maps.no_data`), then resampled to the recipe's scale
    (:func:`~crackscope.maps.scale.mapping_scale`). The opt-in exposure step is left out.

    Raises
    ------
    ValueError
        If ``image`` is not an HxWx3 uint8 array.
    """
    from crackscope.maps.base import check_image
    from crackscope.maps.no_data import without_no_data
    from crackscope.maps.scale import mapping_scale, resample

    image = check_image(image)
    if recipe.no_data is not None:
        image = without_no_data(image, options=recipe.no_data)
    return resample(image, mapping_scale(image, recipe.scale))


def scale_reference(data: FitData, scale: ScaleOptions, *, options: FitOptions) -> ScaleOptions:
    """``scale`` with the reference of DATA's photos (:func:`crackscope.maps.scale.reference_scale_of_files`, on a
    seeded sample of at most ``SCALE_REFERENCE_PHOTOS``; unreadable photos are left out, as in self-training)."""
    from crackscope.maps.scale import SCALE_REFERENCE_PHOTOS, reference_scale_of_files

    paths = fit_photos(data, options=options, max_photos=min(options.max_photos, SCALE_REFERENCE_PHOTOS))
    ref = reference_scale_of_files(paths)
    if ref is None:
        return scale
    return scale.with_(texture_period=ref.texture_period, max_line_width=ref.max_line_width)


def exposure_reference(data: FitData, exposure: ExposureOptions, *, options: FitOptions) -> ExposureOptions:
    """``exposure`` with the range of DATA's photos (:func:`crackscope.maps.exposure.exposure_reference_of_files`,
    on the photos the scale reference reads; unreadable photos are left out)."""
    from crackscope.maps.exposure import exposure_reference_of_files
    from crackscope.maps.scale import SCALE_REFERENCE_PHOTOS

    paths = fit_photos(data, options=options, max_photos=min(options.max_photos, SCALE_REFERENCE_PHOTOS))
    ref = exposure_reference_of_files(paths, max_photos=SCALE_REFERENCE_PHOTOS)
    return exposure if ref is None else replace(ref, apply=exposure.apply)


def _inputs(data: FitData) -> list[str]:
    return [str(data)] if isinstance(data, Path) else [str(s.path) for s in data]


def _classifier_done(out: Path) -> bool:
    from crackscope.runs import read_run_config

    if not (out / "config.json").is_file():
        return False
    return bool(read_run_config(out).get("complete", False))


def _stage_done(folder: Path) -> bool:
    from crackscope.maps.pixel_model import CONFIG_FILE, MODEL_FILE

    # the config is written after the weights: its presence marks a finished model
    return (folder / MODEL_FILE).is_file() and (folder / CONFIG_FILE).is_file()


def fit(
    data: str | Path | Sequence[DataSource],
    out: str | Path,
    *,
    preset: MapRecipe | str | None = None,
    options: FitOptions = FitOptions(),
    on_progress: OnProgress | None = None,
) -> FitResult:
    """Train the classifier and every pixel model ``preset`` needs on DATA, into the run folder ``out``.

    DATA is one data set, or several (:class:`~crackscope.data.sources.DataSource`, as ``crackscope.training.train``
    takes them: the classifier samples them in balance, self-training reads an equal share of photos of each).
    ``preset``: a preset name or recipe (default :data:`~crackscope.maps.presets.DEFAULT_FIT_PRESET`). The
    budget ``options.minutes`` covers everything; see the module docstring for how it is shared. No mask is a
    training target (masks only cut the classifier's patch labels, as in ``crackscope train``).

    Raises
    ------
    BadInputError
        If DATA cannot be read, holds no photo, the preset is not a classifier preset, or it fuses a restorer's
        error and ``options.restorer`` is not a restorer run.
    """
    from crackscope.io import manifest, write_json_atomic
    from crackscope.maps.factory import resolve_recipe
    from crackscope.maps.presets import DEFAULT_FIT_PRESET
    from crackscope.training import TrainOptions, train

    started = time.perf_counter()
    deadline = started + options.minutes * 60
    data = Path(data) if isinstance(data, str) else data if isinstance(data, Path) else tuple(data)
    out = Path(out)
    recipe = resolve_recipe(out, preset if preset is not None else DEFAULT_FIT_PRESET)
    if recipe.route != "classifier":
        raise BadInputError(
            Path(recipe.name), "fit trains classifier presets; train a restorer with `crackscope train-restorer`"
        )
    if recipe.needs_restorer:
        _check_restorer(recipe, options)  # before any training: a missing restorer is a one-line error
    targets, unlisted = target_photos(options)  # before any training too: a mistyped --photos is a one-line error
    plan = recipe.classifier
    steps: list[StageRecord] = []

    t = time.perf_counter()
    resumed = _classifier_done(out)
    if not resumed:
        train(
            data,
            out=out,
            options=TrainOptions(
                model=plan.model,
                epochs=plan.epochs,
                image_size=plan.image_size,
                seed=options.seed,
                layout=options.layout,
                device=options.device,
                time_limit=max(1.0, plan.share * (deadline - t)),
            ),
            resume=True,
            on_progress=on_progress,
        )
    steps.append(StageRecord("classifier", round(time.perf_counter() - t, 1), resumed=resumed))

    # the scale reference before self-training: the photos given with --photos are brought to it
    if recipe.scale.mode == "auto" and recipe.scale.texture_period is None:
        t = time.perf_counter()
        kept = read_run_recipe(out)
        if kept is not None and kept.name == recipe.name and kept.scale.texture_period is not None:
            recipe = recipe.with_(scale=kept.scale)  # measured by the fit this one resumes
            steps.append(StageRecord("scale reference", 0.0, resumed=True))
        else:
            recipe = recipe.with_(scale=scale_reference(data, recipe.scale, options=options))
            steps.append(StageRecord("scale reference", round(time.perf_counter() - t, 1)))
    photos = 0
    skipped: tuple[tuple[str, str], ...] = ()
    if recipe.stages:
        photos, skipped = _fit_stages(data, targets, out, recipe, options, deadline, steps, on_progress)
    skipped = tuple(unlisted) + skipped
    unmeasured = recipe.exposure
    if unmeasured is not None and not unmeasured.measured:
        t = time.perf_counter()
        kept = read_run_recipe(out)
        if kept is not None and kept.name == recipe.name and kept.exposure is not None and kept.exposure.measured:
            recipe = recipe.with_(exposure=kept.exposure)  # measured by the fit this one resumes
            steps.append(StageRecord("exposure reference", 0.0, resumed=True))
        else:
            recipe = recipe.with_(exposure=exposure_reference(data, unmeasured, options=options))
            steps.append(StageRecord("exposure reference", round(time.perf_counter() - t, 1)))
    recipe.save(out)
    seconds = round(time.perf_counter() - started, 1)
    log = {
        "preset": recipe.name,
        "minutes": options.minutes,
        "seed": options.seed,
        "restorer": options.restorer,
        "photos_given": [str(p) for p in options.photos],
        "seconds": seconds,
        "photos": photos,
        "steps": [asdict(step) for step in steps],
        "skipped": [list(s) for s in skipped],
        "manifest": manifest(command="fit", inputs=_inputs(data), settings=recipe.to_dict()),
    }
    write_json_atomic(out / FIT_LOG, log)
    return FitResult(out=out, recipe=recipe, steps=tuple(steps), photos=photos, skipped=skipped, seconds=seconds)


def _check_restorer(recipe: MapRecipe, options: FitOptions) -> None:
    """Raise BadInputError unless ``options.restorer`` opens as a restorer run (the preset fuses its error)."""
    from crackscope.runs import read_run_config, resolve_run_dir

    if options.restorer is None:
        raise BadInputError(
            Path(recipe.name),
            "this preset fuses a UP-CrackNet restorer's error into its pseudo-labels; give one with --restorer RUN "
            "(train it with `crackscope train-restorer`)",
        )
    where = resolve_run_dir(options.restorer)
    kind = read_run_config(where).get("kind")
    if kind != "restorer":
        raise BadInputError(where, f"--restorer needs a restorer run (`crackscope train-restorer`), this is {kind!r}")


def _fit_stages(
    data: FitData,
    targets: Sequence[Path],
    out: Path,
    recipe: MapRecipe,
    options: FitOptions,
    deadline: float,
    steps: list[StageRecord],
    on_progress: OnProgress | None,
) -> tuple[int, tuple[tuple[str, str], ...]]:
    from crackscope.inputs import sample_paths
    from crackscope.maps.classifier import ClassifierMapper
    from crackscope.maps.pixel_model import PixelPredictor, load_pixel_model, read_pixel_model_config
    from crackscope.maps.selftrain import SelfTrainOptions, class_maps, stage_labels, train_on_labels
    from crackscope.training.run import load_run

    folders = {s.name: out / PIXEL_MODELS_DIR / s.name for s in recipe.stages}
    todo: Sequence[PixelStage] = [s for s in recipe.stages if not _stage_done(folders[s.name])]
    for stage in recipe.stages:
        if stage not in todo:
            steps.append(StageRecord(stage.name, 0.0, int(read_pixel_model_config(folders[stage.name])["steps"]), True))
    if not todo:
        return 0, ()
    t = time.perf_counter()
    given = max(1, options.max_photos // 2) if targets else 0  # about half from --photos, the rest from DATA
    paths = fit_photos(data, options=options, max_photos=max(1, options.max_photos - given))
    restorer = None
    if any(s.fuses_restoration for s in todo) and options.restorer is not None:
        from crackscope.unsupervised.run import load_restorer_run

        restorer = load_restorer_run(options.restorer, device=options.device)
    mapper = ClassifierMapper(load_run(out, device=options.device), recipe)
    maps = class_maps(mapper, paths, restorer=restorer, on_progress=on_progress)
    if targets:
        chosen = sample_paths(targets, max_photos=given, seed=options.seed)
        as_mapped = partial(photo_as_mapped, recipe=recipe)
        maps += class_maps(mapper, chosen, restorer=restorer, prepare=as_mapped, on_progress=on_progress)
    steps.append(StageRecord("class maps", round(time.perf_counter() - t, 1)))
    models: dict[str, PixelPredictor] = {}
    for i, stage in enumerate(todo):
        t = time.perf_counter()
        teacher = None
        if stage.teacher is not None:
            teacher = models.get(stage.teacher) or load_pixel_model(folders[stage.teacher])
        labels = stage_labels(maps, stage, teacher=teacher, on_progress=on_progress)
        seconds = max(MIN_STAGE_SECONDS, (deadline - time.perf_counter()) / (len(todo) - i))
        model = train_on_labels(
            maps,
            labels,
            stage,
            folders[stage.name],
            teacher=teacher,
            options=SelfTrainOptions(
                seconds=seconds,
                seed=options.seed,
                device=options.device,
                augment=stage.augment,
                precision=stage.precision,
            ),
            settings={"run": str(out), "method": recipe.method}
            | ({"restorer": str(restorer.path)} if restorer is not None and stage.fuses_restoration else {}),
            on_progress=on_progress,
        )
        models[stage.name] = model
        steps.append(StageRecord(stage.name, round(time.perf_counter() - t, 1), int(model.config["steps"])))
    return len(maps.images), maps.skipped
