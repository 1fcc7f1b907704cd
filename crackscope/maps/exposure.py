"""Exposure within the range a run learned on: a dark, washed-out or flat photo is mapped with its grey levels
stretched into the range of the photos the run was fitted on.

The pixel models and the classifier learn cracks at the brightness and contrast of their training photos; under a
bridge deck, in low sun or through haze a photo's crack is the same line at a third of the contrast, and the maps
lose most of it (``benchmarks/bench_exposure.py``). A photo's exposure is the median of its grey levels and their
spread (the interquartile range, which a crack's few dark pixels hardly move). ``fit`` records the range of both
over the photos it fits on (:func:`exposure_reference`, :class:`ExposureOptions`). With ``apply`` on,
:class:`ExposureMapper` maps a photo whose median lies outside the range, or whose spread lies below it, with one
linear grey-level map (the same for the three channels, so colours keep their balance) that moves the median to
the nearest end of the range and stretches the spread up to its low end; every other photo passes through
untouched. A spread above the range is never compressed: a photo with more contrast than the training photos
(coarse asphalt) hides no crack, and compressing it cost CRACK500's maps 0.05 exact F1 (recall 0.37 -> 0.32). The
maps come back at the photo's own size and place: only the pixels' values changed.

The rule is off in every preset (``apply=False``; ``crackscope map --exposure`` turns it on for one call): it was
made stretch-only after a look at held-out photos, and a default chosen after such a look would be chosen on them.
On held-out photos exposed like the fitted ones it changes little (DeepCrack -0.002 exact F1, CRACK500 the same);
on dark, washed-out or flat photos it recovers most of what they lose (``BENCHMARKS.md``, "Exposure").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

from crackscope.maps.base import Mapper, MapResult, check_image, reject_unknown_fields
from crackscope.progress import OnProgress

#: the share of the fitted photos left below and above the recorded range (chosen by benchmarks/bench_exposure.py)
EXPOSURE_SHARE = 0.1


class PhotoExposure(NamedTuple):
    """A photo's median grey level and the spread (interquartile range) of its grey levels, 0..255."""

    median: float
    spread: float


def exposure_of(image: np.ndarray) -> PhotoExposure:
    """The :class:`PhotoExposure` of an HxWx3 uint8 RGB photo (grey = OpenCV's luma; levels as whole numbers).

    Raises
    ------
    ValueError
        If ``image`` is not an HxWx3 uint8 array with pixels.

    Examples
    --------
    >>> photo = np.zeros((1, 4, 3), np.uint8)
    >>> photo[0, :, :] = np.array([10, 20, 30, 40])[:, None]
    >>> exposure_of(photo)
    PhotoExposure(median=20.0, spread=20.0)
    """
    grey = cv2.cvtColor(check_image(image), cv2.COLOR_RGB2GRAY)
    # the quantiles from one histogram: a single pass, where np.percentile would sort 13 MP
    cumulative = np.cumsum(cv2.calcHist([grey], [0], None, [256], [0, 256]).ravel()) / grey.size

    def level(share: float) -> float:
        return float(np.searchsorted(cumulative, share - 1e-9))

    return PhotoExposure(level(0.5), level(0.75) - level(0.25))


def _range(name: str, value: object, low: float, high: float) -> tuple[float, float]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"{name} must be a (low, high) pair, got {value!r}")
    lo, hi = value
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, int | float) or not low <= v <= high:
            raise ValueError(f"{name} must lie within [{low:g}, {high:g}], got {value!r}")
    if lo > hi:
        raise ValueError(f"{name} must have low <= high, got {value!r}")
    return float(lo), float(hi)


@dataclass(frozen=True)
class ExposureOptions:
    """The exposure range of the photos a run was fitted on: ``median`` and ``spread`` (low, high) in grey levels,
    as :func:`exposure_reference` measures them (both None: not measured yet; ``fit`` measures them), and whether
    maps ``apply`` it (:func:`within_exposure`; off by default).

    Raises
    ------
    ValueError
        Naming the field: only one of the two given, a pair out of [0, 255] (``spread`` at least 1), or low > high.

    Examples
    --------
    >>> ExposureOptions(median=(100, 200), spread=(10, 50)).measured
    True
    >>> ExposureOptions(median=(100, 200))
    Traceback (most recent call last):
    ...
    ValueError: median and spread are measured together: give both or neither
    """

    median: tuple[float, float] | None = None
    spread: tuple[float, float] | None = None
    apply: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.apply, bool):
            raise ValueError(f"apply must be True or False, got {self.apply!r}")
        if (self.median is None) != (self.spread is None):
            raise ValueError("median and spread are measured together: give both or neither")
        if self.median is not None:
            object.__setattr__(self, "median", _range("median", self.median, 0.0, 255.0))
        if self.spread is not None:
            object.__setattr__(self, "spread", _range("spread", self.spread, 1.0, 255.0))

    @property
    def measured(self) -> bool:
        """Whether the range is known (else the rule changes no photo)."""
        return self.median is not None

    @property
    def active(self) -> bool:
        """Whether maps apply the rule: measured and asked for."""
        return self.apply and self.measured

    def as_dict(self) -> dict[str, Any]:
        """JSON form (read back by :meth:`from_dict`)."""
        return {
            "median": None if self.median is None else list(self.median),
            "spread": None if self.spread is None else list(self.spread),
            "apply": self.apply,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExposureOptions:
        """The options written by :meth:`as_dict`.

        Raises
        ------
        ValueError
            If a field is unknown or a value is out of range.
        """
        reject_unknown_fields(cls, data, what="exposure fields")
        median, spread = data.get("median"), data.get("spread")
        return cls(
            median=None if median is None else tuple(median),
            spread=None if spread is None else tuple(spread),
            apply=data.get("apply", False),
        )


def exposure_reference(exposures: Iterable[PhotoExposure], *, share: float = EXPOSURE_SHARE) -> ExposureOptions:
    """The range of the photos' medians and spreads with ``share`` of the photos left below and above each.

    Raises
    ------
    ValueError
        If there is no exposure or ``share`` is not in [0, 0.5].

    Examples
    --------
    >>> ref = exposure_reference([PhotoExposure(100, 20), PhotoExposure(150, 30), PhotoExposure(200, 40)], share=0)
    >>> ref.median, ref.spread
    ((100.0, 200.0), (20.0, 40.0))
    """
    values = np.asarray([tuple(e) for e in exposures], np.float64)
    if values.size == 0:
        raise ValueError("no photo to measure an exposure range on")
    if not 0.0 <= share <= 0.5:
        raise ValueError(f"share must be within [0, 0.5], got {share}")
    low, high = np.quantile(values, [share, 1.0 - share], axis=0)
    return ExposureOptions(
        median=(round(float(low[0]), 2), round(float(high[0]), 2)),
        spread=(round(max(1.0, float(low[1])), 2), round(max(1.0, float(high[1])), 2)),
    )


def exposure_reference_of_files(
    paths: Sequence[Path], *, max_photos: int = 100, seed: int = 0, share: float = EXPOSURE_SHARE
) -> ExposureOptions | None:
    """:func:`exposure_reference` of the photo files ``paths`` (a seeded sample of at most ``max_photos``, as
    :func:`crackscope.inputs.sample_paths` draws it), photos that cannot be read left out; None when none can be.

    Raises
    ------
    ValueError
        If ``max_photos`` is below 1 or ``share`` is not in [0, 0.5].
    """
    from crackscope.inputs import INPUT_ERRORS, sample_paths
    from crackscope.io import read_image

    exposures = []
    for path in sample_paths(paths, max_photos=max_photos, seed=seed):
        try:
            exposures.append(exposure_of(read_image(path)))
        except INPUT_ERRORS:
            continue
    return exposure_reference(exposures, share=share) if exposures else None


def within_exposure(image: np.ndarray, options: ExposureOptions) -> np.ndarray:
    """``image`` with its grey levels mapped linearly so that its median lies in ``options``' range and its spread
    is at least the range's low end (a larger spread is kept); ``image`` itself (not a copy) when nothing is to
    change or the range is not measured (``apply`` is the mapper's business, not this function's).

    Raises
    ------
    ValueError
        If ``image`` is not an HxWx3 uint8 array with pixels.

    Examples
    --------
    >>> photo = np.zeros((1, 4, 3), np.uint8)
    >>> photo[0, :, :] = np.array([10, 20, 30, 40])[:, None]
    >>> within = within_exposure(photo, ExposureOptions(median=(100, 200), spread=(40, 80)))
    >>> within[0, :, 0].tolist(), exposure_of(within)
    ([80, 100, 120, 140], PhotoExposure(median=100.0, spread=40.0))
    """
    image = check_image(image)
    if options.median is None or options.spread is None:
        return image
    median, spread = exposure_of(image)
    target = float(np.clip(median, *options.median))
    gain = max(1.0, options.spread[0] / max(spread, 1.0))  # stretched up to the range, never compressed
    if target == median and gain == 1.0:
        return image
    table = np.clip(np.rint((np.arange(256) - median) * gain + target), 0, 255).astype(np.uint8)
    return np.asarray(cv2.LUT(image, table))


class ExposureMapper:
    """A :class:`~crackscope.maps.base.Mapper` whose ``inner`` maps each photo :func:`within_exposure` of
    ``options`` (photos within the range pass through untouched); the maps are ``inner``'s. ``make_mapper`` puts
    it in only where ``options.active``."""

    def __init__(self, inner: Mapper, options: ExposureOptions) -> None:
        self.inner = inner
        self.options = options

    def settings(self) -> Mapping[str, object]:
        return {**self.inner.settings(), "exposure": self.options.as_dict()}

    def map_image(
        self, image: np.ndarray, *, name: str | None = None, on_progress: OnProgress | None = None
    ) -> MapResult:
        return self.inner.map_image(within_exposure(image, self.options), name=name, on_progress=on_progress)
