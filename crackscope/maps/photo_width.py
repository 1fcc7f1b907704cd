"""The photo's own width rule: a mask keeps only the pixels the photo's line profile calls part of the crack.

A route may find cracks on a signal that is wider than the crack: the UP-CrackNet restorer's error is blurred by the
restoration, and the restorer maps photos enlarged 2x. Its mask then marks where a crack is but comes back wider
than the line in the photo (a 1 px hairline as 2-3 px). The rule here is applied last, at the photo's own
resolution, whatever scale the photo was mapped at: a mask pixel is kept where the photo's dark-line profile
(:meth:`~crackscope.maps.refine.RefineOptions.width_response`) reaches ``half_max`` of its maximum within
``half_max_radius`` px, and pieces smaller than ``min_size`` px are dropped again. The route says *where*, the
photo says *how wide* (the CAM route's pixel masks apply the same rule, :func:`~crackscope.maps.refine.within_half_max`,
inside their refinement).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from crackscope.maps.base import Mapper, MapResult
from crackscope.maps.postprocess import remove_small
from crackscope.maps.refine import RefineOptions
from crackscope.progress import OnProgress


def apply_photo_width(image: np.ndarray, mask: np.ndarray, *, rule: RefineOptions) -> np.ndarray:
    """``mask`` (bool HxW, at ``image``'s size) less the pixels outside ``rule``'s half-maximum width rule of the
    photo's dark-line profile, then less the pieces smaller than ``rule.min_size`` px.

    Raises
    ------
    ValueError
        If ``rule.half_max`` is None (no width rule) or the mask is not at the photo's size.

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
    mask = np.asarray(mask, bool)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask size {mask.shape} differs from the photo's {image.shape[:2]}")
    if not mask.any():
        return mask.copy()
    kept = mask & rule.within_width(image)
    return remove_small(kept, min_size=rule.min_size) if rule.min_size else kept


class PhotoWidthMapper:
    """A :class:`~crackscope.maps.base.Mapper` whose masks pass :func:`apply_photo_width` with ``rule`` (at the
    photo's own resolution, after ``inner`` mapped it at whatever scale); the soft maps are ``inner``'s."""

    def __init__(self, inner: Mapper, rule: RefineOptions) -> None:
        if rule.half_max is None:
            raise ValueError("the photo's width rule needs half_max")
        self.inner = inner
        self.rule = rule

    def settings(self) -> Mapping[str, object]:
        return {**self.inner.settings(), "photo_width": self.rule.as_dict()}

    def map_image(
        self, image: np.ndarray, *, name: str | None = None, on_progress: OnProgress | None = None
    ) -> MapResult:
        result = self.inner.map_image(image, name=name, on_progress=on_progress)
        mask = apply_photo_width(image, result.mask, rule=self.rule)
        if result.crack_probability is None:  # a route whose verdict is its mask (the restorer's)
            return replace(result, mask=mask, cracked=bool(mask.any()))
        return replace(result, mask=mask)
