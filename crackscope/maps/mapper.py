"""Whole-photo crack maps from a classifier: tiles -> CAM per tile -> blended map -> (refined) mask.

How a map is made (``ClassifierMapper.map_image``):

1. The photo is cut into overlapping square tiles of ``tile`` px (default: the patch size the run was
   trained on when it learned from photo patches, else its input size) and each tile is resized to the
   run's input size (so a larger tile means the model sees the photo at a smaller scale). Photos smaller
   than a tile are mirror-padded.
2. Tiles go through the method's CAM extractor (:func:`crackscope.cam.create_cam`) in batches: one forward/backward gives both the tile's
   crack probability ``p`` and its map (normalised per tile to [0, 1]).
3. Each tile contributes ``p x map``: the per-tile normalisation makes every map peak at 1, so weighting by
   the crack probability is what keeps crack-free tiles (small ``p``) from painting noise. The weighted maps
   are blended with a Hann window (:mod:`crackscope.maps.tiling`), so the result is a soft map in [0, 1].
4. With ``gate="photo"`` (the default) a photo where no tile reaches the run's decision threshold is called
   crack-free and its mask is empty. With ``gate="pixels"`` no photo is zeroed as a whole: the mask comes
   from the pixel evidence inside the map's region (the refinement's ``region_floor`` keeps a faint map,
   i.e. only low-probability tiles, from marking anything). The mask is either the plain Otsu threshold of
   the blended map (``refine=False``, the approach of the CAM studies) or the refinement of
   :mod:`crackscope.maps.refine` (the image picks the thin crack pixels inside the map's region), whose soft
   map then replaces the CAM as ``probability``.
5. With a ``pixel_model`` (a self-trained pixel classifier, :mod:`crackscope.maps.selftrain`) the refinement
   uses that model's per-pixel crack probability inside the map's region instead of the dark-line response.

Memory stays bounded: tiles are cut and explained one batch at a time and only float32 full-size buffers
are kept (blend sum and weight, the map, the refinement's response).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from crackscope.maps.postprocess import remove_small, threshold_map
from crackscope.maps.refine import RefineOptions, refine_map
from crackscope.maps.tiling import BlendAccumulator, batched, pad_to_tile, tile_grid

#: how a photo-level "crack-free" call acts on the mask: "photo" empties it, "pixels" leaves it to the pixels
GATES = ("photo", "pixels")
#: photos with at least this many tiles get a progress bar over tiles (when progress is shown)
TILE_PROGRESS_MIN = 64


@dataclass
class MapResult:
    """One photo's crack map: soft ``probability`` (float32 HxW in [0, 1]), ``mask`` (bool HxW) and
    ``tiles``: one dict per tile with ``box`` ``[y0, x0, y1, x1]`` (exclusive ends, photo pixels) and the
    tile's crack ``probability``. ``cam`` keeps the blended, unrefined class map when a refinement replaced it."""

    probability: np.ndarray
    mask: np.ndarray
    tiles: list[dict[str, Any]] = field(default_factory=list)
    cam: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


class ClassifierMapper:
    """Maps cracks in whole photos with a classifier run and a CAM method (see the module docstring)."""

    def __init__(
        self,
        run: Any,
        *,
        method: str = "gradcam++",
        tile: int | None = None,
        overlap: float = 0.25,
        refine: bool = True,
        batch_size: int = 16,
        layer: str | None = None,
        refine_options: RefineOptions | None = None,
        plain_min_size: int = 30,
        show_progress: bool = False,
        gate: str = "photo",
        pixel_model: Any = None,
    ) -> None:
        from crackscope.training.run import as_run

        self.run = as_run(run) if isinstance(run, (str, Path)) else run
        self.input_size = int(self.run.image_size)
        self.tile = int(tile) if tile is not None else default_tile(self.run)
        if self.tile < 8:
            raise ValueError(f"tile must be at least 8 px, got {self.tile}")
        if not 0 <= overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        from crackscope.cam import METHODS

        if method not in METHODS:
            raise ValueError(f"unknown CAM method {method!r}; choose one of {', '.join(METHODS)}")
        self.method = method
        self.overlap = float(overlap)
        self.refine = bool(refine)
        self.batch_size = int(batch_size)
        self.layer = layer
        self.refine_options = refine_options or RefineOptions()
        self.plain_min_size = int(plain_min_size)
        if gate not in GATES:
            raise ValueError(f"unknown gate {gate!r}; choose one of {', '.join(GATES)}")
        self.gate = gate
        if isinstance(pixel_model, (str, Path)):
            from crackscope.maps.selftrain import load_pixel_models

            pixel_model = load_pixel_models(pixel_model)
        self.pixel_model = pixel_model
        self.show_progress = show_progress
        #: a shared rich Progress (set by the pipeline) to show tile progress on; else one is made if shown
        self.progress: Any = None
        self._extractor: tuple[tuple[Any, ...], Any] | None = None

    # -- settings, for manifests -------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        return {
            "mapper": "classifier",
            "run": str(getattr(self.run, "path", "")),
            "model": getattr(self.run, "name", None),
            "method": self.method,
            "tile": self.tile,
            "input_size": self.input_size,
            "overlap": self.overlap,
            "refine": self.refine,
            "refine_options": self.refine_options.as_dict() if self.refine else None,
            "gate": self.gate,
            "pixel_model": getattr(self.pixel_model, "source", None) if self.refine else None,
            "threshold": float(self.run.threshold),
        }

    # -- the CAM pass ------------------------------------------------------------------------------------
    def _tile_tensor(self, padded: np.ndarray, starts: list[tuple[int, int]]) -> Any:
        import torch

        t, s = self.tile, self.input_size
        crops = []
        for y0, x0 in starts:
            crop = padded[y0 : y0 + t, x0 : x0 + t]
            if t != s:
                crop = cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA)
            crops.append(crop)
        arr = np.stack(crops).astype(np.float32)  # N x S x S x 3, 0..255 like every model expects
        return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()

    def extractor(self) -> Any:
        """The CAM extractor, made once per method, layer and model (its automatic layer choice is probed once
        per input size, not once per batch of tiles)."""
        from crackscope.cam import create_cam

        key = (self.method, self.layer, id(self.run.model))
        if self._extractor is None or self._extractor[0] != key:
            self._extractor = (key, create_cam(self.method, self.run.model, layer=self.layer))
        return self._extractor[1]

    def cam_map(self, image: np.ndarray, *, name: str | None = None) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """The blended, probability-weighted class map (float32 HxW in [0, 1]) and the per-tile predictions."""
        image = _check_image(image)
        explain = self.extractor()
        h, w = image.shape[:2]
        padded = pad_to_tile(image, self.tile)
        ph, pw = padded.shape[:2]
        starts = tile_grid(ph, pw, tile=self.tile, overlap=self.overlap)
        acc = BlendAccumulator(ph, pw, self.tile)
        tiles: list[dict[str, Any]] = []
        with _TileBar(self, len(starts), name) as bar:
            for chunk in batched(starts, self.batch_size):
                batch = self._tile_tensor(padded, chunk)
                expl = explain(batch, target="crack", normalise="image")
                maps = np.nan_to_num(np.asarray(expl.normalised, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
                probs = np.asarray(expl.probabilities, np.float64)
                for (y0, x0), m, p in zip(chunk, maps, probs):
                    if m.shape != (self.tile, self.tile):
                        m = cv2.resize(m, (self.tile, self.tile), interpolation=cv2.INTER_LINEAR)
                    acc.add(y0, x0, np.clip(m, 0.0, 1.0) * np.float32(p))
                    tiles.append(
                        {"box": [y0, x0, min(y0 + self.tile, h), min(x0 + self.tile, w)], "probability": float(p)}
                    )
                bar.advance(len(chunk))
        cam = acc.result()
        del acc
        if (ph, pw) != (h, w):
            cam = np.ascontiguousarray(cam[:h, :w])
        np.clip(cam, 0.0, 1.0, out=cam)
        return cam, tiles

    # -- masks ---------------------------------------------------------------------------------------------
    def is_cracked(self, tiles: list[dict[str, Any]]) -> bool:
        """Photo-level decision: some tile reaches the run's threshold."""
        return any(t["probability"] >= self.run.threshold for t in tiles)

    def plain_mask(self, cam: np.ndarray) -> np.ndarray:
        """The studies' approach: Otsu threshold of the blended class map, specks removed."""
        mask = threshold_map(cam, method="otsu")
        return remove_small(mask, min_size=self.plain_min_size) if self.plain_min_size else mask

    def finish(self, image: np.ndarray, cam: np.ndarray, tiles: list[dict[str, Any]], *, refine: bool) -> MapResult:
        """Turn a class map into a MapResult (plain or refined)."""
        cracked = self.is_cracked(tiles)
        info = {"cracked": cracked, "crack_probability": max((t["probability"] for t in tiles), default=0.0)}
        keep = cracked or self.gate == "pixels"
        if not refine:
            mask = self.plain_mask(cam) if keep else np.zeros(cam.shape, bool)
            return MapResult(probability=cam, mask=mask, tiles=tiles, cam=None, info=info)
        if self.pixel_model is not None:
            from crackscope.maps.selftrain import refine_with_pixel_model

            soft, mask = refine_with_pixel_model(image, cam, self.pixel_model, options=self.refine_options)
        else:
            soft, mask = refine_map(image, cam, options=self.refine_options)
        if not keep:
            mask = np.zeros(cam.shape, bool)
        return MapResult(probability=soft.astype(np.float32, copy=False), mask=mask, tiles=tiles, cam=cam, info=info)

    def map_image(self, image: np.ndarray, *, name: str | None = None) -> MapResult:
        """Map one photo (HxWx3 uint8 RGB): soft map, mask and per-tile predictions, at the photo's size."""
        image = _check_image(image)
        cam, tiles = self.cam_map(image, name=name)
        return self.finish(image, cam, tiles, refine=self.refine)


def default_tile(run: Any) -> int:
    """The photo-pixel size the classifier was trained on: its patch size when it learned from photo patches
    (``config["data"]["patch_settings"]["patch_size"]``), else its input size."""
    config = getattr(run, "config", None) or {}
    data = config.get("data") or {}
    patch = (data.get("patch_settings") or {}).get("patch_size") if isinstance(data, dict) else None
    return int(patch) if isinstance(patch, int) and patch >= 8 else int(run.image_size)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError("image has no pixels")
    return image


class _TileBar:
    """A progress task over tiles, only for big photos and only when progress is shown."""

    def __init__(self, mapper: ClassifierMapper, total: int, name: str | None) -> None:
        self.mapper, self.total, self.name = mapper, total, name
        self.bar: Any = None
        self.task: Any = None
        self.own = False

    def __enter__(self) -> _TileBar:
        if self.total < TILE_PROGRESS_MIN or not (self.mapper.show_progress or self.mapper.progress is not None):
            return self
        self.bar = self.mapper.progress
        if self.bar is None:
            from crackscope.cli.common import progress

            self.bar, self.own = progress(), True
            self.bar.start()
        self.task = self.bar.add_task(f"tiles of {self.name or 'photo'}", total=self.total)
        return self

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is None:
            return
        self.bar.remove_task(self.task)
        if self.own:
            self.bar.stop()
