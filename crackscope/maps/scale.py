"""Mapping at the scale a run learned: estimate how a photo's pixel scale compares with the run's training photos,
resample the photo to match, map, and bring the maps back to the photo's size.

A run's pixel models, CAM tiles and refinement sizes are all in pixels of the photos it was fitted on. A photo taken
closer, or upscaled, shows the same cracks several times wider and its texture several times coarser, and the maps
fail (a 4x upscaled DeepCrack photo found no crack at all). Two measures of a photo, each *equivariant*: resize the
photo by ``k`` and the measure is multiplied by about ``k``:

- :func:`texture_period`: the gradient-energy-weighted mean period of the photo's spectrum (in px). It rises with
  blur and with coarser surface grain, so it tells an upsampled or soft photo from a sharp one at the training
  scale. Measured on 40 DeepCrack training photos: 2x and 4x upscaled copies give 2.26x and 4.01x the period.
  A photo *down*-sampled from a sharp one keeps a similar period (its spectrum is self-similar), so the
  measure does not ask to upsample a sharp small photo much; ``max_upscale`` caps it anyway.
- :func:`line_width`: the dominant dark-line width (px) from scale-normalised ridge strength (Lindeberg's
  :math:`\\sigma^2 \\lambda_{max}` of the Hessian) over a Gaussian pyramid, median over the strongest 1 % of
  pixels. Cracks in a sharp close-up photo are wide while its texture period may look normal; this catches them.

``crackscope fit`` stores the run's reference (the median texture period and the 90th percentile line width of the
photos it was fitted on) in the run's recipe (:class:`ScaleOptions`). :func:`mapping_scale` then resamples a photo
by ``reference period / photo period`` when that ratio leaves ``[1 / dead_band, dead_band]`` (photos like the
training photos are mapped as they are, so the run's own kind of photo is never resampled needlessly), and further
down, to that width, when its line width exceeds the training photos' 90th percentile by more than the same band.
A recipe's ``factor`` enlarges (or reduces) every photo on top of that, in either mode (``restorer-thin`` maps at
2x, up to ``max_pixels``). :class:`ScaledMapper` wraps any :class:`~crackscope.maps.base.Mapper` with it;
measurements are taken on the maps at the photo's own size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from crackscope.maps.base import Mapper, MapResult, Tile, check_image
from crackscope.maps.postprocess import remove_small
from crackscope.maps.refine import RefineOptions
from crackscope.progress import OnProgress

ScaleMode = Literal["auto", "native"]
SCALE_MODES: tuple[ScaleMode, ...] = ("auto", "native")
#: photos larger than this (px per side) are measured on their central crop of this size: the measures are local
#: statistics, and a 13 MP photo's full spectrum costs seconds
MEASURE_SIDE = 2048
#: pyramid levels of :func:`line_width` start at this octave: widths below about 4 px are all "thin" (only wide
#: lines ever ask for a smaller scale), and skipping the full-resolution level makes it 4x cheaper
LINE_FIRST_OCTAVE = 1
#: scales per octave of the ridge scale space
LINE_STEPS = 4
#: the smallest side (px) a photo is resampled to
MIN_SIDE = 32


@dataclass(frozen=True)
class ScaleOptions:
    """How a mapper picks the scale it maps a photo at.

    ``mode``: ``"auto"`` (estimate, see the module docstring) or ``"native"`` (map every photo as it is).
    ``texture_period`` and ``max_line_width``: the run's reference, measured on the photos it was fitted on
    (None: not known; ``auto`` then leaves that measure out). ``dead_band``: ratios of periods within
    ``[1 / dead_band, dead_band]`` leave the photo as it is. ``factor``: a further enlargement (> 1) or
    reduction (< 1) of every photo, on top of what ``mode`` picks (a route that finds thin cracks better at a
    larger scale, as the UP-CrackNet restorer does). ``max_upscale``/``min_scale``: the largest enlargement and
    the smallest reduction applied. ``max_pixels``: an enlargement stops where the photo reaches this area (None:
    no limit), so large photos are not enlarged into memory they do not need.

    Raises
    ------
    ValueError
        If a value is out of range.
    """

    mode: ScaleMode = "native"
    texture_period: float | None = None
    max_line_width: float | None = None
    dead_band: float = 1.25
    max_upscale: float = 2.0
    min_scale: float = 0.0625
    factor: float = 1.0
    max_pixels: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in SCALE_MODES:
            raise ValueError(f"unknown scale mode {self.mode!r}; choose one of {', '.join(SCALE_MODES)}")
        for name in ("texture_period", "max_line_width"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if not self.dead_band >= 1:
            raise ValueError(f"dead_band must be at least 1, got {self.dead_band}")
        if not self.max_upscale >= 1:
            raise ValueError(f"max_upscale must be at least 1, got {self.max_upscale}")
        if not 0 < self.min_scale <= 1:
            raise ValueError(f"min_scale must be in (0, 1], got {self.min_scale}")
        if not self.factor > 0:
            raise ValueError(f"factor must be positive, got {self.factor}")
        if self.max_pixels is not None and not self.max_pixels >= 1:
            raise ValueError(f"max_pixels must be at least 1 (or None), got {self.max_pixels}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScaleOptions:
        return cls(**dict(data))

    def with_(self, **changes: Any) -> ScaleOptions:
        return replace(self, **changes)

    @property
    def active(self) -> bool:
        """Whether any photo can be resampled (``auto`` with a reference, or a ``factor`` other than 1)."""
        measured = self.mode == "auto" and (self.texture_period is not None or self.max_line_width is not None)
        return measured or self.factor != 1.0


def _gray(image: np.ndarray) -> np.ndarray:
    image = check_image(image)
    h, w = image.shape[:2]
    if max(h, w) > MEASURE_SIDE:
        y0, x0 = max(0, (h - MEASURE_SIDE) // 2), max(0, (w - MEASURE_SIDE) // 2)
        image = image[y0 : y0 + MEASURE_SIDE, x0 : x0 + MEASURE_SIDE]
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)


def texture_period(image: np.ndarray) -> float:
    """The photo's texture period (px): ``exp(-mean log f)`` over its spectrum, weighted by gradient energy.

    The grey photo (its central ``MEASURE_SIDE`` crop when larger), less its mean, under a Hann window; the
    weights are ``|F(f)|^2 f^2`` for radial frequencies ``0 < f <= 0.5`` cycles/px.

    Raises
    ------
    ValueError
        If ``image`` is not an HxWx3 uint8 array.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    >>> blurred = cv2.resize(cv2.resize(noise, (16, 16), interpolation=cv2.INTER_AREA), (64, 64))
    >>> texture_period(blurred) > 2 * texture_period(noise)
    True
    """
    from scipy import fft as sfft

    g = _gray(image)
    g -= g.mean()
    h, w = g.shape
    g *= np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    spectrum = sfft.rfft2(g, workers=1)
    power = spectrum.real**2 + spectrum.imag**2
    f = np.sqrt(np.fft.fftfreq(h)[:, None] ** 2 + np.fft.rfftfreq(w)[None, :] ** 2)
    keep = (f > 0) & (f <= 0.5)
    weight = power[keep] * f[keep] ** 2
    total = float(weight.sum())
    if total <= 0:  # a flat photo: no texture to measure
        return float("nan")
    return float(np.exp(-(weight * np.log(f[keep])).sum() / total))


def line_width(image: np.ndarray, *, top: float = 0.01) -> float:
    """The dominant dark-line width (px): ``2 sigma`` at the scale of the strongest ridge response, median over
    the ``top`` share of pixels (a bar of width ``w`` peaks at ``sigma = w / 2`` for this normalisation).

    Scales from ``2 ** LINE_FIRST_OCTAVE`` px upwards, ``LINE_STEPS`` per octave, over a Gaussian pyramid, so
    lines thinner than about 4 px all read as 4 px.

    Raises
    ------
    ValueError
        If ``image`` is not an HxWx3 uint8 array or ``top`` is not in (0, 1).
    """
    if not 0 < top < 1:
        raise ValueError(f"top must be in (0, 1), got {top}")
    level = _gray(image)
    for _ in range(LINE_FIRST_OCTAVE):
        level = cv2.pyrDown(level)
    factor = float(2**LINE_FIRST_OCTAVE)
    h, w = level.shape
    best = np.zeros((h, w), np.float32)
    best_sigma = np.zeros((h, w), np.float32)
    while min(level.shape) >= 16:
        for i in range(LINE_STEPS):
            s = 2 ** (i / LINE_STEPS)
            smooth = cv2.GaussianBlur(level, (0, 0), s)
            dxx = cv2.Sobel(smooth, cv2.CV_32F, 2, 0, ksize=3)
            dyy = cv2.Sobel(smooth, cv2.CV_32F, 0, 2, ksize=3)
            dxy = cv2.Sobel(smooth, cv2.CV_32F, 1, 1, ksize=3)
            # the largest Hessian eigenvalue: positive across a dark line on a lighter surface
            ridge = (s * s) * np.maximum(0.5 * (dxx + dyy + np.sqrt((dxx - dyy) ** 2 + 4 * dxy**2)), 0)
            if ridge.shape != (h, w):
                ridge = cv2.resize(ridge, (w, h), interpolation=cv2.INTER_LINEAR)
            better = ridge > best
            best[better] = ridge[better]
            best_sigma[better] = s * factor
        level = cv2.pyrDown(level)
        factor *= 2
    if not best.any():
        return float("nan")
    strong = best >= np.quantile(best, 1 - top)
    return float(2 * np.exp(np.median(np.log(best_sigma[strong & (best_sigma > 0)]))))


def mapping_scale(image: np.ndarray, options: ScaleOptions) -> float:
    """The factor to resample ``image`` by before mapping (1.0: as it is), see the module docstring.

    Raises
    ------
    ValueError
        If ``image`` is not an HxWx3 uint8 array.
    """
    image = check_image(image)
    if not options.active:
        return 1.0
    factor = 1.0
    if options.mode == "auto" and options.texture_period is not None:
        period = texture_period(image)
        if np.isfinite(period) and period > 0:
            ratio = options.texture_period / period
            if not 1 / options.dead_band <= ratio <= options.dead_band:
                factor = ratio
    if options.mode == "auto" and options.max_line_width is not None:
        width = line_width(image) * factor
        if np.isfinite(width) and width > options.dead_band * options.max_line_width:
            factor *= options.max_line_width / width
    factor = float(np.clip(factor * options.factor, options.min_scale, options.max_upscale))
    h, w = image.shape[:2]
    if factor > 1 and options.max_pixels is not None:
        factor = max(1.0, min(factor, float(np.sqrt(options.max_pixels / (h * w)))))
    return max(factor, MIN_SIDE / min(h, w)) if factor < 1 else factor


def reference_scale(images: Sequence[np.ndarray], *, mode: ScaleMode = "auto") -> ScaleOptions:
    """A run's reference measured on the photos it is fitted on: the median :func:`texture_period` and the 90th
    percentile :func:`line_width`.

    Raises
    ------
    ValueError
        If ``images`` is empty.
    """
    if not images:
        raise ValueError("a scale reference needs at least one photo")
    periods = [p for p in (texture_period(im) for im in images) if np.isfinite(p)]
    widths = [v for v in (line_width(im) for im in images) if np.isfinite(v)]
    return ScaleOptions(
        mode=mode,
        texture_period=round(float(np.median(periods)), 4) if periods else None,
        max_line_width=round(float(np.percentile(widths, 90)), 4) if widths else None,
    )


#: most photos a run's scale reference is measured on (a seeded sample of its training photos)
SCALE_REFERENCE_PHOTOS = 100


def reference_scale_of_files(
    paths: Sequence[Path], *, max_photos: int = SCALE_REFERENCE_PHOTOS, seed: int = 0, mode: ScaleMode = "auto"
) -> ScaleOptions | None:
    """:func:`reference_scale` of the photo files ``paths``: a seeded sample of at most ``max_photos`` of them
    (in name order), photos that cannot be read left out; None when none can be read.

    Raises
    ------
    ValueError
        If ``max_photos`` is below 1.
    """
    from crackscope.inputs import INPUT_ERRORS, sample_paths
    from crackscope.io import read_image

    images = []
    for path in sample_paths(paths, max_photos=max_photos, seed=seed):
        try:
            images.append(read_image(path))
        except INPUT_ERRORS:
            continue
    return reference_scale(images, mode=mode) if images else None


def _resize(array: np.ndarray, size: tuple[int, int], *, shrink: bool) -> np.ndarray:
    """``array`` at ``size`` = (width, height): area averaging to shrink, bilinear to enlarge."""
    return cv2.resize(array, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def resample(image: np.ndarray, factor: float) -> np.ndarray:
    """``image`` resampled by ``factor`` (each side rounded, at least 1 px): area averaging to shrink, bilinear
    to enlarge; the same array when ``factor`` is 1.

    Raises
    ------
    ValueError
        If ``factor`` is not a finite number > 0.

    Examples
    --------
    >>> resample(np.zeros((10, 30, 3), np.uint8), 0.5).shape
    (5, 15, 3)
    """
    if not (np.isfinite(factor) and factor > 0):
        raise ValueError(f"factor must be a finite number > 0, got {factor!r}")
    if factor == 1.0:
        return image
    h, w = image.shape[:2]
    return _resize(image, (max(1, round(w * factor)), max(1, round(h * factor))), shrink=factor < 1)


class ScaledMapper:
    """A :class:`~crackscope.maps.base.Mapper` that maps each photo at the scale :func:`mapping_scale` picks.

    The photo is resampled by the factor, mapped by ``inner``, and the soft maps are resized back (bilinear),
    the mask through its bilinear resize at 0.5 (smooth edges, no blocks); tile boxes are scaled back.
    ``MapResult.scale`` records the factor. ``width_rule``: mask settings whose half-maximum width rule
    (``half_max``, ``half_max_radius``, :func:`~crackscope.maps.refine.within_half_max` of their dark-line
    response) is applied again at the photo's own resolution to a mask made at a reduced scale: a line found at
    half the resolution comes back at least two pixels wide, and the rule keeps it as wide as the line in the
    photo (``benchmarks/bench_scale_width.py``). ``min_size``: a mask made at a larger scale loses its pieces
    smaller than this many pixels at the photo's own size (a recipe's sizes are in pixels of the photo, and a
    speck kept at 2x is a quarter of that size once brought back); 0 keeps them.
    """

    def __init__(
        self, inner: Mapper, options: ScaleOptions, *, width_rule: RefineOptions | None = None, min_size: int = 0
    ) -> None:
        self.inner = inner
        self.options = options
        self.width_rule = width_rule
        self.min_size = int(min_size)

    def settings(self) -> dict[str, object]:
        out = dict(self.inner.settings())
        out["scale"] = self.options.as_dict()
        out["width_rule_at_full_resolution"] = self.width_rule is not None and self.width_rule.half_max is not None
        out["min_size_at_full_resolution"] = self.min_size
        return out

    def map_image(
        self, image: np.ndarray, *, name: str | None = None, on_progress: OnProgress | None = None
    ) -> MapResult:
        image = check_image(image)
        factor = mapping_scale(image, self.options)
        if factor == 1.0:
            return self.inner.map_image(image, name=name, on_progress=on_progress)
        h, w = image.shape[:2]
        result = self.inner.map_image(resample(image, factor), name=name, on_progress=on_progress)
        back = factor > 1  # resizing the maps back shrinks them when the photo was enlarged
        probability = _resize(result.probability.astype(np.float32), (w, h), shrink=back)
        mask = _resize(result.mask.astype(np.float32), (w, h), shrink=back) >= 0.5
        rule = self.width_rule
        if factor < 1 and rule is not None and rule.half_max is not None and mask.any():
            mask &= rule.within_width(image)
        if factor > 1 and self.min_size and mask.any():
            mask = remove_small(mask, min_size=self.min_size)
        cam = None if result.cam is None else _resize(result.cam.astype(np.float32), (w, h), shrink=back)
        tiles = tuple(_scale_tile(t, 1 / factor, h, w) for t in result.tiles)
        return MapResult(
            probability, mask, tiles, cam, result.cracked, result.crack_probability, scale=round(factor, 4)
        )


def _scale_tile(tile: Tile, k: float, h: int, w: int) -> Tile:
    y0, x0, y1, x1 = tile.box
    box = (min(h, round(y0 * k)), min(w, round(x0 * k)), min(h, round(y1 * k)), min(w, round(x1 * k)))
    return Tile(box=box, probability=tile.probability, error=tile.error)
