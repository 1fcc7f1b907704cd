"""The UP-CrackNet route to crack maps: restore the photo, the crack is what the restorer cannot restore.

The recipe's ``refine`` decides how the error map becomes a mask (:func:`error_mask`): off, the paper's bilateral
filter and Otsu threshold (``restorer-paper``), which turns thin cracks into bands; on, the filtered error map only
says *where* (its region), and the unfiltered restoration error, how much darker each pixel is than its
restoration, says *which pixels*, through the CAM route's refinement with its width rule and shape filter
(:func:`crackscope.maps.refine.refine_map` with the recipe's ``refine_options`` and
:func:`crackscope.maps.restoration_signal.restoration_response`; ``restorer-thin``). The refinement's dark-line
settings (``radii``) are not used on this route: the restorer, not the photo's dark lines, picks the pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from crackscope.maps.base import MapResult, Tile, check_image
from crackscope.maps.presets import DEFAULT_MAP_PRESET
from crackscope.maps.recipe import MapRecipe, get_preset
from crackscope.maps.refine import refine_map
from crackscope.maps.restoration_signal import restoration_error, restoration_response
from crackscope.maps.tiling import tile_grid
from crackscope.progress import OnProgress
from crackscope.unsupervised.inference import error_map
from crackscope.unsupervised.run import RestorerRun, load_restorer_run

if TYPE_CHECKING:
    from crackscope.devices import DeviceSpec


def error_mask(
    image: np.ndarray, restored: np.ndarray, *, recipe: MapRecipe, bilateral: tuple[int, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(soft float32 HxW in [0, 1], mask bool HxW) of a photo and its restoration, as ``recipe`` says (see the
    module docstring); ``bilateral``: the run's filter of the paper's error map."""
    soft, mask = error_map(image, restored, bilateral=bilateral)
    if not recipe.refine:
        return soft, mask
    options = recipe.refine_options
    response = restoration_response(restoration_error(image, restored, blur=options.blur), options=options)
    return refine_map(image, soft, options=options, response=response)


class RestorerMapper:
    """Maps cracks in whole photos with a restorer run (a :class:`~crackscope.maps.base.Mapper`).

    ``probability`` is the bilateral-filtered, min-max-normalised restoration error (the paper's soft
    error map), ``mask`` its Otsu threshold; with a refining recipe (``refine``), those of :func:`error_mask`.
    ``tiles`` lists the restoration tiles with their mean error.
    There is no photo-level crack probability on this route (Otsu always splits the map), so
    ``crack_probability`` is None. The recipe's route must be ``"restorer"`` (None: ``DEFAULT_MAP_PRESET``'s);
    the run's own settings decide the tiling and the filter. The photo is mapped as it is given: the recipe's
    ``scale`` (``restorer-thin`` enlarges photos 2x) is applied by the
    :class:`~crackscope.maps.scale.ScaledMapper` that :func:`crackscope.maps.factory.make_mapper` wraps this in.
    A run given as a folder is loaded on ``device``; a loaded run is used where it is.

    Raises
    ------
    ValueError
        If the recipe is not of the restorer route, ``overlap`` is not in [0, 1) or ``batch_size`` is not positive.
    DeviceError
        If ``device`` is not on this machine (a run given as a folder).
    """

    def __init__(
        self,
        run: RestorerRun | str | Path,
        recipe: MapRecipe | None = None,
        *,
        overlap: float | None = None,
        batch_size: int = 32,
        device: DeviceSpec = "auto",
    ) -> None:
        self.run = load_restorer_run(run, device=device) if isinstance(run, (str, Path)) else run
        self.recipe = recipe or get_preset(DEFAULT_MAP_PRESET["restorer"])
        if self.recipe.route != "restorer":
            raise ValueError(f"recipe {self.recipe.name!r} maps with a {self.recipe.route} run, not a restorer")
        self.overlap = self.run.restorer.tile_overlap if overlap is None else float(overlap)
        if not 0 <= self.overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.batch_size = int(batch_size)

    def settings(self) -> dict[str, object]:
        return {
            "mapper": "restorer",
            "preset": self.recipe.name,
            "run": str(self.run.path),
            "model": self.run.name,
            "tile": self.run.image_size,
            "overlap": self.overlap,
            "bilateral": list(self.run.restorer.bilateral),
            "normalization": self.run.restorer.normalization,
            "batch_size": self.batch_size,
            "threshold": "refined" if self.recipe.refine else "otsu",
            "refine_options": self.recipe.refine_options.as_dict() if self.recipe.refine else None,
        }

    def map_image(
        self, image: np.ndarray, *, name: str | None = None, on_progress: OnProgress | None = None
    ) -> MapResult:
        """Map one photo (HxWx3 uint8 RGB) of any size."""
        image = check_image(image)
        restored = self.run.restore(image, overlap=self.overlap, batch_size=self.batch_size)
        soft, mask = error_mask(image, restored, recipe=self.recipe, bilateral=self.run.restorer.bilateral)
        h, w = image.shape[:2]
        tile = self.run.image_size
        raw = np.abs(image.astype(np.float32) - restored.astype(np.float32)).mean(axis=2) / 255.0
        tiles = []
        for y0, x0 in tile_grid(max(h, tile), max(w, tile), tile=tile, overlap=self.overlap):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            tiles.append(Tile(box=(y0, x0, y1, x1), error=float(raw[y0:y1, x0:x1].mean())))
        return MapResult(probability=soft.astype(np.float32), mask=mask, tiles=tuple(tiles), cracked=bool(mask.any()))
