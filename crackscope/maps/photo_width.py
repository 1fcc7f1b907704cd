"""The photo's own width rule: a mask keeps only the pixels the photo's line profile calls part of the crack.

A route may find cracks on a signal that is wider than the crack: the UP-CrackNet restorer's error is blurred by the
restoration, and the restorer maps photos enlarged 2x. Its mask then marks where a crack is but comes back wider
than the line in the photo (a 1 px hairline as 2-3 px). The rule here is applied last, at the photo's own
resolution, whatever scale the photo was mapped at: a mask pixel is kept where the photo's dark-line profile
(:meth:`~crackscope.maps.refine.RefineOptions.width_response`) reaches ``half_max`` of its maximum within
``half_max_radius`` px, and pieces smaller than ``min_size`` px are dropped again. The route says *where*, the
photo says *how wide* (the CAM route's pixel masks apply the same rule, :func:`~crackscope.maps.refine.within_half_max`,
inside their refinement).

With ``thin_below`` only the thin cracks pass the rule: those whose mean width (the width across the crack averaged
along its skeleton, :func:`~crackscope.maps.measure.measure_cracks`' ``mean_width_px``; pieces less than
``2 * CRACK_LINK_PX + 1`` px apart are one crack, as ``map`` counts them) is below that many px. The CAM route's own
width rule reads a blurred, quantised profile that leaves a hairline 2-3 px wide; the photo's fine profile makes it
as wide as the line, while on wider, ragged cracks it would leave a ragged mask (BENCHMARKS.md, "The fine width rule
for thin cracks only").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from crackscope.maps.base import Mapper, MapResult
from crackscope.maps.measure import CRACK_LINK_PX, measure_cracks
from crackscope.maps.postprocess import label_cracks, remove_small
from crackscope.maps.refine import RefineOptions
from crackscope.progress import OnProgress


def apply_photo_width(
    image: np.ndarray, mask: np.ndarray, *, rule: RefineOptions, thin_below: float | None = None
) -> np.ndarray:
    """``mask`` (bool HxW, at ``image``'s size) less the pixels outside ``rule``'s half-maximum width rule of the
    photo's dark-line profile, then less the pieces smaller than ``rule.min_size`` px. With ``thin_below`` only
    the cracks whose mean width is below that many px are trimmed (and only their pieces dropped); the others are
    kept as they are.

    Raises
    ------
    ValueError
        If ``rule.half_max`` is None (no width rule), ``thin_below`` is not positive or the mask is not at the
        photo's size.

    Examples
    --------
    >>> photo = np.full((12, 12), 200, np.uint8)
    >>> photo[:, 5] = 120  # a 1 px dark line
    >>> wide = np.zeros((12, 12), bool)
    >>> wide[:, 4:7] = True  # a mask 3 px wide
    >>> rule = RefineOptions(radii=(3,), contrast=80.0, half_max=0.5, half_max_radius=3, half_max_blur=0.5,
    ...                      min_size=0)
    >>> apply_photo_width(photo, wide, rule=rule)[0].nonzero()[0].tolist()
    [5]
    """
    if rule.half_max is None:
        raise ValueError("the photo's width rule needs half_max")
    _check_thin_below(thin_below)
    mask = np.asarray(mask, bool)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask size {mask.shape} differs from the photo's {image.shape[:2]}")
    if not mask.any():
        return mask.copy()
    if thin_below is None:
        kept = mask & rule.within_width(image)
        return remove_small(kept, min_size=rule.min_size) if rule.min_size else kept
    thin, box = _thin_cracks(mask, thin_below)
    if box is None:
        return mask.copy()
    # the profile is read only where thin cracks are, with enough photo around them for its filters
    (y0, y1, x0, x1), pad = box, _profile_reach(rule)
    h, w = mask.shape
    if rule.relative_contrast:  # its unit is the mean over the photo: read the whole photo
        pad = max(h, w)
    py0, py1, px0, px1 = max(y0 - pad, 0), min(y1 + pad, h), max(x0 - pad, 0), min(x1 + pad, w)
    within = rule.within_width(image[py0:py1, px0:px1])[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0]
    trimmed = thin[y0:y1, x0:x1] & within
    if rule.min_size:
        trimmed = remove_small(trimmed, min_size=rule.min_size)
    out: np.ndarray = mask & ~thin
    out[y0:y1, x0:x1] |= trimmed
    return out


def _check_thin_below(thin_below: float | None) -> None:
    if thin_below is not None and not thin_below > 0:
        raise ValueError(f"thin_below must be a positive width in px (or None), got {thin_below}")


def _thin_cracks(mask: np.ndarray, below: float) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """The pixels of the cracks of ``mask`` whose mean width is below ``below`` px, and their bounding box
    ``(y0, y1, x0, x1)`` (None: no such crack)."""
    labels, n = label_cracks(mask, link=CRACK_LINK_PX)
    thin_ids = [c.id for c in measure_cracks(mask, labels=(labels, n)) if c.mean_width_px < below]
    if not thin_ids:
        return np.zeros(mask.shape, bool), None
    lookup = np.zeros(n + 1, bool)
    lookup[thin_ids] = True
    thin = lookup[labels]
    rows, cols = np.flatnonzero(thin.any(axis=1)), np.flatnonzero(thin.any(axis=0))
    return thin, (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)


def _profile_reach(rule: RefineOptions) -> int:
    """How far (px) the width rule at a pixel looks into the photo: the Gaussian blur's kernel (OpenCV's, 4
    sigma a side), the black-hat's closing (twice the largest radius) and the comparison with the local maximum;
    a crop padded by this much gives the rule's values of the whole photo inside it."""
    blur = rule.blur if rule.half_max_blur is None else rule.half_max_blur
    return int(np.ceil(4 * blur)) + 1 + 2 * max(rule.radii) + rule.half_max_radius + 1


class PhotoWidthMapper:
    """A :class:`~crackscope.maps.base.Mapper` whose masks pass :func:`apply_photo_width` with ``rule`` and
    ``thin_below`` (at the photo's own resolution, after ``inner`` mapped it at whatever scale); the soft maps are
    ``inner``'s."""

    def __init__(self, inner: Mapper, rule: RefineOptions, *, thin_below: float | None = None) -> None:
        if rule.half_max is None:
            raise ValueError("the photo's width rule needs half_max")
        _check_thin_below(thin_below)
        self.inner = inner
        self.rule = rule
        self.thin_below = thin_below

    def settings(self) -> Mapping[str, object]:
        return {**self.inner.settings(), "photo_width": self.rule.as_dict(), "photo_width_below": self.thin_below}

    def map_image(
        self, image: np.ndarray, *, name: str | None = None, on_progress: OnProgress | None = None
    ) -> MapResult:
        result = self.inner.map_image(image, name=name, on_progress=on_progress)
        mask = apply_photo_width(image, result.mask, rule=self.rule, thin_below=self.thin_below)
        if result.crack_probability is None:  # a route whose verdict is its mask (the restorer's)
            return replace(result, mask=mask, cracked=bool(mask.any()))
        return replace(result, mask=mask)
