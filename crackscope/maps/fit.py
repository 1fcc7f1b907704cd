"""``fit``: train everything a map preset needs, the classifier and its self-trained pixel models, in one run
folder within one time budget (``crackscope fit DATA --out RUN``).

1. The classifier (the preset's :class:`~crackscope.maps.recipe.ClassifierPlan`) learns DATA's labels (image
   + mask sets are cut into labelled patches; no mask is a pixel target), for at most ``plan.share`` of the
   budget. It is written into RUN as by ``crackscope train``.
2. Up to ``max_photos`` photos of DATA are read once and mapped once with the classifier's class maps.
3. Each :class:`~crackscope.maps.recipe.PixelStage` makes its targets (pseudo-labels of the refined maps, or
   an earlier stage's masks) and trains its pixel model into ``RUN/pixel-models/NAME``; the time left is
   shared equally by the stages left.
4. The recipe is stored as ``RUN/map_recipe.json``, so ``crackscope map RUN`` maps with it; ``RUN/fit.json``
   records what each step did and how long it took.

A run that was stopped resumes: a finished classifier or stage is kept (a stopped classifier continues from
its last epoch), and the rest gets the time budget of the new call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from crackscope.errors import BadInputError
from crackscope.maps.recipe import PIXEL_MODELS_DIR, MapRecipe, PixelStage
from crackscope.progress import OnProgress

#: the least training time a pixel stage gets, whatever is left of the budget
MIN_STAGE_SECONDS = 5.0
FIT_LOG = "fit.json"


@dataclass(frozen=True)
class FitOptions:
    """``minutes``: the whole budget; ``seed``: classifier and pixel models; ``max_photos``: most photos of
    DATA that self-training reads (a seeded sample of them when there are more); ``layout``: DATA's layout
    (None: detected)."""

    minutes: float = 20.0
    seed: int = 0
    max_photos: int = 400
    layout: str | None = None

    def __post_init__(self) -> None:
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

    dataset = load_dataset(data, layout=layout)
    paths = sorted({Path(s.path) for s in dataset.samples})
    if not paths:
        raise BadInputError(data, "no photo to self-train on")
    if len(paths) > max_photos:
        rng = np.random.default_rng(seed)
        paths = sorted(paths[i] for i in rng.choice(len(paths), size=max_photos, replace=False))
    return paths


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
    data: str | Path,
    out: str | Path,
    *,
    preset: MapRecipe | str | None = None,
    options: FitOptions = FitOptions(),
    on_progress: OnProgress | None = None,
) -> FitResult:
    """Train the classifier and every pixel model ``preset`` needs on DATA, into the run folder ``out``.

    ``preset``: a preset name or recipe (default :data:`~crackscope.maps.presets.DEFAULT_FIT_PRESET`). The
    budget ``options.minutes`` covers everything; see the module docstring for how it is shared. No mask is a
    training target (masks only cut the classifier's patch labels, as in ``crackscope train``).

    Raises
    ------
    BadInputError
        If DATA cannot be read, holds no photo, or the preset is not a classifier preset.
    """
    from crackscope.io import manifest, write_json_atomic
    from crackscope.maps.factory import resolve_recipe
    from crackscope.maps.presets import DEFAULT_FIT_PRESET
    from crackscope.training import TrainOptions, train

    started = time.perf_counter()
    deadline = started + options.minutes * 60
    data, out = Path(data), Path(out)
    recipe = resolve_recipe(out, preset if preset is not None else DEFAULT_FIT_PRESET)
    if recipe.route != "classifier":
        raise BadInputError(
            Path(recipe.name), "fit trains classifier presets; train a restorer with `crackscope train-restorer`"
        )
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
                time_limit=max(1.0, plan.share * (deadline - t)),
            ),
            resume=True,
            progress=on_progress is not None,
        )
    steps.append(StageRecord("classifier", round(time.perf_counter() - t, 1), resumed=resumed))

    photos = 0
    skipped: tuple[tuple[str, str], ...] = ()
    if recipe.stages:
        photos, skipped = _fit_stages(data, out, recipe, options, deadline, steps, on_progress)
    recipe.save(out)
    seconds = round(time.perf_counter() - started, 1)
    log = {
        "preset": recipe.name,
        "minutes": options.minutes,
        "seed": options.seed,
        "seconds": seconds,
        "photos": photos,
        "steps": [asdict(step) for step in steps],
        "skipped": [list(s) for s in skipped],
        "manifest": manifest(command="fit", inputs=[str(data)], settings=recipe.to_dict()),
    }
    write_json_atomic(out / FIT_LOG, log)
    return FitResult(out=out, recipe=recipe, steps=tuple(steps), photos=photos, skipped=skipped, seconds=seconds)


def _fit_stages(
    data: Path,
    out: Path,
    recipe: MapRecipe,
    options: FitOptions,
    deadline: float,
    steps: list[StageRecord],
    on_progress: OnProgress | None,
) -> tuple[int, tuple[tuple[str, str], ...]]:
    from crackscope.maps.classifier import ClassifierMapper
    from crackscope.maps.pixel_model import PixelPredictor, load_pixel_model, read_pixel_model_config
    from crackscope.maps.selftrain import SelfTrainOptions, class_maps, stage_labels, train_on_labels

    folders = {s.name: out / PIXEL_MODELS_DIR / s.name for s in recipe.stages}
    todo: Sequence[PixelStage] = [s for s in recipe.stages if not _stage_done(folders[s.name])]
    for stage in recipe.stages:
        if stage not in todo:
            steps.append(StageRecord(stage.name, 0.0, int(read_pixel_model_config(folders[stage.name])["steps"]), True))
    if not todo:
        return 0, ()
    t = time.perf_counter()
    paths = photo_paths(data, layout=options.layout, max_photos=options.max_photos, seed=options.seed)
    maps = class_maps(ClassifierMapper(out, recipe), paths, on_progress=on_progress)
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
            options=SelfTrainOptions(seconds=seconds, seed=options.seed),
            settings={"run": str(out), "method": recipe.method},
            on_progress=on_progress,
        )
        models[stage.name] = model
        steps.append(StageRecord(stage.name, round(time.perf_counter() - t, 1), int(model.config["steps"])))
    return len(maps.images), maps.skipped
