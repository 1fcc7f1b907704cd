"""Map recipes: how a run maps a photo (and, for ``crackscope fit``, how its models are trained), as typed,
frozen values; named presets are registered here and shipped with the package.

A :class:`MapRecipe` holds everything that decides a map: the route (a classifier's class maps, or a
UP-CrackNet restorer), the CAM method and layer, tiling, the refinement settings, the gate, the pixel models
and their mask settings. ``crackscope fit`` stores the recipe it trained for in the run folder
(``map_recipe.json``), so ``crackscope map RUN`` maps with it and no further option.

Presets are written in Python in :mod:`crackscope.maps.presets` with :func:`register_preset`, and listed by
:func:`list_presets` (``crackscope presets``)::

    >>> from crackscope.maps.recipe import get_preset
    >>> get_preset("cam").refine
    False
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

from crackscope.data.augment import RobustAugment
from crackscope.errors import BadInputError
from crackscope.maps.base import reject_unknown_fields
from crackscope.maps.exposure import ExposureOptions
from crackscope.maps.no_data import NoDataOptions
from crackscope.maps.refine import RefineOptions
from crackscope.maps.scale import ScaleOptions
from crackscope.training.options import check_precision

Gate = Literal["photo", "pixels"]
Route = Literal["classifier", "restorer"]
GATES: tuple[Gate, ...] = ("photo", "pixels")
ROUTES: tuple[Route, ...] = ("classifier", "restorer")
#: the file in a run folder that records the recipe the run was fitted for
RECIPE_FILE = "map_recipe.json"
#: the folder in a run folder that holds the pixel models ``fit`` trained, one sub-folder each
PIXEL_MODELS_DIR = "pixel-models"


@dataclass(frozen=True)
class PseudoLabelOptions:
    """How refined maps become self-training targets (:func:`crackscope.maps.selftrain.pseudo_labels`).

    ``negative_below``: response (of the refinement's dark-line filter, in [0, 1]) below which a pixel inside
    the region is background; ``outside_dilation``: px the region grows by before everything outside it is
    background; ``ring``: px around each positive left unlabelled (crack borders are uncertain);
    ``outside_lines_unlabelled``: outside the region only weak responses are background, line-like pixels
    are left unlabelled (the classifier's map can miss a faint crack; calling it background would teach the
    network to miss such cracks everywhere); ``blobs_background``: dark spots that the refinement's shape
    filter rejects (connected parts of the response at or above ``min_response`` whose fill exceeds
    ``max_fill``: pores, stains) are background even outside the region. ``restoration``: weight of a
    UP-CrackNet restorer's error in the class map the labels are made from (0: the class map alone; above 0
    ``fit``/``selftrain`` need a restorer run, see :mod:`crackscope.maps.restoration_signal`), on the scale
    ``restoration_contrast`` times the photo's mean error -> 1.
    """

    negative_below: float = 0.15
    outside_dilation: int = 8
    ring: int = 1
    outside_lines_unlabelled: bool = False
    blobs_background: bool = False
    restoration: float = 0.0
    restoration_contrast: float = 16.0

    def __post_init__(self) -> None:
        if self.restoration < 0:
            raise ValueError(f"restoration must not be negative, got {self.restoration}")
        if not self.restoration_contrast > 0:
            raise ValueError(f"restoration_contrast must be positive, got {self.restoration_contrast}")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class PixelStage:
    """One self-training round of ``crackscope fit``: it trains the pixel model ``name``.

    A first round (``teacher`` None) learns pseudo-labels made from the class maps refined with ``refine``
    and labelled with ``labels``; a second round learns the masks of the earlier stage named ``teacher``.
    ``mask``: the mask settings stored with the model (None: the teacher's, else ``refine``). ``augment``: how
    the training crops are changed (None: turns, flips and a mild brightness and contrast jitter; see
    :class:`~crackscope.maps.selftrain.SelfTrainOptions`). ``precision``: what the pixel model trains in
    (``fp32``, ``bf16`` or ``auto``: bf16 where the device runs it natively).
    """

    name: str
    refine: RefineOptions = RefineOptions()
    labels: PseudoLabelOptions = PseudoLabelOptions()
    teacher: str | None = None
    mask: RefineOptions | None = None
    augment: RobustAugment | None = None
    precision: str = "fp32"

    def __post_init__(self) -> None:
        try:
            check_precision(self.precision)
        except ValueError as exc:
            raise ValueError(f"stage {self.name!r}: {exc}") from None

    @property
    def fuses_restoration(self) -> bool:
        """Whether the stage's targets fuse a restorer's error (a first round with ``labels.restoration`` > 0)."""
        return self.teacher is None and self.labels.restoration > 0

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "refine": self.refine.as_dict(),
            "labels": self.labels.as_dict(),
            "teacher": self.teacher,
            "mask": None if self.mask is None else self.mask.as_dict(),
            "augment": None if self.augment is None else self.augment.to_dict(),
            "precision": self.precision,
        }


@dataclass(frozen=True)
class ClassifierPlan:
    """How ``crackscope fit`` trains the classifier: model name, input size, epochs and the share of the
    time budget it may use at most (it stops early when its epochs are done)."""

    model: str = "crackfast"
    image_size: int = 128
    epochs: int = 8
    share: float = 0.25


@dataclass(frozen=True)
class MapRecipe:
    """How a run maps a photo. Every field has a default; presets change a few.

    ``route``: ``"classifier"`` (class maps of a classifier run) or ``"restorer"`` (UP-CrackNet run).
    ``method``/``layer``: the CAM method and target layer (None: automatic). ``tile``: tile side in photo px
    (None: the patch size the classifier learned from); ``overlap``: tile overlap. ``refine``: refine the
    class map with the image (else the studies' Otsu threshold of the class map); ``refine_options``: the
    refinement or, with pixel models, the mask settings. ``gate``: ``"photo"`` empties the mask of a photo
    the classifier calls crack-free, ``"pixels"`` leaves it to the pixel evidence. ``pixel_models``: names
    of pixel models in the run's ``pixel-models/`` folder, or paths to ``crackscope selftrain`` folders
    (several: their mean probability). ``stages`` and ``classifier``: how ``crackscope fit`` trains the run
    (the pixel models are the stages named in ``pixel_models``). ``scale``: the scale photos are mapped at
    (:mod:`crackscope.maps.scale`; ``fit`` records the reference of the photos it was fitted on).
    ``photo_width``: mask settings whose half-maximum width rule of the photo's own dark-line profile every mask
    passes last, at the photo's resolution (:mod:`crackscope.maps.photo_width`); None: no such rule.
    ``photo_width_below``: that rule trims only the cracks whose mean width is below this many px (None: every
    crack).
    ``exposure``: the grey-level range of the photos the run was fitted on (``fit`` measures it) and whether maps
    stretch a dark, washed-out or flat photo into it (:mod:`crackscope.maps.exposure`; off unless asked for,
    ``map --exposure``); None: neither.
    ``no_data``: what counts as fill without image data around a rotated or stitched photo, left out of the maps
    (:mod:`crackscope.maps.no_data`); None: every pixel is mapped as photo.
    """

    route: Route = "classifier"
    method: str = "gradcam++"
    layer: str | None = None
    tile: int | None = None
    overlap: float = 0.25
    refine: bool = True
    refine_options: RefineOptions = RefineOptions()
    gate: Gate = "photo"
    pixel_models: tuple[str, ...] = ()
    stages: tuple[PixelStage, ...] = ()
    classifier: ClassifierPlan = ClassifierPlan()
    scale: ScaleOptions = ScaleOptions()
    photo_width: RefineOptions | None = None
    photo_width_below: float | None = None
    exposure: ExposureOptions | None = None
    no_data: NoDataOptions | None = NoDataOptions()
    name: str = "custom"

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise ValueError(f"unknown route {self.route!r}; choose one of {', '.join(ROUTES)}")
        if self.gate not in GATES:
            raise ValueError(f"unknown gate {self.gate!r}; choose one of {', '.join(GATES)}")
        if not 0 <= self.overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")
        if self.tile is not None and self.tile < 8:
            raise ValueError(f"tile must be at least 8 px, got {self.tile}")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names repeat: {names}")
        for i, stage in enumerate(self.stages):
            if stage.teacher is not None and stage.teacher not in names[:i]:
                raise ValueError(f"stage {stage.name!r}: teacher {stage.teacher!r} is not an earlier stage")
        if self.photo_width is not None and self.photo_width.half_max is None:
            raise ValueError("photo_width needs a width rule (half_max)")
        if self.photo_width_below is not None:
            if self.photo_width is None:
                raise ValueError("photo_width_below needs a photo_width rule")
            if not self.photo_width_below > 0:
                raise ValueError(f"photo_width_below must be a positive width in px, got {self.photo_width_below}")
        if self.stages:
            missing = [p for p in self.pixel_models if p not in names]
            if missing:
                raise ValueError(f"pixel models {missing} are not trained by any stage")

    @property
    def needs_restorer(self) -> bool:
        """Whether ``fit`` needs a restorer run: a stage's pseudo-labels use the restoration error."""
        return any(stage.fuses_restoration for stage in self.stages)

    def with_(self, **changes: object) -> MapRecipe:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def with_exposure(self, apply: bool) -> MapRecipe:
        """A copy that maps photos within the measured exposure range (``apply``) or as they are exposed.

        Raises
        ------
        ValueError
            If ``apply`` is asked for and the recipe has no measured exposure range.
        """
        if self.exposure is None or not self.exposure.measured:
            if apply:
                raise ValueError(
                    f"recipe {self.name!r} has no measured exposure range (`crackscope fit` measures it on the "
                    "photos it fits on)"
                )
            return self
        return self.with_(exposure=replace(self.exposure, apply=apply))

    def with_join_faint(self, fraction: float) -> MapRecipe:
        """A copy whose masks keep a crack's fainter stretches, down to ``fraction`` of the mask threshold, where
        they join it (``refine_options.hysteresis``; ``crackscope map --join-faint``, the web page's checkbox).

        Raises
        ------
        ValueError
            If ``fraction`` is not in (0, 1).

        Examples
        --------
        >>> get_preset("selftrained").with_join_faint(0.25).refine_options.hysteresis
        0.25
        """
        if not 0 < fraction < 1:
            raise ValueError(f"join_faint must be a fraction of the threshold in (0, 1), got {fraction:g}")
        return self.with_(refine_options=self.refine_options.with_(hysteresis=fraction))

    def to_dict(self) -> dict[str, object]:
        """JSON form (read back by :meth:`from_dict`)."""
        return {
            "name": self.name,
            "route": self.route,
            "method": self.method,
            "layer": self.layer,
            "tile": self.tile,
            "overlap": self.overlap,
            "refine": self.refine,
            "refine_options": self.refine_options.as_dict(),
            "gate": self.gate,
            "pixel_models": list(self.pixel_models),
            "stages": [s.as_dict() for s in self.stages],
            "classifier": asdict(self.classifier),
            "scale": self.scale.as_dict(),
            "photo_width": None if self.photo_width is None else self.photo_width.as_dict(),
            "photo_width_below": self.photo_width_below,
            "exposure": None if self.exposure is None else self.exposure.as_dict(),
            "no_data": None if self.no_data is None else self.no_data.as_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> MapRecipe:
        """The recipe written by :meth:`to_dict`.

        Raises
        ------
        ValueError
            If a field is unknown or a value is out of range.
        """
        reject_unknown_fields(cls, data, what="recipe fields")
        d = dict(data)
        if "refine_options" in d:
            d["refine_options"] = RefineOptions.from_dict(cast(dict[str, Any], d["refine_options"]))
        if "pixel_models" in d:
            d["pixel_models"] = tuple(str(p) for p in cast(list[Any], d["pixel_models"]))
        if "stages" in d:
            d["stages"] = tuple(_stage_from_dict(cast(dict[str, Any], s)) for s in cast(list[Any], d["stages"]))
        if "classifier" in d:
            d["classifier"] = ClassifierPlan(**cast(dict[str, Any], d["classifier"]))
        if "scale" in d:
            d["scale"] = ScaleOptions.from_dict(cast(dict[str, Any], d["scale"]))
        if d.get("photo_width") is not None:
            d["photo_width"] = RefineOptions.from_dict(cast(dict[str, Any], d["photo_width"]))
        if d.get("exposure") is not None:
            d["exposure"] = ExposureOptions.from_dict(cast(dict[str, Any], d["exposure"]))
        if d.get("no_data") is not None:
            d["no_data"] = NoDataOptions.from_dict(cast(dict[str, Any], d["no_data"]))
        return cls(**d)  # type: ignore[arg-type]

    def save(self, run_dir: str | Path) -> Path:
        """Write this recipe into a run folder (``map_recipe.json``)."""
        from crackscope.io import write_json_atomic

        return write_json_atomic(Path(run_dir) / RECIPE_FILE, self.to_dict())


def _stage_from_dict(d: dict[str, object]) -> PixelStage:
    mask, augment = d.get("mask"), d.get("augment")
    return PixelStage(
        name=str(d["name"]),
        refine=RefineOptions.from_dict(cast(dict[str, Any], d.get("refine") or {})),
        labels=PseudoLabelOptions(**cast(dict[str, Any], d.get("labels") or {})),
        teacher=None if d.get("teacher") is None else str(d["teacher"]),
        mask=None if mask is None else RefineOptions.from_dict(cast(dict[str, Any], mask)),
        augment=None if augment is None else RobustAugment.from_dict(cast(dict[str, Any], augment)),
        precision=str(d.get("precision") or "fp32"),
    )


def read_run_recipe(run_dir: str | Path) -> MapRecipe | None:
    """The recipe a run folder was fitted for (``map_recipe.json``), or None if it has none.

    Raises
    ------
    BadInputError
        If the file exists but is not a valid recipe.
    """
    from crackscope.io import read_json_object

    path = Path(run_dir) / RECIPE_FILE
    if not path.is_file():
        return None
    data = read_json_object(path)
    try:
        return MapRecipe.from_dict(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise BadInputError(path, f"not a valid map recipe ({exc})") from None


# -- the preset registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """A named recipe with a one-line description."""

    name: str
    recipe: MapRecipe
    doc: str
    needs_fit: bool = field(default=False)


_PRESETS: dict[str, Preset] = {}


def register_preset(name: str, recipe: MapRecipe, *, doc: str) -> MapRecipe:
    """Register ``recipe`` under ``name`` (its ``name`` field is set to it); returns the registered recipe.

    Raises
    ------
    ValueError
        If ``name`` is taken.
    """
    if name in _PRESETS:
        raise ValueError(f"preset {name!r} is already registered")
    recipe = recipe.with_(name=name)
    _PRESETS[name] = Preset(name=name, recipe=recipe, doc=doc, needs_fit=bool(recipe.stages))
    return recipe


def _load_presets() -> None:
    import crackscope.maps.presets  # noqa: F401  (registers the shipped presets)


def list_presets() -> list[Preset]:
    """Every registered preset, in registration order."""
    _load_presets()
    return list(_PRESETS.values())


def get_preset(name: str) -> MapRecipe:
    """The recipe of a registered preset.

    Raises
    ------
    ValueError
        If no preset has that name (the message lists them).
    """
    _load_presets()
    if name not in _PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(_PRESETS)}")
    return _PRESETS[name].recipe
