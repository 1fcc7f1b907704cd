"""Whole-photo crack maps from a classifier: tiles -> CAM per tile -> blended map -> (refined) mask.

How a map is made (``ClassifierMapper.map_image``):

1. The photo is cut into overlapping square tiles of ``tile`` px (default: the patch size the run was
   trained on when it learned from photo patches, else its input size) and each tile is resized to the
   run's input size (so a larger tile means the model sees the photo at a smaller scale). Photos smaller
   than a tile are mirror-padded.
2. Tiles go through the method's CAM extractor (:func:`crackscope.cam.create_cam`) in batches: one forward/backward
gives both the tile's
   crack probability ``p`` and its map (normalised per tile to [0, 1]).
3. Each tile contributes ``p x map``: the per-tile normalisation makes every map peak at 1, so weighting by
   the crack probability is what keeps crack-free tiles (small ``p``) from painting noise. The weighted maps
   are blended with a Hann window (:mod:`crackscope.maps.tiling`), so the result is a soft map in [0, 1].
4. With ``gate="photo"`` (the recipe's default) a photo where no tile reaches the run's decision threshold is called
   crack-free and its mask is empty. With ``gate="pixels"`` no photo is zeroed as a whole: the mask comes
   from the pixel evidence inside the map's region (the refinement's ``region_floor`` keeps a faint map,
   i.e. only low-probability tiles, from marking anything). The mask is either the plain Otsu threshold of
   the blended map (``refine=False``, the approach of the CAM studies) or the refinement of
   :mod:`crackscope.maps.refine` (the image picks the thin crack pixels inside the map's region), whose soft
   map then replaces the CAM as ``probability``.
5. With a ``pixel_model`` (a self-trained pixel classifier, :mod:`crackscope.maps.pixel_model`) the mask
   comes from that model's per-pixel crack probability inside the map's region instead of the dark-line
   response.

Every setting comes from a :class:`~crackscope.maps.recipe.MapRecipe`; build mappers with
:func:`crackscope.maps.factory.make_mapper`.

Memory stays bounded: tiles are cut and explained one batch at a time and only float32 full-size buffers
are kept (blend sum and weight, the map, the refinement's response).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from crackscope.cam.base import CamExtractor
from crackscope.maps.base import MapResult, Tile, check_image
from crackscope.maps.pixel_model import PixelPredictor, refine_with_pixel_model
from crackscope.maps.postprocess import remove_small, threshold_map
from crackscope.maps.recipe import MapRecipe
from crackscope.maps.refine import refine_map
from crackscope.maps.tiling import BlendAccumulator, batched, pad_to_tile, tile_grid
from crackscope.models.speed import bf16_supported, fold_batch_norms
from crackscope.progress import OnProgress, report
from crackscope.training.run import ClassifierRun, load_run

#: photos with at least this many tiles report progress over their tiles
TILE_PROGRESS_MIN = 64
#: specks smaller than this (px) are removed from the plain (unrefined) mask
PLAIN_MIN_SIZE = 30


class ClassifierMapper:
    """Maps cracks in whole photos with a classifier run and a recipe (see the module docstring).

    ``class_map``: always compute the class map (``MapResult.cam``, shown by the web page); False leaves it out
    where the recipe's maps do not use it (:meth:`needs_class_map`), as ``crackscope map``, whose outputs do not
    show it, does.
    """

    def __init__(
        self,
        run: ClassifierRun | str | Path,
        recipe: MapRecipe | None = None,
        *,
        pixel_model: PixelPredictor | None = None,
        batch_size: int = 64,
        class_map: bool = True,
    ) -> None:
        from crackscope.cam import METHODS

        self.run = load_run(run) if isinstance(run, (str, Path)) else run
        self.recipe = recipe or MapRecipe()
        if self.recipe.route != "classifier":
            raise ValueError(f"recipe {self.recipe.name!r} maps with a {self.recipe.route} run, not a classifier")
        if self.recipe.method not in METHODS:
            raise ValueError(f"unknown CAM method {self.recipe.method!r}; choose one of {', '.join(METHODS)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.input_size = int(self.run.image_size)
        self.tile = self.recipe.tile if self.recipe.tile is not None else default_tile(self.run)
        self.batch_size = int(batch_size)
        self.pixel_model = pixel_model
        self.class_map = bool(class_map)
        self.precision = "bf16" if self.run.precision == "bf16" and bf16_supported() else "fp32"
        self._extractor: tuple[tuple[object, ...], CamExtractor] | None = None

    # -- settings, for manifests -------------------------------------------------------------------------
    def settings(self) -> dict[str, object]:
        r = self.recipe
        return {
            "mapper": "classifier",
            "preset": r.name,
            "run": str(self.run.path),
            "model": self.run.name,
            "method": r.method,
            "layer": r.layer,
            "tile": self.tile,
            "input_size": self.input_size,
            "overlap": r.overlap,
            "refine": r.refine,
            "refine_options": r.refine_options.as_dict() if r.refine else None,
            "gate": r.gate,
            "pixel_model": self.pixel_model.source if (r.refine and self.pixel_model is not None) else None,
            "threshold": float(self.run.threshold),
        }

    # -- the CAM pass ------------------------------------------------------------------------------------
    def _tile_tensor(self, padded: np.ndarray, starts: Sequence[tuple[int, int]]) -> torch.Tensor:
        t, s = self.tile, self.input_size
        crops = []
        for y0, x0 in starts:
            crop = padded[y0 : y0 + t, x0 : x0 + t]
            if t != s:
                crop = cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA)
            crops.append(crop)
        arr = np.stack(crops).astype(np.float32)  # N x S x S x 3, 0..255 like every model expects
        # channels_last input (the convolutions follow it; converting the model too gained nothing measurable) and
        # the run's bf16 autocast in the CAM pass: about 1.8x faster on this CPU than float32 NCHW, tile
        # probabilities within 0.02 (measured on a 3 MP DeepCrack mosaic)
        return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)

    def extractor(self) -> CamExtractor:
        """The CAM extractor, made once per method, layer and model (its automatic layer choice is probed once
        per input size, not once per batch of tiles)."""
        from crackscope.cam import create_cam

        key = (self.recipe.method, self.recipe.layer, id(self.run.model))
        if self._extractor is None or self._extractor[0] != key:
            # the batch norms folded into their convolutions (names kept, so the target layer is the same)
            model = fold_batch_norms(self.run.model)
            self._extractor = (key, create_cam(self.recipe.method, model, layer=self.recipe.layer))
        return self._extractor[1]

    def _tile_batches(
        self, padded: np.ndarray, *, name: str | None, on_progress: OnProgress | None
    ) -> Iterator[tuple[list[tuple[int, int]], torch.Tensor]]:
        """The recipe's tiles of a padded photo, ``batch_size`` at a time: (their origins, the input batch);
        progress is reported once a batch is done with (a photo of ``TILE_PROGRESS_MIN`` tiles or more)."""
        starts = tile_grid(*padded.shape[:2], tile=self.tile, overlap=self.recipe.overlap)
        task = f"tiles of {name or 'photo'}"
        shown = on_progress if len(starts) >= TILE_PROGRESS_MIN else None
        report(shown, task, 0, len(starts))
        done = 0
        for chunk in batched(starts, self.batch_size):
            yield list(chunk), self._tile_tensor(padded, chunk)
            done += len(chunk)
            report(shown, task, done, len(starts))

    def _tile(self, y0: int, x0: int, shape: tuple[int, ...], probability: float) -> Tile:
        """A tile at (y0, x0), its box cut to the photo's ``shape``."""
        return Tile(box=(y0, x0, min(y0 + self.tile, shape[0]), min(x0 + self.tile, shape[1])), probability=probability)

    def cam_map(
        self, image: np.ndarray, *, name: str | None = None, on_progress: OnProgress | None = None
    ) -> tuple[np.ndarray, tuple[Tile, ...]]:
        """The blended, probability-weighted class map (float32 HxW in [0, 1]) and the per-tile predictions."""
        image = check_image(image)
        explain = self.extractor()
        h, w = image.shape[:2]
        padded = pad_to_tile(image, self.tile)
        ph, pw = padded.shape[:2]
        acc = BlendAccumulator(ph, pw, self.tile)
        tiles: list[Tile] = []
        for chunk, batch in self._tile_batches(padded, name=name, on_progress=on_progress):
            expl = explain(batch, target="crack", normalise="image", precision=self.precision)
            maps = np.nan_to_num(np.asarray(expl.normalised, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
            probs = np.asarray(expl.probabilities, np.float64)
            for (y0, x0), m, p in zip(chunk, maps, probs, strict=True):
                if m.shape != (self.tile, self.tile):
                    m = cv2.resize(m, (self.tile, self.tile), interpolation=cv2.INTER_LINEAR)
                acc.add(y0, x0, np.clip(m, 0.0, 1.0) * np.float32(p))
                tiles.append(self._tile(y0, x0, image.shape, float(p)))
        cam = acc.result()
        del acc
        if (ph, pw) != (h, w):
            cam = np.ascontiguousarray(cam[:h, :w])
        np.clip(cam, 0.0, 1.0, out=cam)
        return cam, tuple(tiles)

    # -- masks ---------------------------------------------------------------------------------------------
    def is_cracked(self, tiles: Sequence[Tile]) -> bool:
        """Photo-level decision: some tile reaches the run's threshold."""
        return any((t.probability or 0.0) >= self.run.threshold for t in tiles)

    def needs_class_map(self) -> bool:
        """Whether the recipe's maps use the class map: a plain map is the class map, the dark-line refinement
        weights its soft map by it, and a pixel model's mask is kept inside its region when the recipe sets one."""
        r = self.recipe
        return not r.refine or self.pixel_model is None or r.refine_options.uses_region

    def tile_probabilities(
        self, image: np.ndarray, *, name: str | None = None, on_progress: OnProgress | None = None
    ) -> tuple[Tile, ...]:
        """The tiles of :meth:`cam_map` with their crack probabilities, from the classifier's forward pass alone
        (the same pass, model and precision, without the class map)."""
        from crackscope.cam.base import target_scores
        from crackscope.devices import module_device

        image = check_image(image)
        model = self.extractor().model
        device = module_device(model)
        bf16 = self.precision == "bf16"
        tiles: list[Tile] = []
        for chunk, batch in self._tile_batches(pad_to_tile(image, self.tile), name=name, on_progress=on_progress):
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = target_scores(model(batch.to(device)).float(), "crack")
            probs = torch.sigmoid(logits).float().cpu().numpy()
            tiles.extend(self._tile(y0, x0, image.shape, float(p)) for (y0, x0), p in zip(chunk, probs, strict=True))
        return tuple(tiles)

    def finish(self, image: np.ndarray, cam: np.ndarray | None, tiles: Sequence[Tile]) -> MapResult:
        """Turn a class map into a MapResult (plain or refined, as the recipe says). ``cam`` may be None where
        the recipe does not use it (:meth:`needs_class_map`)."""
        r = self.recipe
        if cam is None:
            if self.needs_class_map():
                raise ValueError(f"recipe {r.name!r} needs the class map")
            # the region is the whole photo: a read-only view of ones stands for the map (no 4-byte-per-pixel copy)
            region_map: np.ndarray = np.broadcast_to(np.float32(1.0), image.shape[:2])
        else:
            region_map = cam
        cracked = self.is_cracked(tiles)
        crack_probability = max((t.probability or 0.0 for t in tiles), default=0.0)
        keep = cracked or r.gate == "pixels"
        if not r.refine:
            mask = threshold_map(region_map, method="otsu") if keep else np.zeros(region_map.shape, bool)
            mask = remove_small(mask, min_size=PLAIN_MIN_SIZE)
            return MapResult(region_map, mask, tuple(tiles), None, cracked, crack_probability)
        if self.pixel_model is not None:
            soft, mask = refine_with_pixel_model(image, region_map, self.pixel_model, options=r.refine_options)
        else:
            soft, mask = refine_map(image, region_map, options=r.refine_options)
        if not keep:
            mask = np.zeros(region_map.shape, bool)
        return MapResult(soft.astype(np.float32, copy=False), mask, tuple(tiles), cam, cracked, crack_probability)

    def map_image(
        self, image: np.ndarray, *, name: str | None = None, on_progress: OnProgress | None = None
    ) -> MapResult:
        """Map one photo (HxWx3 uint8 RGB): soft map, mask and per-tile predictions, at the photo's size. Without
        ``class_map`` and where the recipe does not use it, ``MapResult.cam`` is None and only the tiles'
        probabilities are computed (2.06 s instead of 2.47 s on a 13 MP photo with the bundled run,
        ``benchmarks/bench_mosaic_parts.py``)."""
        image = check_image(image)
        if self.class_map or self.needs_class_map():
            cam, tiles = self.cam_map(image, name=name, on_progress=on_progress)
            return self.finish(image, cam, tiles)
        return self.finish(image, None, self.tile_probabilities(image, name=name, on_progress=on_progress))


def default_tile(run: ClassifierRun) -> int:
    """The photo-pixel size the classifier was trained on: its patch size when it learned from photo patches
    (``config["data"]["patch_settings"]["patch_size"]``), else its input size."""
    data = run.config.get("data") or {}
    patch = (data.get("patch_settings") or {}).get("patch_size") if isinstance(data, dict) else None
    return int(patch) if isinstance(patch, int) and patch >= 8 else int(run.image_size)
