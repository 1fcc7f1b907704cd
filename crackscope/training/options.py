"""A training run's settings: ``TrainOptions`` (what the caller asks for) and ``TrainSettings`` (resolved).

``TrainOptions`` is checked once, when it is made; a field left ``None`` takes the model's registered
recipe default. ``TrainOptions.resolve()`` looks the model up and gives ``TrainSettings``: every value
concrete, which ``config.json`` stores under ``options`` and ``train(..., resume=True)`` reads back.
The settings both share (``RunOptions``: seed, split fractions, patching, limits, caches) pass from one
to the other unchanged.

This module imports neither torch nor the model registry until ``resolve`` runs, so the CLI can build
options cheaply.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import Field, asdict, dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("none", "cosine")
PRECISIONS = ("bf16", "fp32")
#: the widest weight average: every step's weights alike (``crackscope.training.averaging``, gamma 0)
MAX_WEIGHT_AVERAGE = 1.0 / math.sqrt(12.0)
DEFAULT_CACHE_LIMIT = 2 * 1024**3  # bytes of resized training pixels kept in memory
DEFAULT_PHOTO_CACHE_LIMIT = 256 * 1024**2  # bytes of decoded photos kept while cutting patches

_EMPTY: Mapping[str, object] = MappingProxyType({})

# Whole-number fields and their smallest value.
_WHOLE = {
    "seed": 0,
    "patch_size": 0,
    "stride": 1,
    "threads": 1,
    "max_steps": 1,
    "cache_limit": 0,
    "photo_cache_limit": 0,
    "epochs": 1,
    "image_size": 8,
    "batch_size": 1,
    "patience": 0,
    "num_workers": 0,
}
# Real-valued fields: (low, high, low end open, high end open, wording of the range).
_Limits = tuple[float, float, bool, bool, str]
_AT_LEAST_0: _Limits = (0.0, math.inf, False, False, "a number >= 0")
_REAL: dict[str, _Limits] = {
    "target_recall": (0.0, 1.0, True, False, "in (0, 1]"),
    "time_limit": (0.0, math.inf, True, False, "a number of seconds > 0"),
    "min_delta": _AT_LEAST_0,
    "lr": (0.0, math.inf, True, False, "a number > 0"),
    "momentum": _AT_LEAST_0,
    "weight_decay": _AT_LEAST_0,
    "label_smoothing": (0.0, 1.0, False, True, "in [0, 1)"),
    "warmup_epochs": _AT_LEAST_0,
    "weight_average": (0.0, MAX_WEIGHT_AVERAGE, False, False, "0 (off) or a relative width in (0, 0.2887]"),
}


def _fail(name: str, expected: str, value: object) -> ValueError:
    return ValueError(f"{name} must be {expected}, got {value!r}")


def _whole(name: str, value: object, *, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools and fractions are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise _fail(name, f"a whole number >= {minimum}", value)
    return int(value)


def _real(name: str, value: object, limits: _Limits) -> float:
    """``value`` as a finite float within ``limits``."""
    low, high, open_low, open_high, expected = limits
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(name, expected, value)
    number = float(value)
    above = number > low if open_low else number >= low
    below = number < high if open_high else number <= high
    if not (math.isfinite(number) and above and below):
        raise _fail(name, expected, value)
    return number


def _choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise _fail(name, f"one of {', '.join(choices)}", value)
    return value.lower()


def _fractions(name: str, value: object) -> tuple[float, float, float]:
    expected = "three numbers (train, val, test) >= 0 that sum to 1, train > 0"
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise _fail(name, expected, value)
    try:
        train, val, test = (_real(name, f, _AT_LEAST_0) for f in value)
    except ValueError:
        raise _fail(name, expected, value) from None
    if train <= 0 or abs(train + val + test - 1.0) > 1e-6:
        raise _fail(name, expected, value)
    return train, val, test


def _path(name: str, value: object) -> object:
    if not isinstance(value, (str, Path)) or not str(value):
        raise _fail(name, "a file path", value)
    return value


def _model_options(name: str, value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise _fail(name, "a mapping of builder options with string keys", value)
    return MappingProxyType(dict(value))


def _model(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(name, "a registered model name", value)
    return value


def _device(name: str, value: object) -> str:
    from crackscope.devices import check_device_name
    from crackscope.errors import DeviceError

    try:
        return check_device_name(value)
    except DeviceError:
        raise _fail(name, "auto, cpu, cuda, cuda:N or mps", value) from None


def _choices() -> dict[str, tuple[str, ...]]:
    from crackscope.data.augment import PRESETS
    from crackscope.data.layouts import LAYOUTS

    return {"layout": LAYOUTS, "augment": PRESETS, "optimizer": OPTIMIZERS, "scheduler": SCHEDULERS}


_SPECIAL: dict[str, Callable[[str, object], object]] = {
    "fractions": _fractions,
    "device": _device,
    "model": _model,
    "split": _path,
    "weights": _path,
    "model_options": _model_options,
    "precision": lambda name, value: _choice(name, value, ("auto", *PRECISIONS)),
}


def _normalise(obj: RunOptions, names: list[str]) -> None:
    """Check the fields ``names`` of the frozen dataclass ``obj`` and store their normalised values.

    None passes where it is the field's default. Raises ValueError naming the first bad field.
    """
    defaults = {f.name: f.default for f in fields(obj)}
    choices = _choices()
    for name in names:
        value = getattr(obj, name)
        if value is None and defaults[name] is None:
            continue
        if name in _WHOLE:
            value = _whole(name, value, minimum=_WHOLE[name])
        elif name in _REAL:
            value = _real(name, value, _REAL[name])
        elif name in choices:
            value = _choice(name, value, choices[name])
        else:
            value = _SPECIAL[name](name, value)
        object.__setattr__(obj, name, value)


def _own_fields(cls: type[RunOptions], base: type[RunOptions]) -> list[str]:
    inherited = {f.name for f in fields(base)}
    return [f.name for f in fields(cls) if f.name not in inherited]


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """The settings ``TrainOptions`` hands to ``TrainSettings`` unchanged (documented in ``TrainOptions``).

    Raises
    ------
    ValueError
        When made with a value out of range, naming the field.
    """

    seed: int = 0
    target_recall: float | None = None
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    layout: str | None = None
    patch_size: int | None = None
    stride: int | None = None
    num_workers: int = 0
    threads: int = 2
    time_limit: float | None = None
    max_steps: int | None = None
    min_delta: float = 0.0
    weight_average: float = 0.0
    cache_limit: int = DEFAULT_CACHE_LIMIT
    photo_cache_limit: int = DEFAULT_PHOTO_CACHE_LIMIT

    def __post_init__(self) -> None:
        _normalise(self, [f.name for f in fields(RunOptions)])


@dataclass(frozen=True, kw_only=True)
class RunRecipe:
    """A model's training recipe resolved for one run: every ``Recipe`` field, plus the schedule.

    Stored as ``config.json["recipe"]`` (the same keys runs have always had).

    Attributes
    ----------
    optimizer : str
        ``adam``, ``adamw`` or ``sgd``.
    lr : float
        Learning rate.
    momentum : float
        SGD momentum (ignored by Adam and AdamW).
    weight_decay : float
        Optimiser weight decay.
    label_smoothing : float
        Keras-style label smoothing in [0, 1).
    epochs : int
        Maximum number of epochs.
    patience : int
        Early-stopping patience in epochs (0 = never stop early).
    batch_size : int
        Training batch size.
    image_size : int
        Square input size in pixels.
    augment : str
        Augmentation preset (``crackscope.data.augment.PRESETS``).
    monitor : str
        What early stopping watches (always ``val_loss``).
    scheduler : str
        Learning-rate schedule, ``none`` or ``cosine``.
    warmup_epochs : float
        Linear warm-up of the ``cosine`` schedule, in epochs.
    """

    optimizer: str
    lr: float
    momentum: float
    weight_decay: float
    label_smoothing: float
    epochs: int
    patience: int
    batch_size: int
    image_size: int
    augment: str
    monitor: str
    scheduler: str
    warmup_epochs: float


# TrainOptions fields that replace a field of the model's ``Recipe`` when set.
_RECIPE_OPTIONS = (
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "label_smoothing",
    "epochs",
    "patience",
    "batch_size",
    "image_size",
    "augment",
)


@dataclass(frozen=True, kw_only=True)
class TrainOptions(RunOptions):
    """What a caller asks of a training run (keywords only); ``None`` means the model's recipe default.

    Every value is checked when the options are made, ``dataclasses.replace`` copies included
    (``ValueError`` naming the field); whether ``model`` is registered is checked by ``resolve``.

    Attributes
    ----------
    model : str or None
        Registered model name; None: ``crackscope.models.DEFAULT_MODEL``.
    epochs : int or None
        Maximum epochs (>= 1). On resume it may raise the stored count.
    image_size : int or None
        Square input size in pixels (>= 8).
    batch_size : int or None
        Training batch size (>= 1).
    seed : int
        Seed of the split, initialisation, shuffling and augmentation (>= 0).
    augment : str or None
        Augmentation preset: ``none``, ``rot90-flip`` or ``keras-v3``.
    target_recall : float or None
        Choose the decision threshold on validation data for this recall, in (0, 1]; None: 0.5.
    lr : float or None
        Learning rate (> 0).
    optimizer : str or None
        ``adam``, ``adamw`` or ``sgd``.
    momentum : float or None
        SGD momentum (>= 0).
    weight_decay : float or None
        Optimiser weight decay (>= 0).
    label_smoothing : float or None
        Keras-style label smoothing, in [0, 1).
    patience : int or None
        Early-stopping patience in epochs (>= 0; 0 = off).
    scheduler : str or None
        ``none`` or ``cosine``; None: ``cosine`` for models tagged ``fast``, else ``none``.
    warmup_epochs : float
        Linear warm-up of the ``cosine`` schedule, in epochs (>= 0).
    precision : str
        ``bf16``, ``fp32`` or ``auto`` (bf16 where the device runs bfloat16 natively: a CPU with AVX-512 BF16 or
        AMX, a CUDA GPU from Ampere on).
    device : str
        ``auto`` (a CUDA GPU when one is visible, else MPS, else the CPU), ``cpu``, ``cuda``, ``cuda:N`` or
        ``mps`` (``crackscope.devices.resolve_device``). Where the run trains, not a setting of the run: it is
        recorded in ``config.json["device"]``, and a resumed run trains on the device asked for now. Under
        ``torchrun`` each process takes the GPU of its ``LOCAL_RANK``.
    split : str, Path or None
        An existing split CSV to reuse instead of drawing a seeded split.
    fractions : tuple of float
        Train, validation and test shares of a drawn split (>= 0, summing to 1, train > 0).
    layout : str or None
        Dataset layout (``crackscope.data.layouts.LAYOUTS``); None: detected.
    patch_size : int or None
        Patch size for image + mask data (>= 0; 0 = whole photos; None: automatic).
    stride : int or None
        Patch stride for image + mask data (>= 1; None: the patch size).
    weights : str, Path or None
        Pretrained backbone weights (vgg16, resnet50).
    model_options : Mapping or None
        Keyword options of the model builder (for example ``{"width": 16}``); stored read-only.
    num_workers : int
        DataLoader worker processes (>= 0). Training pixels are decoded once into memory, so 0 suits the CPU; a
        GPU may want a few (``crackscope.devices.suggested_num_workers``).
    threads : int
        Torch threads while training (>= 1); the previous count is restored afterwards.
    time_limit : float or None
        Seconds of training (validation included), > 0; the epoch in progress ends early. With the
        ``cosine`` schedule the decay then follows the time used (not bit-for-bit reproducible).
    max_steps : int or None
        Batches per epoch at most (>= 1; smoke runs and tests).
    min_delta : float
        Smallest drop of the validation loss that counts as better (>= 0).
    weight_average : float
        0: validate and keep the trained weights. Else validate and keep an average of the weights over the
        training steps (``crackscope.training.averaging``, a power-function EMA) of this relative width, in
        (0, 1/sqrt(12)]: 0.1 weighs about the last fifth of the run most.
    cache_limit : int
        Bytes of resized training pixels kept in memory (>= 0); a split larger than this is decoded
        every epoch.
    photo_cache_limit : int
        Bytes of decoded photos the run's ``PhotoCache`` keeps while cutting patches (>= 0).

    Raises
    ------
    ValueError
        When made with a value out of range or of the wrong kind, naming the field.
    """

    model: str | None = None
    epochs: int | None = None
    image_size: int | None = None
    batch_size: int | None = None
    augment: str | None = None
    lr: float | None = None
    optimizer: str | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    label_smoothing: float | None = None
    patience: int | None = None
    scheduler: str | None = None
    warmup_epochs: float = 0.0
    precision: str = "auto"
    split: str | Path | None = None
    weights: str | Path | None = None
    model_options: Mapping[str, object] | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        _normalise(self, _own_fields(TrainOptions, RunOptions))

    def resolve(self) -> TrainSettings:
        """These options over the model's registered recipe: every setting of the run, concrete.

        Returns
        -------
        TrainSettings
            Frozen; ``precision`` ``auto`` becomes ``bf16`` or ``fp32`` for ``device`` on this machine.

        Raises
        ------
        ValueError
            If ``model`` is not a registered model.
        DeviceError
            If ``device`` is not on this machine.
        """
        from crackscope.devices import resolve_device
        from crackscope.models import DEFAULT_MODEL, get_model_info

        info = get_model_info(self.model or DEFAULT_MODEL)
        recipe = asdict(info.recipe)
        recipe.update({name: getattr(self, name) for name in _RECIPE_OPTIONS if getattr(self, name) is not None})
        # The fast models' recipes assume a per-step cosine decay (see crackscope/models/fast.py); the
        # Recipe has no schedule field, so the tag decides.
        recipe["scheduler"] = self.scheduler or ("cosine" if "fast" in info.tags else "none")
        recipe["warmup_epochs"] = self.warmup_epochs
        return TrainSettings(
            **{f.name: getattr(self, f.name) for f in fields(RunOptions)},
            model=info.name,
            recipe=RunRecipe(**recipe),
            precision=resolve_precision(self.precision, device=resolve_device(self.device).type),
            split=None if self.split is None else str(Path(self.split)),
            weights=None if self.weights is None else str(Path(self.weights)),
            model_options=self.model_options if self.model_options is not None else _EMPTY,
        )


@dataclass(frozen=True, kw_only=True)
class TrainSettings(RunOptions):
    """Every setting of one run, concrete: ``TrainOptions`` resolved against the model's recipe.

    ``to_dict()`` is what ``config.json`` stores under ``options``; ``from_dict`` reads it back on resume.
    The fields mean what the ``TrainOptions`` fields of the same name mean; ``recipe`` holds the recipe
    fields (epochs, image size, batch size, augmentation, optimiser, schedule, ...) and ``precision`` is
    ``bf16`` or ``fp32``.

    Raises
    ------
    ValueError
        When made with a value out of range, naming the field.
    """

    model: str
    recipe: RunRecipe
    precision: str
    split: str | None = None
    weights: str | None = None
    model_options: Mapping[str, object] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        super().__post_init__()
        _model("model", self.model)
        _choice("precision", self.precision, PRECISIONS)

    def to_dict(self) -> dict[str, object]:
        """The settings as JSON-able values (``config.json["options"]``)."""
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["recipe"] = asdict(self.recipe)
        out["fractions"] = list(self.fractions)
        out["model_options"] = dict(self.model_options)
        return out

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> TrainSettings:
        """Settings stored by ``to_dict`` (keys it does not know, as older runs stored, are ignored).

        Raises
        ------
        ValueError
            If a setting or recipe field is missing or out of range.
        """
        known: dict[str, Field[Any]] = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {key: value for key, value in stored.items() if key in known and key != "recipe"}
        recipe_fields = {f.name for f in fields(RunRecipe)}
        recipe = {key: value for key, value in dict(stored.get("recipe") or {}).items() if key in recipe_fields}
        recipe.setdefault("scheduler", "none")
        recipe.setdefault("warmup_epochs", 0.0)
        values["model_options"] = MappingProxyType(dict(values.get("model_options") or {}))
        try:
            return cls(recipe=RunRecipe(**recipe), **values)
        except TypeError as exc:
            raise ValueError(f"stored training settings are incomplete ({exc})") from None

    def with_epochs(self, epochs: int) -> TrainSettings:
        """The same settings with another maximum number of epochs (resume may raise it)."""
        return replace(self, recipe=replace(self.recipe, epochs=int(epochs)))


def check_precision(precision: str) -> str:
    """``precision`` if it is ``auto``, ``bf16`` or ``fp32`` (a setting before :func:`resolve_precision` resolves it).

    Raises
    ------
    ValueError
        If it is none of them.
    """
    if precision != "auto" and precision not in PRECISIONS:
        raise ValueError(f"precision must be 'auto' or one of {PRECISIONS}, got {precision!r}")
    return precision


def resolve_precision(precision: str, *, device: str = "cpu") -> str:
    """``auto`` as ``bf16`` where ``device`` (a device type: ``cpu``, ``cuda``, ``mps``) runs bfloat16 natively,
    else ``fp32``; others unchanged. Training has no gradient scaler, so ``auto`` never means float16.

    Raises
    ------
    ValueError
        If ``precision`` is not ``auto``, ``bf16`` or ``fp32``.
    """
    if check_precision(precision) == "auto":
        from crackscope.devices import resolve_precision as for_device

        return for_device(device, "auto", fp16=False)
    return precision
