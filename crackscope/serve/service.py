"""The model work behind the web API: one loaded run, predictions, explanations and crack maps.

Model calls are serialised with a lock: CAM hooks live on the shared model, and torch already uses all
cores for one image, so running two requests' forward passes at once would only make both slower.
"""

from __future__ import annotations

import csv
import io
import threading
from pathlib import Path
from typing import Any

import numpy as np

from crackscope.maps.base import Mapper
from crackscope.maps.measure import CrackMeasurement
from crackscope.maps.recipe import MapRecipe
from crackscope.report import render

DISPLAY_MAX_SIDE = 1600  # returned images are shrunk to this for display; measurements use full resolution
DISPLAY_MIN_SIDE = 384  # small images are enlarged (nearest neighbour) so the page shows them crisply


def _display(image: np.ndarray) -> np.ndarray:
    return render.upscale_nearest(render.thumbnail(image, max_side=DISPLAY_MAX_SIDE), min_side=DISPLAY_MIN_SIDE)


def _as_dict(measure: CrackMeasurement) -> dict[str, Any]:
    """A crack measurement as a plain JSON-safe dict."""
    return {k: _json_value(v) for k, v in measure.as_dict().items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_json_value(v) for v in list(value)]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def measurements_csv(rows: list[dict[str, Any]], *, image: str) -> str:
    """The measurements as CSV text in the format of ``crackscope map``'s cracks.csv (one row per crack)."""
    from crackscope.maps.pipeline import CSV_COLUMNS, csv_rows

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows({"file": image, "cracks": rows}))
    return buf.getvalue()


class Analyzer:
    """Holds one loaded run and its map recipe, and answers predict/map requests, one model call at a time.

    ``run_dir`` is a run folder or ``"builtin"``; ``preset`` a preset name or recipe (None: the run's own).
    Maps are made by :func:`crackscope.maps.factory.make_mapper`, so they equal ``crackscope map``'s.
    """

    def __init__(self, run_dir: str | Path, *, preset: MapRecipe | str | None = None) -> None:
        from crackscope.maps.factory import resolve_recipe
        from crackscope.runs import open_run, resolve_run_dir, run_kind

        self.run_dir = resolve_run_dir(run_dir)
        self.kind = run_kind(self.run_dir)
        self.run = open_run(self.run_dir)
        self.recipe = resolve_recipe(self.run_dir, preset)
        self.lock = threading.Lock()
        self._mappers: dict[str, Mapper] = {}

    # -- facts about the run ------------------------------------------------------------------------------
    @property
    def methods(self) -> list[str]:
        if self.kind != "classifier":
            return ["restorer"]
        from crackscope.cam import METHODS

        return list(METHODS)

    @property
    def default_method(self) -> str:
        return self.recipe.method if self.kind == "classifier" else "restorer"

    def info(self) -> dict[str, Any]:
        cfg = getattr(self.run, "config", {}) or {}
        return {
            "run": self.run_dir.name,
            "kind": self.kind,
            "model": str(cfg.get("model", getattr(self.run, "name", "?"))),
            "image_size": getattr(self.run, "image_size", None),
            "threshold": float(getattr(self.run, "threshold", 0.5)),
            "methods": self.methods,
            "default_method": self.default_method,
            "preset": self.recipe.name,
        }

    def check_method(self, method: str | None) -> str:
        method = method or self.default_method
        if method not in self.methods:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(self.methods)}")
        return method

    # -- predictions ---------------------------------------------------------------------------------------
    def predict(self, image: np.ndarray, *, method: str | None = None) -> dict[str, Any]:
        """Image-level crack probability and a class-activation heatmap at the image's size."""
        if self.kind != "classifier":
            raise ValueError("this run is a restorer (UP-CrackNet) run: use /api/map, it has no classifier")
        from crackscope.cam import explain
        from crackscope.cam.overlay import colorize, resize_map

        method = self.check_method(method)
        batch = self.run.preprocess(image)[None]
        with self.lock:
            expl = explain(self.run.model, batch, method=method)
        probability = float(expl.probabilities[0])
        flags = tuple(expl.flags[0])
        shown = _display(image)
        heat = resize_map(np.asarray(expl.normalised[0], dtype=np.float32), shown.shape[:2])
        threshold = float(self.run.threshold)
        return {
            "probability": probability,
            "threshold": threshold,
            "label": "cracked" if probability >= threshold else "uncracked",
            "method": method,
            "layer": str(expl.layer),
            "flags": list(flags),
            "width": int(image.shape[1]),
            "height": int(image.shape[0]),
            "heatmap": render.array_data_url(colorize(heat)),
            "heatmap_overlay": render.array_data_url(render.heatmap_overlay(shown, heat, flags=flags)),
        }

    # -- crack maps -----------------------------------------------------------------------------------------
    def _mapper(self, method: str) -> Mapper:
        """The recipe's mapper, with the CAM method asked for (one per method, made once)."""
        if method not in self._mappers:
            from crackscope.maps.factory import make_mapper

            recipe = self.recipe.with_(method=method) if self.kind == "classifier" else self.recipe
            self._mappers[method] = make_mapper(self.run, recipe)
        return self._mappers[method]

    def map(
        self, image: np.ndarray, *, method: str | None = None, mm_per_px: float | None = None, name: str = "upload"
    ) -> dict[str, Any]:
        """Whole-photo crack map: probability, heatmap overlay, mask, numbered cracks, measurements, CSV."""
        from crackscope.cam.overlay import resize_map
        from crackscope.maps.measure import measure_cracks

        method = self.check_method(method)
        if mm_per_px is not None and not (np.isfinite(mm_per_px) and mm_per_px > 0):
            raise ValueError(f"mm_per_px must be a positive number, got {mm_per_px}")
        with self.lock:
            result = self._mapper(method).map_image(image)
        mask = np.asarray(result.mask, dtype=bool)
        measures = measure_cracks(mask, mm_per_px=mm_per_px)
        rows = [_as_dict(m) for m in measures]
        # restorer runs have no photo-level probability: their verdict is "any crack pixel"
        probability = result.crack_probability
        threshold = float(getattr(self.run, "threshold", 0.5))
        cracked = result.cracked
        shown = _display(image)
        heat_shown = resize_map(np.asarray(result.probability, dtype=np.float32), shown.shape[:2])
        mask_shown = render.resize_mask(mask, shown.shape[:2])
        numbered = render.thumbnail(
            render.numbered_overlay(image, mask, min_side=DISPLAY_MIN_SIDE), max_side=DISPLAY_MAX_SIDE
        )
        return {
            "probability": probability,
            "threshold": threshold,
            "label": "cracked" if cracked else "uncracked",
            "method": method,
            "mm_per_px": mm_per_px,
            "width": int(image.shape[1]),
            "height": int(image.shape[0]),
            "crack_pixels": int(mask.sum()),
            "n_cracks": len(rows),
            "tiles": len(result.tiles),
            "preset": self.recipe.name,
            "original": render.array_data_url(shown),
            "heatmap_overlay": render.array_data_url(render.heatmap_overlay(shown, heat_shown)),
            "mask": render.array_data_url(mask_shown),
            "overlay": render.array_data_url(numbered),
            "measurements": rows,
            "csv": measurements_csv(rows, image=name),
        }
