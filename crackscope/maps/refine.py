"""Refinement: the class map says *where*, the image says *which pixels*.

A classifier's CAM is blurry (one value per feature-map cell, a few to tens of pixels wide), so thresholding it
marks a thick band around a crack. Cracks are thin dark lines, which the image shows at full resolution.
The refinement therefore

1. computes a multi-scale **dark-line response** of the grayscale photo: the morphological black-hat
   (closing minus image) with disks of a few radii, after a light Gaussian blur, the maximum over radii,
   divided by ``contrast`` grey levels and clipped to [0, 1] (so the response is comparable between photos);
   with ``relative_contrast`` the unit is ``contrast`` times the photo's *mean* black-hat instead, a
   texture-relative scale: a faint hairline on smooth concrete then counts like a strong crack on rough
   asphalt (measured on DeepCrack training photos: it lifts the response's best-threshold F1 most on the
   photos with thin, faint cracks);
2. builds the **support region**: CAM pixels at or above ``region_level`` (relative to the map's maximum),
   dilated by ``region_dilation`` px (the CAM is coarse and may stop short of the crack's thin ends);
3. builds a refined soft map, ``response x support``, with the support the CAM grey-dilated like the region
   (for ODS/OIS, and for the fixed threshold below);
4. thresholds **inside the region only**: the response above Otsu's threshold of the region's pixels (never
   below ``min_response``), or, with ``mask_threshold``, the soft map above that fixed level; with
   ``hysteresis`` (a fraction of that level) weaker pixels are kept too where they connect to strong ones
   (``skimage.filters.apply_hysteresis_threshold``), so a crack's faint continuation survives while isolated
   weak specks do not; with ``half_max`` a pixel must also reach that fraction of the strongest response
   within ``half_max_radius`` px (a width rule like "full width at half maximum": a strong crack does not
   bloom into its blurred flanks);
   then closes small gaps (``closing`` radius), removes objects smaller than ``min_size``
   px and, with ``max_fill``, blob-like objects (see :func:`keep_elongated`).

``region_floor`` adds an absolute level to the region (the CAM is weighted by each tile's crack probability,
so on a photo the classifier finds crack-free the whole map is faint and nothing passes the floor): the
mapper can then let the pixel evidence decide instead of zeroing a photo whose tiles all miss the threshold.

OpenCV morphology is used because it is fast enough for 12-megapixel photos (uint8 in, uint8 out).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from skimage.filters import apply_hysteresis_threshold, threshold_otsu

from crackscope.errors import BadInputError
from crackscope.maps.base import reject_unknown_fields
from crackscope.maps.postprocess import (
    close_mask,
    component_skeletons,
    components,
    remove_small,
)


@dataclass(frozen=True)
class RefineOptions:
    """Settings of the refinement. Defaults of the first nine: tuned on 40 DeepCrack training photos (544x384,
    never the held-out ones) by `benchmarks/bench_maps.py --tune`; sizes are in pixels of photos of that scale.
    The later ones default to "off": ``hysteresis`` (low level as a fraction of the high one), ``max_fill`` and
    ``min_length`` (:func:`keep_elongated`), ``region_floor`` (absolute CAM level of the region),
    ``pixel_threshold`` (for a self-trained pixel model's probability, :mod:`crackscope.maps.selftrain`),
    ``half_max`` and ``half_max_radius`` (width rule, see the module docstring), ``relative_contrast``
    (``contrast`` in multiples of the photo's mean black-hat, see :func:`dark_line_response`),
    ``half_max_blur`` (``None``: the width rule reads the dark-line response; a number: it reads the
    :func:`line_depth` of the photo blurred that much, unquantised, see :meth:`width_response`),
    ``width_rule_last`` and ``trimmed_min_size`` (pixel-model masks only: judge pieces by ``min_size`` and the line
    shape *before* the width rule trims them, so that the rule, which can split a faint crack where darker texture
    lies beside it, does not turn a crack into pieces too small to keep; after the rule, pieces below
    ``trimmed_min_size`` px are dropped)."""

    radii: tuple[int, ...] = (2, 4, 8)
    blur: float = 2.0
    contrast: float = 40.0
    region_level: float = 0.15
    region_dilation: int = 4
    min_response: float = 0.3
    mask_threshold: float | None = None
    closing: int = 0
    min_size: int = 120
    hysteresis: float | None = None
    max_fill: float | None = None
    min_length: int = 0
    region_floor: float = 0.0
    pixel_threshold: float = 0.5
    half_max: float | None = None
    half_max_radius: int = 5
    relative_contrast: bool = False
    half_max_blur: float | None = None
    width_rule_last: bool = False
    trimmed_min_size: int = 0

    @classmethod
    def from_json(cls, path: str | Path) -> RefineOptions:
        """Settings from a JSON file of field names and values (as :meth:`as_dict` writes them)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise BadInputError(path, "refinement settings file not found") from None
        except json.JSONDecodeError as exc:
            raise BadInputError(path, f"invalid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise BadInputError(path, "refinement settings must be a JSON object of field names and values")
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise BadInputError(path, str(exc)) from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RefineOptions:
        """Settings from a dict of field names and values (as written by :meth:`as_dict`)."""
        reject_unknown_fields(cls, data, what="refinement settings")
        data = dict(data)
        if "radii" in data:
            data["radii"] = tuple(int(r) for r in data["radii"])
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["radii"] = list(self.radii)
        return d

    @property
    def uses_region(self) -> bool:
        """Whether the class map restricts the mask to a region (:func:`support_region` is the whole photo when
        ``region_level`` and ``region_floor`` are both 0)."""
        return self.region_level > 0 or self.region_floor > 0

    def with_(self, **changes: Any) -> RefineOptions:
        return replace(self, **changes)

    def response(self, image: np.ndarray) -> np.ndarray:
        """The :func:`dark_line_response` of ``image`` with these settings."""
        return dark_line_response(
            image, radii=self.radii, blur=self.blur, contrast=self.contrast, relative=self.relative_contrast
        )

    def width_response(self, image: np.ndarray, response: np.ndarray | None = None) -> np.ndarray:
        """What the width rule (``half_max``) compares: the dark-line response (``response`` when given, else
        computed) or, with ``half_max_blur`` set, the :func:`line_depth` at that blur, clipped where the response
        is (``contrast`` grey levels, or that many times the mean depth with ``relative_contrast``): a crack darker
        than that keeps its whole dark band, a faint one is measured on its unquantised profile."""
        if self.half_max_blur is None:
            return self.response(image) if response is None else response
        depth = line_depth(image, radii=self.radii, blur=self.half_max_blur)
        unit = self.contrast * max(float(depth.mean()), 1.0) if self.relative_contrast else self.contrast
        np.minimum(depth, np.float32(unit), out=depth)
        return depth

    def within_width(self, image: np.ndarray, response: np.ndarray | None = None) -> np.ndarray:
        """Bool map of the pixels the width rule keeps: :func:`within_half_max` of :meth:`width_response` at
        ``half_max`` within ``half_max_radius`` px.

        Raises
        ------
        ValueError
            If ``half_max`` is None (no width rule).
        """
        if self.half_max is None:
            raise ValueError("these settings have no width rule (half_max is None)")
        return within_half_max(self.width_response(image, response), level=self.half_max, radius=self.half_max_radius)


def _ellipse(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def to_gray(image: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB (or HxW) -> HxW uint8 grayscale."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.uint8, copy=False)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")
    return cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2GRAY)


def dark_line_response(
    image: np.ndarray,
    *,
    radii: tuple[int, ...] = (3, 6, 12),
    blur: float = 1.5,
    contrast: float = 40.0,
    relative: bool = False,
) -> np.ndarray:
    """Multi-scale black-hat of the grayscale image, in [0, 1]: ``contrast`` grey levels darker -> 1, or with
    ``relative`` ``contrast`` times the image's mean black-hat (at least one grey level) -> 1."""
    if not radii or any(r < 1 for r in radii):
        raise ValueError(f"radii must be positive integers, got {radii}")
    if contrast <= 0:
        raise ValueError(f"contrast must be > 0, got {contrast}")
    gray = to_gray(image)
    if blur > 0:
        gray = cv2.GaussianBlur(gray, (0, 0), blur)
    best = np.zeros(gray.shape, np.uint8)
    for r in sorted(set(int(r) for r in radii)):
        np.maximum(best, cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, _ellipse(r)), out=best)
    out = best.astype(np.float32)
    unit = contrast * max(float(out.mean()), 1.0) if relative else contrast
    out *= 1.0 / unit
    np.clip(out, 0.0, 1.0, out=out)
    return out


def line_depth(image: np.ndarray, *, radii: tuple[int, ...] = (3, 6, 12), blur: float = 0.0) -> np.ndarray:
    """How much darker each pixel is than its surroundings, in grey levels (float32, unclipped): the
    multi-scale black-hat of the grayscale photo after a Gaussian blur of ``blur`` px (0: none).

    :func:`dark_line_response` computes the same in uint8 (and blurs it more), which suits a threshold but not a
    width rule on faint lines: a hairline a few grey levels deep is quantised to a few steps, so its flanks reach
    the same step as its centre. The width rule compares a pixel with its neighbours' maximum, so it reads this
    unquantised profile (:meth:`RefineOptions.width_response`).

    Raises
    ------
    ValueError
        If a radius is not a positive integer or ``blur`` is negative.

    Examples
    --------
    >>> row = np.full((9, 9), 200, np.uint8)
    >>> row[:, 4] = 150
    >>> line_depth(row, radii=(2,))[4].round(1).tolist()
    [0.0, 0.0, 0.0, 0.0, 50.0, 0.0, 0.0, 0.0, 0.0]
    """
    if not radii or any(r < 1 for r in radii):
        raise ValueError(f"radii must be positive integers, got {radii}")
    if blur < 0:
        raise ValueError(f"blur must be >= 0, got {blur}")
    gray = to_gray(image).astype(np.float32)
    if blur > 0:
        gray = np.asarray(cv2.GaussianBlur(gray, (0, 0), blur), np.float32)
    best = np.zeros(gray.shape, np.float32)
    for r in sorted(set(int(r) for r in radii)):
        np.maximum(best, cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, _ellipse(r)), out=best)
    return best


def support_region(cam: np.ndarray, *, level: float, dilation: int, floor: float = 0.0) -> np.ndarray:
    """Bool region where the CAM reaches ``level`` x its maximum (and at least ``floor``), dilated by
    ``dilation`` px. ``level`` and ``floor`` both 0: the whole image (the map does not restrict the mask)."""
    if level <= 0 and floor <= 0:
        return np.ones(cam.shape, bool)
    peak = float(cam.max(initial=0.0))
    if peak <= 0 or peak < floor:
        return np.zeros(cam.shape, bool)
    region = (cam >= max(level * peak, floor)).astype(np.uint8)
    if dilation > 0:
        region = np.asarray(cv2.dilate(region, _ellipse(dilation)), dtype=np.uint8)
    return region.astype(bool)


def refine_map(
    image: np.ndarray,
    cam: np.ndarray,
    *,
    options: RefineOptions | None = None,
    response: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Refine a CAM (HxW in [0, 1], at the image's size) with the image: ``(soft float32 HxW, mask bool HxW)``.

    ``response`` may pass a precomputed :func:`dark_line_response` made with the same options (for tuning).
    """
    opts = options or RefineOptions()
    cam = np.asarray(cam, np.float32)
    if cam.shape != image.shape[:2]:
        raise ValueError(f"map size {cam.shape} differs from image size {image.shape[:2]}")
    if response is None:
        response = opts.response(image)
    elif response.shape != cam.shape:
        raise ValueError(f"response size {response.shape} differs from map size {cam.shape}")
    soft_support = cv2.dilate(cam, _ellipse(opts.region_dilation)) if opts.region_dilation > 0 else cam
    soft = response * np.clip(soft_support, 0.0, 1.0)
    region = support_region(cam, level=opts.region_level, dilation=opts.region_dilation, floor=opts.region_floor)
    if not region.any():
        return soft, np.zeros(cam.shape, bool)
    if opts.mask_threshold is not None:
        mask = region & (soft > opts.mask_threshold)
    else:
        inside = response[region]
        level = opts.min_response
        if inside.size and inside.min() < inside.max():
            level = max(level, float(threshold_otsu(inside)))
        if opts.hysteresis is not None:
            mask = region & apply_hysteresis_threshold(response, opts.hysteresis * level, level)
        else:
            mask = region & (response > level)
        del inside
    if opts.half_max is not None:
        mask &= opts.within_width(image, response)
    del response
    if opts.closing:
        mask = close_mask(mask, radius=opts.closing) & region
    if opts.min_size:
        mask = remove_small(mask, min_size=opts.min_size)
    if opts.max_fill is not None or opts.min_length:
        mask = keep_elongated(mask, max_fill=opts.max_fill, min_length=opts.min_length)
    return soft, mask


def within_half_max(response: np.ndarray, *, level: float, radius: int) -> np.ndarray:
    """Bool map of the pixels whose ``response`` reaches ``level`` times its maximum within ``radius`` px: the
    width rule ("full width at half maximum" for ``level`` 0.5) that keeps a mask as wide as the line it marks.

    Examples
    --------
    >>> within_half_max(np.array([[0.1, 0.5, 1.0, 0.6, 0.1]], np.float32), level=0.5, radius=2).tolist()
    [[False, True, True, True, False]]
    """
    response = np.asarray(response, np.float32)
    return np.asarray(response >= level * cv2.dilate(response, _ellipse(radius)), dtype=bool)


def hysteresis_mask(values: np.ndarray, *, low: float, high: float) -> np.ndarray:
    """Bool map of the pixels at ``low`` or above that are 8-connected, through such pixels, to a pixel at
    ``high`` or above: hysteresis thresholding, as ``skimage.filters.apply_hysteresis_threshold``, written here
    for its two differences: that one joins only 4-connected pixels (a 1 px diagonal crack is 8-connected) and
    compares strictly, where the pixel-model mask keeps ``>=`` its threshold (so ``low == high`` is the plain
    threshold).

    Raises
    ------
    ValueError
        If ``low`` is above ``high``.

    Examples
    --------
    >>> hysteresis_mask(np.array([[0.2, 0.3, 0.9, 0.3, 0.0, 0.3]], np.float32), low=0.25, high=0.5).tolist()
    [[False, True, True, True, False, False]]
    """
    if low > high:
        raise ValueError(f"low ({low}) must not be above high ({high})")
    values = np.asarray(values, np.float32)
    weak = (values >= low).astype(np.uint8)
    if not weak.any():
        return np.zeros(values.shape, bool)
    n, labels = cv2.connectedComponents(weak, connectivity=8)
    seeds = np.zeros(n, bool)
    seeds[labels[values >= high]] = True
    seeds[0] = False
    return np.asarray(seeds[labels], dtype=bool)


def keep_elongated(mask: np.ndarray, *, max_fill: float | None = 0.25, min_length: int = 0) -> np.ndarray:
    """Keep the line-like connected components of a mask (8-connectivity).

    A component's length ``L`` is its skeleton's pixel count; its *fill* ``area / L**2`` is about
    ``width / length``: small for a crack, near or above 1 for a blob or a dark patch. Components with a
    fill above ``max_fill`` (``None``: no limit) or shorter than ``min_length`` px are dropped.
    """
    mask = np.asarray(mask, bool)
    if max_fill is not None and max_fill <= 0:
        raise ValueError(f"max_fill must be > 0, got {max_fill}")
    if min_length < 0:
        raise ValueError(f"min_length must be >= 0, got {min_length}")
    if not mask.any():
        return mask.copy()
    labels, stats = components(mask)  # numbered in OpenCV's order: only which to keep matters here
    area = stats[:, cv2.CC_STAT_AREA]
    length = np.zeros(len(stats), np.int64)
    for i, (_, skeleton) in enumerate(component_skeletons(labels, stats), 1):
        length[i] = np.count_nonzero(skeleton)
    keep = length >= max(min_length, 1)
    if max_fill is not None:
        keep &= area <= max_fill * np.maximum(length, 1) ** 2
    keep[0] = False
    return np.asarray(keep[labels], dtype=bool)
