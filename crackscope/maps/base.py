"""The map contract: a :class:`Mapper` turns one whole photo into a :class:`MapResult`.

Every route to a crack map implements :class:`Mapper`: the CAM route
(:class:`crackscope.maps.classifier.ClassifierMapper`) and the UP-CrackNet route
(:class:`crackscope.unsupervised.mapper.RestorerMapper`). Mappers are built by one factory,
:func:`crackscope.maps.factory.make_mapper`, from a run and a :class:`~crackscope.maps.recipe.MapRecipe`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np

from crackscope.progress import OnProgress

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Tile:
    """One tile of a photo: ``box`` ``(y0, x0, y1, x1)`` in photo pixels (exclusive ends) and what the model
    said of it: the classifier's crack ``probability`` (CAM route) or the mean restoration ``error``
    (UP-CrackNet route)."""

    box: Box
    probability: float | None = None
    error: float | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON form: ``box`` as a list, and only the measures that are set."""
        out: dict[str, object] = {"box": list(self.box)}
        if self.probability is not None:
            out["probability"] = self.probability
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class MapResult:
    """One photo's crack map.

    ``probability``: soft map, float32 HxW in [0, 1]; ``mask``: bool HxW; ``tiles``: the tiles the photo was
    cut into; ``cam``: the blended, unrefined class map when a refinement replaced it (CAM route);
    ``cracked``: the photo-level verdict; ``crack_probability``: the highest tile probability (None where the
    route has none, as UP-CrackNet); ``scale``: the factor the photo was resampled by to be mapped (1.0: as it
    is; :mod:`crackscope.maps.scale`), the maps are always at the photo's own size; ``no_data``: the share of the
    photo that holds no image data (fill around a rotated or stitched photo, :mod:`crackscope.maps.no_data`), left
    out of the maps.
    """

    probability: np.ndarray
    mask: np.ndarray
    tiles: tuple[Tile, ...] = ()
    cam: np.ndarray | None = None
    cracked: bool = False
    crack_probability: float | None = None
    scale: float = 1.0
    no_data: float = 0.0


def reject_unknown_fields(cls: type, data: Mapping[str, object], *, what: str) -> None:
    """Raise a ValueError naming the keys of ``data`` that are not fields of the dataclass ``cls`` (the settings
    classes' ``from_dict``: a typo in a recipe file is an error, not a silent default).

    Examples
    --------
    >>> reject_unknown_fields(MapResult, {"mask": 1, "maks": 2, "cam": 3}, what="map fields")
    Traceback (most recent call last):
    ...
    ValueError: unknown map fields: maks
    """
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown {what}: {', '.join(unknown)}")


def photo_verdict(result: MapResult, mask: np.ndarray) -> bool:
    """Whether a photo is cracked, given its map and the mask finally kept (after the border rule): the
    classifier says so, or a crack is left in the mask. Recall first: a photo with a crack drawn on it is never
    reported crack-free (the pixel models can find a crack the classifier's tiles missed, for example in a photo
    with a colour cast). A route without a classifier (``crack_probability`` None, UP-CrackNet) says cracked
    when a crack is left.

    Examples
    --------
    >>> empty, drawn = np.zeros((4, 4), bool), np.eye(4, dtype=bool)
    >>> result = MapResult(np.zeros((4, 4), np.float32), drawn, cracked=False, crack_probability=0.2)
    >>> photo_verdict(result, drawn), photo_verdict(result, empty)
    (True, False)
    """
    return bool(result.cracked and result.crack_probability is not None) or bool(np.asarray(mask).any())


class Mapper(Protocol):
    """Maps cracks in whole photos of any size."""

    def settings(self) -> Mapping[str, object]:
        """Everything that decides the maps, as JSON-able values (stored with every output)."""
        ...

    def map_image(
        self, image: np.ndarray, *, name: str | None = None, on_progress: OnProgress | None = None
    ) -> MapResult:
        """Map one HxWx3 uint8 RGB photo; ``name`` labels progress; ``on_progress`` reports tiles."""
        ...


def check_image(image: np.ndarray) -> np.ndarray:
    """``image`` as an HxWx3 uint8 array.

    Raises
    ------
    ValueError
        If it is not HxWx3, not uint8, or has no pixels.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError("image has no pixels")
    return image
