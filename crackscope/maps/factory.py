"""``make_mapper``: the one place a mapper is built, for a run and a recipe.

The CLI (``map``, ``selftrain``, ``explain``), the Python API, the web service, the HTML report and the demo all
call it, so one run and one photo give the same map everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from crackscope.devices import DeviceSpec
from crackscope.errors import BadInputError
from crackscope.maps.base import Mapper
from crackscope.maps.pixel_model import PixelPredictor, load_pixel_models
from crackscope.maps.recipe import PIXEL_MODELS_DIR, MapRecipe, get_preset, read_run_recipe
from crackscope.runs import resolve_run_dir, run_kind
from crackscope.training.run import ClassifierRun
from crackscope.unsupervised.run import RestorerRun

Run = ClassifierRun | RestorerRun


def default_recipe(run_dir: str | Path) -> MapRecipe:
    """The recipe a run maps with when none is named: the one it was fitted for (``map_recipe.json``), else
    the default preset of its kind (``DEFAULT_MAP_PRESET``: ``refined`` for classifiers, ``restorer-thin`` for
    restorers)."""
    from crackscope.maps.presets import DEFAULT_MAP_PRESET

    stored = read_run_recipe(resolve_run_dir(run_dir))
    if stored is not None:
        return stored
    kind = run_kind(run_dir)
    if kind not in DEFAULT_MAP_PRESET:
        raise BadInputError(Path(run_dir) / "config.json", f"unknown run kind {kind!r}")
    return get_preset(DEFAULT_MAP_PRESET[kind])


def resolve_recipe(run_dir: str | Path, recipe: MapRecipe | str | None = None) -> MapRecipe:
    """``recipe`` as a :class:`MapRecipe`: a preset name is looked up, None is :func:`default_recipe`.

    Raises
    ------
    BadInputError
        If a preset name is unknown (the message lists the presets).
    """
    if isinstance(recipe, MapRecipe):
        return recipe
    if recipe is None:
        return default_recipe(run_dir)
    try:
        return get_preset(recipe)
    except ValueError as exc:
        raise BadInputError(Path(recipe), str(exc)) from None


def pixel_model_paths(run_dir: Path, names: Sequence[str]) -> list[Path]:
    """Folders of the recipe's pixel models: ``RUN/pixel-models/NAME`` when it exists, else ``NAME`` as a path.

    Raises
    ------
    BadInputError
        If a pixel model is in neither place.
    """
    paths = []
    for name in names:
        inside = run_dir / PIXEL_MODELS_DIR / name
        if inside.is_dir():
            paths.append(inside)
        elif Path(name).is_dir():
            paths.append(Path(name))
        else:
            raise BadInputError(
                inside, "this recipe needs this pixel model; `crackscope fit` trains the pixel models of a preset"
            )
    return paths


def make_mapper(
    run: Run | str | Path,
    recipe: MapRecipe | str | None = None,
    *,
    batch_size: int = 64,
    device: DeviceSpec = "auto",
    pixel_model: PixelPredictor | None = None,
    class_map: bool = True,
) -> Mapper:
    """The mapper for ``run`` (a run folder, ``"builtin"``, or a loaded run) and ``recipe`` (a
    :class:`MapRecipe`, a preset name, or None for the run's own recipe, see :func:`default_recipe`).

    ``device``: where a run folder's models are loaded and run (``auto``: CUDA when there is one; a loaded run
    stays where it is). ``pixel_model``: a predictor to use instead of the recipe's pixel models (for example
    the exported ones of :mod:`crackscope.export`, run by onnxruntime). ``class_map=False``: a classifier run
    leaves the class map out (``MapResult.cam`` None) where the recipe's maps do not use it
    (:meth:`~crackscope.maps.classifier.ClassifierMapper.needs_class_map`), for callers that do not show it.

    Raises
    ------
    BadInputError
        If the run cannot be opened, the preset is unknown, the recipe's route does not fit the run's kind,
        or a pixel model the recipe needs is missing.
    DeviceError
        If ``device`` is not on this machine.
    """
    from crackscope.devices import module_device
    from crackscope.runs import open_run

    loaded = open_run(run, device=device) if isinstance(run, (str, Path)) else run
    run_dir = loaded.path
    chosen = resolve_recipe(run_dir, recipe)
    kind = "restorer" if isinstance(loaded, RestorerRun) else "classifier"
    if chosen.route != kind:
        raise BadInputError(run_dir, f"preset {chosen.name!r} maps with a {chosen.route} run, and this is a {kind} run")
    mapper: Mapper
    if isinstance(loaded, RestorerRun):
        from crackscope.unsupervised.mapper import RestorerMapper

        mapper = RestorerMapper(loaded, chosen)
    else:
        from crackscope.maps.classifier import ClassifierMapper

        if pixel_model is None and chosen.refine and chosen.pixel_models:
            models = load_pixel_models(pixel_model_paths(run_dir, chosen.pixel_models))
            pixel_model = models.to(module_device(loaded.model))  # beside the classifier
        mapper = ClassifierMapper(loaded, chosen, pixel_model=pixel_model, batch_size=batch_size, class_map=class_map)
    if chosen.scale.active:
        from crackscope.maps.scale import ScaledMapper

        # the recipe's width rule holds at the photo's own resolution too; on the restorer route the rule's
        # response is the restoration error, which exists only at the scale the photo was mapped at
        rule = chosen.refine_options if chosen.refine and chosen.route == "classifier" else None
        min_size = chosen.refine_options.min_size if chosen.refine else 0  # in pixels of the photo
        mapper = ScaledMapper(mapper, chosen.scale, width_rule=rule, min_size=min_size)
    if chosen.photo_width is not None:
        from crackscope.maps.photo_width import PhotoWidthMapper

        mapper = PhotoWidthMapper(mapper, chosen.photo_width, thin_below=chosen.photo_width_below)
    if chosen.exposure is not None and chosen.exposure.active:
        from crackscope.maps.exposure import ExposureMapper

        mapper = ExposureMapper(mapper, chosen.exposure)  # every step below sees the photo within the range
    if chosen.no_data is not None:
        from crackscope.maps.no_data import NoDataMapper

        mapper = NoDataMapper(mapper, chosen.no_data)  # outermost: every step sees the photo's data only
    return mapper
