"""Explain image files with a classifier run and write maps, overlays, panels, predictions.csv, manifest.json."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crackscope.errors import BadInputError

if TYPE_CHECKING:
    from crackscope.maps.classifier import ClassifierMapper
    from crackscope.training.run import ClassifierRun


@dataclass
class ExplainReport:
    """What ``explain_images`` did: explained names, skipped files with the reason, flagged maps."""

    out: Path
    method: str
    layer: str | None = None
    explained: list[str] = field(default_factory=list)
    tiled: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    flagged: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)


def _expand(inputs: Iterable[str | Path], report: ExplainReport) -> list[Path]:
    from crackscope.io import list_images

    paths: list[Path] = []
    for item in inputs:
        try:
            paths.extend(list_images([item]))
        except BadInputError as exc:
            report.skipped.append((str(item), exc.problem))
    seen: set[Path] = set()
    return [p for p in paths if not (p.resolve() in seen or seen.add(p.resolve()))]


def _unique_names(paths: Sequence[Path]) -> list[str]:
    names, used = [], set()
    for p in paths:
        name, k = p.name, 1
        while Path(name).stem in used:
            k += 1
            name = f"{p.stem}_{k}{p.suffix}"
        used.add(Path(name).stem)
        names.append(name)
    return names


def explain_images(
    run: Any,
    inputs: Iterable[str | Path],
    *,
    out: str | Path,
    method: str = "gradcam++",
    target: str = "crack",
    layer: str | None = None,
    normalise: str = "image",
    batch_size: int = 16,
    alpha: float = 0.5,
    precision: str = "fp32",
    colormap: str = "jet",
    panels: bool = True,
    tiles: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> ExplainReport:
    """Explain every image of ``inputs`` (files, folders, globs) with the classifier ``run`` (a run folder or a
    loaded run with ``.model``, ``.preprocess``, ``.threshold``).

    Per image in ``out``: ``<stem>_map.npy`` (the raw, non-normalised map, float32, resized back to the original
    photo's size), ``<stem>_overlay.png`` and ``<stem>_panel.png``; plus ``predictions.csv``
    (``filename,class,probability,flags``) and ``manifest.json``. ``normalise="batch"`` scales all overlays of
    the call by one common maximum, so they are comparable. Bad files are reported in ``skipped``; predictions are
    rewritten after every batch so finished work is never lost.

    A photo larger than the tile ``crackscope map`` cuts it into (with ``tiles``, for the ``crack`` target) is
    explained as ``map`` sees it: in tiles, each explained at the model's input size, blended by crack
    probability; its verdict is ``map``'s (the highest tile probability against the threshold) and its
    ``.npy`` map is the blended map in [0, 1] (the ``view`` column of ``predictions.csv`` says ``tiles``).
    Other photos, and every photo with ``tiles=False``, are resized whole to the input size (``resized``).
    """
    import torch

    from crackscope.cam.explanation import NORMALISE, prediction_row, write_item, write_predictions
    from crackscope.cam.methods import create_cam
    from crackscope.io import manifest, read_image, write_json_atomic

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if normalise not in NORMALISE:
        raise ValueError(f"normalise must be one of {NORMALISE}, got {normalise!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if isinstance(run, (str, Path)):
        from crackscope.training.run import load_run

        run = load_run(run)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = ExplainReport(out=out, method=method)
    paths = _expand(inputs, report)
    names = _unique_names(paths)
    extractor = create_cam(method, run.model, layer=layer)
    threshold = float(getattr(run, "threshold", 0.5))
    mapper = _tile_mapper(run, method=method, layer=layer) if tiles and target == "crack" else None
    rows: list[dict[str, str]] = []
    peaks: dict[str, float] = {}
    sources: dict[str, Path] = {}
    probabilities: dict[str, float] = {}

    for start in range(0, len(paths), batch_size):
        images, tensors, kept = [], [], []
        for path, name in zip(paths[start : start + batch_size], names[start : start + batch_size]):
            try:
                image = read_image(path)
                if mapper is not None and max(image.shape[:2]) > mapper.tile:
                    probability = _explain_tiled(mapper, image, name, out, alpha=alpha, colormap=colormap, panel=panels)
                    rows.append(prediction_row(name, probability, threshold, (), view="tiles"))
                    report.explained.append(name)
                    report.tiled.append(name)
                    continue
                tensors.append(run.preprocess(image))
            except BadInputError as exc:
                report.skipped.append((str(path), exc.problem))
                continue
            images.append(image)
            kept.append((path, name))
        if tensors:
            result = extractor(torch.stack(tensors), target=target, normalise="image", precision=precision)
            report.layer = result.layer
            for i, (path, name) in enumerate(kept):
                raw = result.maps[i]
                flags = result.flags[i]
                probability = float(result.probabilities[i])
                # with normalise="batch" the drawing waits for the common scale (after the last batch)
                write_item(
                    out, name, raw, images[i], scale=1.0 if normalise == "none" else None, flags=flags,
                    probability=probability, alpha=alpha, colormap=colormap, panel=panels,
                    draw=normalise != "batch",
                )
                rows.append(prediction_row(name, probability, threshold, flags))
                peaks[name] = float(np.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0).max(initial=0.0))
                sources[name] = path
                probabilities[name] = probability
                report.explained.append(name)
                if flags:
                    report.flagged.append((name, flags))
        if rows:
            write_predictions(out / "predictions.csv", rows)
        if on_batch is not None:
            on_batch(len(paths[start : start + batch_size]))

    if normalise == "batch" and peaks:  # tiled photos are drawn on their own [0, 1] scale
        scale = max(peaks.values())
        for name in peaks:
            stem = Path(name).stem
            raw = np.load(out / f"{stem}_map.npy")
            flags = dict(report.flagged).get(name, ())
            write_item(
                out, name, raw, read_image(sources[name]), scale=scale, flags=flags,
                probability=probabilities[name], alpha=alpha, colormap=colormap, panel=panels,
            )
    write_predictions(out / "predictions.csv", rows)
    settings = {
        "model": getattr(run, "name", type(run.model).__name__),
        "run": str(getattr(run, "path", "")),
        "method": method,
        "layer": report.layer,
        "target": target,
        "normalise": normalise,
        "alpha": alpha,
        "batch_size": batch_size,
        "precision": precision,
        "colormap": colormap,
        "threshold": threshold,
        "image_size": getattr(run, "image_size", None),
        "map_npy": "view 'resized': raw map (ReLU'd positive evidence for the target, not normalised), float32, "
        "bilinearly resized to the original image size; view 'tiles': the blended map of the tiles (each "
        "tile's normalised map times its crack probability), float32 in [0, 1], at the photo's size",
        "tile": mapper.tile if mapper is not None else None,
        "explained": len(report.explained),
        "tiled": report.tiled,
        "skipped": [{"path": p, "problem": why} for p, why in report.skipped],
        "flagged": [{"filename": n, "flags": list(f)} for n, f in report.flagged],
    }
    write_json_atomic(out / "manifest.json", manifest(command="explain", inputs=[str(p) for p in paths], settings=settings))
    return report



def _tile_mapper(run: ClassifierRun, *, method: str, layer: str | None) -> ClassifierMapper:
    """The mapper ``crackscope map`` would use for ``run`` (same tiles and overlap), with this CAM method and
    layer and no refinement: only its class map and tile verdicts are used."""
    from crackscope.maps.classifier import ClassifierMapper
    from crackscope.maps.factory import make_mapper, resolve_recipe

    recipe = resolve_recipe(run.path, None).with_(method=method, layer=layer, refine=False, pixel_models=(), stages=())
    mapper = make_mapper(run, recipe)
    assert isinstance(mapper, ClassifierMapper)  # a classifier run and recipe
    return mapper


def _explain_tiled(
    mapper: ClassifierMapper, image: np.ndarray, name: str, out: Path, *, alpha: float, colormap: str, panel: bool
) -> float:
    """Write ``name``'s outputs from the mapper's tiled class map; returns the photo's crack probability (the
    highest tile probability, the rule ``crackscope map`` uses)."""
    from crackscope.cam.explanation import write_item

    cam, tiles = mapper.cam_map(image, name=name)
    probability = max((t.probability or 0.0 for t in tiles), default=0.0)
    flags = ("all-zero",) if not cam.any() else ()
    write_item(
        out, name, cam, image, scale=1.0, flags=flags, probability=probability, alpha=alpha, colormap=colormap,
        panel=panel,
    )
    return probability
