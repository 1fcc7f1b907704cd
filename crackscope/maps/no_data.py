"""Parts of a photo without image data: the black (or white) fill around a rotated, warped or stitched photo.

A photo turned to level, an orthomosaic of drone photos or a scan with a mask around it has regions of one exact
colour (pure black, ``0, 0, 0``, most often) that hold no surface at all. Left in, they wreck a map: the fill's
straight edges and flat dark areas are what a crack detector fires on, and a third of a photo without texture
misleads the scale estimate, so the real cracks can be lost as well. :class:`NoDataMapper` maps the photo with
the fill and ``margin`` px around it painted over in the mean colour of the rest (a flat, neutral surface that no
route calls a crack), then leaves them out of the mask and the soft maps.

A region is *no data* (:func:`no_data_mask`) when it is a connected piece of pixels of exactly one of
``colours`` in every channel, of at least ``min_size`` px, at least ``min_depth`` px deep somewhere (its largest
distance to a pixel outside it; the photo's edge does not count) and covering at least ``min_border`` of the
photo's edge pixels. Fill is large, thick and reaches the photo's edge over a long stretch; the darkest part of a
wide crack or pothole, even where a JPEG clipped it to pure black, lies inside the photo or meets its edge where
the crack leaves it (on DeepCrack's photos such pieces cover at most 2.2 % of the edge, the fill, frames and
banners 5.6 % or more; a rotated photo's corners 14-45 %). Fill inside the photo that does not reach its edge (a
blacked-out rectangle) is mapped as photo.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
from scipy import ndimage

from crackscope.maps.base import Mapper, MapResult, check_image, reject_unknown_fields
from crackscope.progress import OnProgress

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class NoDataOptions:
    """What counts as a photo's fill (:func:`no_data_mask`) and how far from it the mask stays (``margin`` px).

    Raises
    ------
    ValueError
        Naming the field: no colour, a colour that is not three whole numbers in 0..255, ``min_size`` below 1,
        ``min_depth`` below 1, ``min_border`` outside (0, 1], or ``margin`` below 0.

    Examples
    --------
    >>> NoDataOptions().colours
    ((0, 0, 0), (255, 255, 255))
    >>> NoDataOptions(min_depth=0)
    Traceback (most recent call last):
    ...
    ValueError: min_depth must be a number >= 1, got 0
    """

    colours: tuple[Colour, ...] = ((0, 0, 0), (255, 255, 255))
    min_size: int = 1024
    min_depth: float = 8.0
    min_border: float = 0.05
    margin: int = 6

    def __post_init__(self) -> None:
        colours = tuple(tuple(c) for c in self.colours)
        if not colours:
            raise ValueError("colours must name at least one colour")
        for c in colours:
            if len(c) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in c):
                raise ValueError(f"colours must be (R, G, B) whole numbers in 0..255, got {c!r}")
        object.__setattr__(self, "colours", colours)
        if isinstance(self.min_size, bool) or not isinstance(self.min_size, int) or self.min_size < 1:
            raise ValueError(f"min_size must be a whole number >= 1, got {self.min_size!r}")
        if isinstance(self.min_depth, bool) or not isinstance(self.min_depth, int | float) or not self.min_depth >= 1:
            raise ValueError(f"min_depth must be a number >= 1, got {self.min_depth!r}")
        if isinstance(self.min_border, bool) or not isinstance(self.min_border, int | float):
            raise ValueError(f"min_border must be a number in (0, 1], got {self.min_border!r}")
        if not 0 < self.min_border <= 1:
            raise ValueError(f"min_border must be a number in (0, 1], got {self.min_border!r}")
        if isinstance(self.margin, bool) or not isinstance(self.margin, int) or self.margin < 0:
            raise ValueError(f"margin must be a whole number >= 0, got {self.margin!r}")

    def as_dict(self) -> dict[str, Any]:
        """JSON form (read back by :meth:`from_dict`)."""
        colours = [list(c) for c in self.colours]
        return {
            "colours": colours,
            "min_size": self.min_size,
            "min_depth": self.min_depth,
            "min_border": self.min_border,
            "margin": self.margin,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NoDataOptions:
        """The options written by :meth:`as_dict` (missing fields: the defaults).

        Raises
        ------
        ValueError
            If a field is unknown or a value is out of range.
        """
        reject_unknown_fields(cls, data, what="no-data fields")
        d = dict(data)
        if "colours" in d:
            d["colours"] = tuple(tuple(c) for c in d["colours"])
        return cls(**d)


def no_data_mask(image: np.ndarray, *, options: NoDataOptions = NoDataOptions()) -> np.ndarray:
    """The pixels of ``image`` (HxWx3 uint8) that hold no image data: bool HxW (see the module doc).

    Raises
    ------
    ValueError
        If ``image`` is not an HxWx3 uint8 array with pixels.

    Examples
    --------
    >>> photo = np.full((40, 40, 3), 128, np.uint8)
    >>> photo[:, :20] = 0  # fill: 800 px, 20 px deep, on 78 of the 156 edge pixels
    >>> photo[30, 25:35] = 0  # a 1 px black line: not fill
    >>> no_data_mask(photo, options=NoDataOptions(min_size=100)).sum(axis=0)[[0, 19, 20, 30]].tolist()
    [40, 40, 0, 0]
    """
    image = check_image(image)
    # a cheap test first: most photos have no pixel of a fill colour at all
    candidates: np.ndarray = np.zeros(image.shape[:2], np.uint8)
    for colour in options.colours:  # OpenCV's inRange: one pass, about 10x faster here than numpy's == and all
        candidates = cv2.bitwise_or(candidates, cv2.inRange(image, colour, colour))
    if np.count_nonzero(candidates) < options.min_size:
        return np.zeros(image.shape[:2], bool)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(candidates, connectivity=8)
    # depth: the distance to the nearest pixel that is not a candidate (the photo's edge does not count as one)
    padded = cv2.copyMakeBorder(candidates, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    depth = cv2.distanceTransform(padded, cv2.DIST_L2, 3)[1:-1, 1:-1]
    deepest = np.zeros(n)
    deepest[1:] = ndimage.maximum(depth, labels, np.arange(1, n))
    edge = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
    on_edge = np.bincount(edge, minlength=n) / edge.size
    keep = (stats[:, cv2.CC_STAT_AREA] >= options.min_size) & (deepest >= options.min_depth)
    keep &= on_edge >= options.min_border
    keep[0] = False  # the pixels of no fill colour
    return np.asarray(keep[labels], bool)


def fill_no_data(image: np.ndarray, no_data: np.ndarray) -> np.ndarray:
    """A copy of ``image`` with the ``no_data`` pixels in the mean colour of the others (all grey 128 if none).

    Raises
    ------
    ValueError
        If ``image`` is not HxWx3 uint8 or ``no_data`` is not at its size.

    Examples
    --------
    >>> photo = np.zeros((2, 2, 3), np.uint8)
    >>> photo[0, 0] = (10, 20, 30)
    >>> photo[0, 1] = (30, 40, 50)
    >>> fill_no_data(photo, np.array([[False, False], [True, True]]))[1, 0].tolist()
    [20, 30, 40]
    """
    image = check_image(image)
    no_data = np.asarray(no_data, bool)
    if no_data.shape != image.shape[:2]:
        raise ValueError(f"no-data mask size {no_data.shape} differs from the photo's {image.shape[:2]}")
    valid = ~no_data
    colour = np.rint(image[valid].mean(axis=0)) if valid.any() else np.full(3, 128.0)
    out = image.copy()
    out[no_data] = colour.astype(np.uint8)
    return out


def without_no_data(image: np.ndarray, *, options: NoDataOptions = NoDataOptions()) -> np.ndarray:
    """``image`` with its fill (:func:`no_data_mask`) painted over (:func:`fill_no_data`); ``image`` itself when it
    has none. For users that want the painted photo alone (:class:`NoDataMapper` also keeps the mask).

    Raises
    ------
    ValueError
        If ``image`` is not an HxWx3 uint8 array.
    """
    no_data = no_data_mask(image, options=options)
    return fill_no_data(image, no_data) if no_data.any() else image


class NoDataMapper:
    """A :class:`~crackscope.maps.base.Mapper` that maps a photo's image data only (see the module doc): ``inner``
    maps the photo with its fill, grown by ``options.margin`` px, painted over (:func:`fill_no_data`); the mask,
    soft map and class map are then zero there, and ``MapResult.no_data`` is the fill's share of the
    photo. A photo without fill is passed through unchanged;
    one that is all fill gives empty maps, no tiles and the verdict "not cracked"."""

    def __init__(self, inner: Mapper, options: NoDataOptions = NoDataOptions()) -> None:
        self.inner = inner
        self.options = options

    def settings(self) -> Mapping[str, object]:
        return {**self.inner.settings(), "no_data": self.options.as_dict()}

    def map_image(
        self, image: np.ndarray, *, name: str | None = None, on_progress: OnProgress | None = None
    ) -> MapResult:
        image = check_image(image)
        no_data = no_data_mask(image, options=self.options)
        if not no_data.any():
            return self.inner.map_image(image, name=name, on_progress=on_progress)
        if np.count_nonzero(~no_data) < self.options.min_size:  # nothing but fill: nothing to map
            empty = np.zeros(image.shape[:2], np.float32)
            return MapResult(empty, np.zeros(image.shape[:2], bool), (), None, False, 0.0, no_data=1.0)
        # the fill grown by the margin is painted over: the few pixels next to it that a warp blended with the
        # fill or a JPEG rang around it are neither fill nor photo, and would be a dark line along its edge
        side = 2 * self.options.margin + 1
        outside: np.ndarray = cv2.dilate(no_data.view(np.uint8), np.ones((side, side), np.uint8)) > 0
        result = self.inner.map_image(fill_no_data(image, outside), name=name, on_progress=on_progress)

        def cleared(soft: np.ndarray) -> np.ndarray:
            return np.where(outside, np.zeros((), soft.dtype), soft)

        cam = None if result.cam is None else cleared(result.cam)
        share = float(np.count_nonzero(no_data)) / no_data.size
        return replace(
            result, probability=cleared(result.probability), mask=result.mask & ~outside, cam=cam, no_data=share
        )
