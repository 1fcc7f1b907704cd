"""The UP-CrackNet route to crack maps: restore the photo, the crack is what the restorer cannot restore."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from crackscope.maps.mapper import MapResult
from crackscope.maps.tiling import tile_grid
from crackscope.unsupervised.inference import error_map


class RestorerMapper:
    """Maps cracks in whole photos with a restorer run (``map_image(image) -> MapResult``).

    ``probability`` is the bilateral-filtered, min-max-normalised restoration error (the paper's soft
    error map), ``mask`` its Otsu threshold; ``tiles`` lists the restoration tiles with their mean error.
    There is no photo-level crack probability on this route (Otsu always splits the map), so
    ``info["crack_probability"]`` is None.
    """

    def __init__(self, run: Any, *, overlap: float | None = None, batch_size: int = 32) -> None:
        if isinstance(run, (str, Path)):
            from crackscope.unsupervised.run import load_restorer_run

            run = load_restorer_run(run)
        self.run = run
        self.overlap = run.restorer.tile_overlap if overlap is None else float(overlap)
        if not 0 <= self.overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.batch_size = int(batch_size)

    def settings(self) -> dict[str, Any]:
        return {
            "mapper": "restorer",
            "run": str(self.run.path),
            "model": self.run.name,
            "tile": self.run.image_size,
            "overlap": self.overlap,
            "bilateral": list(self.run.restorer.bilateral),
            "normalization": self.run.restorer.normalization,
            "batch_size": self.batch_size,
            "threshold": "otsu",
        }

    def map_image(self, image: np.ndarray, *, name: str | None = None) -> MapResult:
        """Map one photo (HxWx3 uint8 RGB) of any size."""
        restored = self.run.restore(image, overlap=self.overlap, batch_size=self.batch_size)
        soft, mask = error_map(image, restored, bilateral=tuple(self.run.restorer.bilateral))
        h, w = image.shape[:2]
        tile = self.run.image_size
        raw = np.abs(image.astype(np.float32) - restored.astype(np.float32)).mean(axis=2) / 255.0
        tiles = []
        for y0, x0 in tile_grid(max(h, tile), max(w, tile), tile=tile, overlap=self.overlap):
            box = [y0, x0, min(y0 + tile, h), min(x0 + tile, w)]
            tiles.append({"box": box, "error": float(raw[box[0] : box[2], box[1] : box[3]].mean())})
        info = {"cracked": bool(mask.any()), "crack_probability": None, "mean_error": float(raw.mean())}
        return MapResult(probability=soft.astype(np.float32), mask=mask, tiles=tiles, info=info)
