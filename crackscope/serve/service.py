"""The model work behind the web API: one loaded run, predictions, explanations and crack maps.

Model calls are serialised with a lock: CAM hooks live on the shared model, and torch already uses all
cores for one image, so running two requests' forward passes at once would only make both slower.

The last few maps are kept (:class:`MapCache`, owned by the :class:`Analyzer`): the page sends the same photo
again when the user sets a scale, and only the measurements are redone then.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crackscope.maps.base import Mapper
from crackscope.maps.measure import CrackMeasurement, summarize_cracks
from crackscope.maps.presets import JOIN_FAINT
from crackscope.maps.recipe import MapRecipe
from crackscope.report import render

DISPLAY_MAX_SIDE = 1600  # returned images are shrunk to this for display; measurements use full resolution
DISPLAY_MIN_SIDE = 384  # small images are enlarged (nearest neighbour) so the page shows them crisply
CACHED_MAPS = 4  # maps kept for a second request of the same photo (a new scale)
CACHED_MAX_PIXELS = 25_000_000  # larger photos are not kept (their maps take hundreds of MB)


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


@dataclass(frozen=True)
class CachedMap:
    """What a map request computed that does not depend on the scale: the cleaned mask and the response's
    images and verdict."""

    mask: np.ndarray
    response: dict[str, Any]


class MapCache:
    """The last ``size`` maps, by photo content and mapping options (least recently used dropped first);
    thread-safe."""

    def __init__(self, size: int = CACHED_MAPS) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], CachedMap] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(image: np.ndarray, method: str) -> tuple[str, str]:
        """The photo's content and the mapping options (``method``, with ``+exposure`` when that rule is on and
        ``+join-faint`` when a crack's faint stretches are joined)."""
        digest = hashlib.sha256(np.ascontiguousarray(image).tobytes())
        digest.update(str(image.shape).encode())
        return digest.hexdigest(), method

    def get(self, key: tuple[str, str]) -> CachedMap | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple[str, str], item: CachedMap) -> None:
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class Analyzer:
    """Holds one loaded run and its map recipe, and answers predict/map requests, one model call at a time.

    ``run_dir`` is a run folder or ``"builtin"``; ``preset`` a preset name or recipe (None: the run's own);
    ``device`` where the models run (``auto``: CUDA when there is one). Maps are made by
    :func:`crackscope.maps.factory.make_mapper`, so they equal ``crackscope map``'s.
    """

    def __init__(self, run_dir: str | Path, *, preset: MapRecipe | str | None = None, device: str = "auto") -> None:
        from crackscope.maps.factory import resolve_recipe
        from crackscope.runs import open_run, resolve_run_dir, run_kind

        self.run_dir = resolve_run_dir(run_dir)
        self.kind = run_kind(self.run_dir)
        self.run = open_run(self.run_dir, device=device)
        self.recipe = resolve_recipe(self.run_dir, preset)
        self.lock = threading.Lock()
        self._mappers: dict[tuple[str, bool, bool], Mapper] = {}
        self.cache = MapCache()

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
            "exposure_available": self.exposure_available,
        }

    @property
    def exposure_available(self) -> bool:
        """Whether the run's recipe has a measured exposure range to map photos in (``map(..., exposure=True)``)."""
        return self.recipe.exposure is not None and self.recipe.exposure.measured

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
    def _mapper(self, method: str, exposure: bool = False, join_faint: bool = False) -> Mapper:
        """The recipe's mapper, with the CAM method asked for, the exposure rule on or off and a crack's faint
        stretches joined (mask settings' ``hysteresis`` :data:`JOIN_FAINT`) or not (each made once)."""
        key = (method, exposure, join_faint)
        if key not in self._mappers:
            from crackscope.maps.factory import make_mapper

            recipe = self.recipe.with_(method=method) if self.kind == "classifier" else self.recipe
            if join_faint:
                recipe = recipe.with_join_faint(JOIN_FAINT)
            self._mappers[key] = make_mapper(self.run, recipe.with_exposure(exposure))
        return self._mappers[key]

    def map(
        self,
        image: np.ndarray,
        *,
        method: str | None = None,
        mm_per_px: float | None = None,
        name: str = "upload",
        exposure: bool = False,
        join_faint: bool = False,
    ) -> dict[str, Any]:
        """Whole-photo crack map: verdict, headline, CAM and probability overlays, mask, numbered cracks,
        measurements and CSV. ``exposure``: map a dark, washed-out or flat photo within the exposure range the run
        was fitted on (:mod:`crackscope.maps.exposure`; a ValueError where the run measured none,
        :meth:`~crackscope.maps.recipe.MapRecipe.with_exposure`). ``join_faint``: on a surface the run was not
        fitted on, keep a crack's fainter stretches, down to :data:`JOIN_FAINT` of the mask threshold, where they
        join it (the recipe's ``refine_options`` with that ``hysteresis``, as ``crackscope map --join-faint``).

        Components along the photo border (edge strips, dark frames) are removed from the mask before
        measuring (:func:`crackscope.maps.postprocess.drop_border_artefacts`). The same photo and options asked
        again (with another scale) reuses the map and only measures again.
        """
        from crackscope.maps.measure import measure_cracks

        method = self.check_method(method)
        if mm_per_px is not None and not (np.isfinite(mm_per_px) and mm_per_px > 0):
            raise ValueError(f"mm_per_px must be a positive number, got {mm_per_px}")
        options = method + ("+exposure" if exposure else "") + ("+join-faint" if join_faint else "")
        key = MapCache.key(image, options) if image.shape[0] * image.shape[1] <= CACHED_MAX_PIXELS else None
        cached = self.cache.get(key) if key is not None else None
        if cached is None:
            cached = self._map_uncached(image, method, exposure, join_faint)
            if key is not None:
                self.cache.put(key, cached)
        measures = measure_cracks(cached.mask, mm_per_px=mm_per_px)
        rows = [_as_dict(m) for m in measures]
        headline = summarize_cracks(measures, mm_per_px=mm_per_px)
        return {
            **cached.response,
            "mm_per_px": mm_per_px,
            "n_cracks": len(rows),
            "headline": _json_value(headline.as_dict()),
            "measurements": rows,
            "csv": measurements_csv(rows, image=name),
        }

    def _map_uncached(
        self, image: np.ndarray, method: str, exposure: bool = False, join_faint: bool = False
    ) -> CachedMap:
        from crackscope.cam.overlay import resize_map
        from crackscope.maps.base import photo_verdict
        from crackscope.maps.postprocess import drop_border_artefacts, label_cracks

        with self.lock:
            result = self._mapper(method, exposure, join_faint).map_image(image)
        raw = np.asarray(result.mask, dtype=bool)
        mask = drop_border_artefacts(raw)
        dropped = label_cracks(raw)[1] - label_cracks(mask)[1]
        shown = _display(image)

        def over(values: np.ndarray) -> str:
            heat = resize_map(np.asarray(values, dtype=np.float32), shown.shape[:2])
            return render.array_data_url(render.heatmap_overlay(shown, heat))

        # The CAM route keeps the class map in `cam` when a refinement replaced it; without one, the
        # probability map is the class map itself. The UP-CrackNet route has no class map.
        if self.kind == "classifier":
            cam = result.cam if result.cam is not None else result.probability
            cam_overlay: str | None = over(cam)
            probability_overlay = over(result.probability) if result.cam is not None else None
        else:
            cam_overlay, probability_overlay = None, over(result.probability)
        cracked = photo_verdict(result, mask)  # the classifier's, or a crack left once the border rule ran
        numbered = render.numbered_overlay(image, mask, min_side=DISPLAY_MIN_SIDE, max_side=DISPLAY_MAX_SIDE)
        response = {
            # restorer runs have no photo-level probability: their verdict is "any crack pixel"
            "probability": result.crack_probability,
            "threshold": float(getattr(self.run, "threshold", 0.5)),
            "label": "cracked" if cracked else "uncracked",
            "method": method,
            "exposure": exposure,
            "join_faint": join_faint,
            "width": int(image.shape[1]),
            "height": int(image.shape[0]),
            "crack_pixels": int(mask.sum()),
            "border_artefacts": int(dropped),
            "tiles": len(result.tiles),
            "preset": self.recipe.name,
            "original": render.array_data_url(shown),
            "cam_overlay": cam_overlay,
            "probability_overlay": probability_overlay,
            "mask": render.array_data_url(render.resize_mask(mask, shown.shape[:2])),
            "overlay": render.array_data_url(numbered),
        }
        return CachedMap(mask=mask, response=response)
