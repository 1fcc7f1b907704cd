"""Explain image files with a classifier run and write maps, overlays, panels, predictions.csv, manifest.json."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from crackscope.cam.base import PRECISIONS, TARGETS
from crackscope.cam.explanation import NORMALISE, OverlayStyle
from crackscope.cam.methods import METHODS

if TYPE_CHECKING:
    from crackscope.maps.classifier import ClassifierMapper
    from crackscope.training.run import ClassifierRun

__all__ = ["ExplainOptions", "ExplainReport", "explain_images"]


@dataclass(frozen=True)
class ExplainOptions:
    """How :func:`explain_images` explains and draws; checked once, when made.

    Attributes
    ----------
    method : str
        A CAM method of :data:`~crackscope.cam.METHODS` (``gradcam++``, ``gradcam``, ``cam``, ...).
    target : str
        What is explained, one of :data:`~crackscope.cam.base.TARGETS`: ``"crack"`` (the crack logit) or
        ``"no-crack"`` (its negation).
    layer : str or None
        The target layer's name (``crackscope layers RUN`` lists them); None: the automatic choice. Checked
        against the model when explaining.
    normalise : str
        How overlays are scaled, one of :data:`~crackscope.cam.explanation.NORMALISE`: ``"image"`` (each by its
        own peak), ``"batch"`` (all by one common peak, comparable), ``"none"`` (raw values, clipped to 1).
    batch_size : int
        Images per forward pass.
    alpha : float
        Opacity of the map in the overlay, 0..1.
    precision : str
        ``"fp32"`` or ``"bf16"`` (:data:`~crackscope.cam.base.PRECISIONS`; autocast forward, maps in float32).
    colormap : str
        A matplotlib colormap name (``jet``, ``turbo``, ``inferno``...).
    panels : bool
        Also write the three-panel figures.
    tiles : bool
        Explain photos larger than the run's map tile in tiles, as ``crackscope map`` sees them (``crack`` target
        only); False resizes every photo whole to the model input.
    style : OverlayStyle
        ``alpha``, ``colormap`` and ``panels`` together (derived, not an argument).
    """

    method: str = "gradcam++"
    target: str = "crack"
    layer: str | None = None
    normalise: str = "image"
    batch_size: int = 16
    alpha: float = 0.5
    precision: str = "fp32"
    colormap: str = "jet"
    panels: bool = True
    tiles: bool = True
    style: OverlayStyle = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check every field against the allowed values of the engine.

        Raises
        ------
        ValueError
            If a field is not one of its allowed values or out of range; the message names the field.
        """
        choices: dict[str, Sequence[str]] = {
            "method": tuple(METHODS),
            "target": TARGETS,
            "normalise": NORMALISE,
            "precision": PRECISIONS,
        }
        for name, allowed in choices.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        # alpha and colormap are checked by the drawing settings they make up
        object.__setattr__(self, "style", OverlayStyle(alpha=self.alpha, colormap=self.colormap, panels=self.panels))


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
    """The image files of ``inputs``; inputs that name none are added to ``report.skipped``."""
    from crackscope.inputs import expand_inputs

    paths, problems = expand_inputs(inputs)
    report.skipped.extend((str(path), problem) for path, problem in problems)
    return paths


def _unique_names(paths: Sequence[Path]) -> list[str]:
    names: list[str] = []
    used: set[str] = set()
    for p in paths:
        name, k = p.name, 1
        while Path(name).stem in used:
            k += 1
            name = f"{p.stem}_{k}{p.suffix}"
        used.add(Path(name).stem)
        names.append(name)
    return names


def explain_images(
    run: ClassifierRun | str | Path,
    inputs: Iterable[str | Path],
    *,
    out: str | Path,
    options: ExplainOptions = ExplainOptions(),
    on_batch: Callable[[int], None] | None = None,
) -> ExplainReport:
    """Explain every image of ``inputs`` (files, folders, globs) with the classifier ``run``.

    Per image in ``out``: ``<stem>_map.npy`` (the raw, non-normalised map, float32, resized back to the original
    photo's size), ``<stem>_overlay.png`` and ``<stem>_panel.png``; plus ``predictions.csv``
    (``filename,class,probability,flags,view``) and ``manifest.json``. ``normalise="batch"`` scales all overlays
    of the call by one common maximum, so they are comparable. Bad files are reported in ``skipped``; predictions
    are rewritten after every batch so finished work is never lost.

    A photo larger than the tile ``crackscope map`` cuts it into (with ``tiles``, for the ``crack`` target) is
    explained as ``map`` sees it: in tiles, each explained at the model's input size, blended by crack
    probability; its verdict is ``map``'s (the highest tile probability against the threshold) and its
    ``.npy`` map is the blended map in [0, 1] (the ``view`` column of ``predictions.csv`` says ``tiles``).
    Other photos, and every photo with ``tiles=False``, are resized whole to the input size (``resized``).

    Parameters
    ----------
    run : ClassifierRun, str or Path
        A classifier run folder, or a loaded run (``.model``, ``.preprocess``, ``.threshold``).
    inputs : iterable of str or Path
        Image files, folders or glob patterns.
    out : str or Path
        The folder to write (made if missing).
    options : ExplainOptions
        Method, target, layer, normalisation, batch size, precision, drawing and tiling.
    on_batch : callable or None
        Told how many inputs each finished batch held.

    Returns
    -------
    ExplainReport
        The explained, tiled, skipped and flagged images, and the layer used.

    Raises
    ------
    ValueError
        If ``options.layer`` is not a layer of the model or the model does not fit the method (classic CAM
        without a global-average-pooling + Linear head).
    BadInputError
        If ``run`` is a folder that holds no classifier run.
    """
    import torch

    from crackscope.cam.explanation import prediction_row, write_item, write_predictions
    from crackscope.cam.methods import create_cam
    from crackscope.inputs import INPUT_ERRORS, problem_of
    from crackscope.io import manifest, read_image, write_json_atomic

    if isinstance(run, (str, Path)):
        from crackscope.training.run import load_run

        run = load_run(run)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    method, normalise, style = options.method, options.normalise, options.style
    report = ExplainReport(out=out, method=method)
    paths = _expand(inputs, report)
    names = _unique_names(paths)
    extractor = create_cam(method, run.model, layer=options.layer)
    threshold = float(getattr(run, "threshold", 0.5))
    tiled = options.tiles and options.target == "crack"
    mapper = _tile_mapper(run, method=method, layer=options.layer) if tiled else None
    rows: list[dict[str, str]] = []
    peaks: dict[str, float] = {}
    sources: dict[str, Path] = {}
    probabilities: dict[str, float] = {}
    size = options.batch_size

    for start in range(0, len(paths), size):
        images: list[np.ndarray] = []
        tensors: list[torch.Tensor] = []
        kept: list[tuple[Path, str]] = []
        for path, name in zip(paths[start : start + size], names[start : start + size], strict=True):
            try:
                image = read_image(path)
                if mapper is not None and max(image.shape[:2]) > mapper.tile:
                    probability = _explain_tiled(mapper, image, name, out, style=style)
                    rows.append(prediction_row(name, probability, threshold, (), view="tiles"))
                    report.explained.append(name)
                    report.tiled.append(name)
                    continue
                tensors.append(run.preprocess(image))
            except INPUT_ERRORS as exc:
                report.skipped.append((str(path), problem_of(exc)))
                continue
            images.append(image)
            kept.append((path, name))
        try:
            if tensors:
                result = extractor(
                    torch.stack(tensors), target=options.target, normalise="image", precision=options.precision
                )
                report.layer = result.layer
                for i, (path, name) in enumerate(kept):
                    raw = result.maps[i]
                    flags = result.flags[i]
                    probability = float(result.probabilities[i])
                    # with normalise="batch" the drawing waits for the common scale (after the last batch)
                    try:
                        write_item(
                            out,
                            name,
                            raw,
                            images[i],
                            scale=1.0 if normalise == "none" else None,
                            flags=flags,
                            probability=probability,
                            style=None if normalise == "batch" else style,
                        )
                    except INPUT_ERRORS as exc:
                        report.skipped.append((str(path), problem_of(exc)))
                        continue
                    rows.append(prediction_row(name, probability, threshold, flags))
                    peaks[name] = float(np.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0).max(initial=0.0))
                    sources[name] = path
                    probabilities[name] = probability
                    report.explained.append(name)
                    if flags:
                        report.flagged.append((name, flags))
        finally:  # what is finished is kept, also when the work stops
            if rows:
                write_predictions(out / "predictions.csv", rows)
        if on_batch is not None:
            on_batch(len(paths[start : start + size]))

    if normalise == "batch" and peaks:  # tiled photos are drawn on their own [0, 1] scale
        scale = max(peaks.values())
        for name in peaks:
            stem = Path(name).stem
            raw = np.load(out / f"{stem}_map.npy")
            flags = dict(report.flagged).get(name, ())
            write_item(
                out,
                name,
                raw,
                read_image(sources[name]),
                scale=scale,
                flags=flags,
                probability=probabilities[name],
                style=style,
            )
    write_predictions(out / "predictions.csv", rows)
    settings = {
        "model": getattr(run, "name", type(run.model).__name__),
        "run": str(getattr(run, "path", "")),
        "method": method,
        "layer": report.layer,
        "target": options.target,
        "normalise": normalise,
        "alpha": options.alpha,
        "batch_size": options.batch_size,
        "precision": options.precision,
        "colormap": options.colormap,
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
    man = manifest(command="explain", inputs=[str(p) for p in paths], settings=settings)
    write_json_atomic(out / "manifest.json", man)
    return report


def _tile_mapper(run: ClassifierRun, *, method: str, layer: str | None) -> ClassifierMapper:
    """The mapper ``crackscope map`` would use for ``run`` (same tiles and overlap), with this CAM method and
    layer and no refinement: only its class map and tile verdicts are used, at the photo's own scale (the
    recipe's scale rule and no-data rule would wrap the classifier's mapper; the photo's fill is painted over
    in :func:`_explain_tiled` instead)."""
    from crackscope.maps.classifier import ClassifierMapper
    from crackscope.maps.factory import make_mapper, resolve_recipe
    from crackscope.maps.scale import ScaleOptions

    recipe = resolve_recipe(run.path, None).with_(
        method=method, layer=layer, refine=False, pixel_models=(), stages=(), scale=ScaleOptions(), no_data=None
    )
    mapper = make_mapper(run, recipe)
    assert isinstance(mapper, ClassifierMapper)  # a classifier run and recipe
    return mapper


def _explain_tiled(mapper: ClassifierMapper, image: np.ndarray, name: str, out: Path, *, style: OverlayStyle) -> float:
    """Write ``name``'s outputs from the mapper's tiled class map; returns the photo's crack probability (the
    highest tile probability, the rule ``crackscope map`` uses). Fill without image data around the photo
    (:mod:`crackscope.maps.no_data`) is painted over before the class map is made and is zero in it."""
    from crackscope.cam.explanation import write_item
    from crackscope.maps.no_data import fill_no_data, no_data_mask

    no_data = no_data_mask(image)
    cam, tiles = mapper.cam_map(fill_no_data(image, no_data) if no_data.any() else image, name=name)
    cam[no_data] = 0.0
    probability = max((t.probability or 0.0 for t in tiles), default=0.0)
    flags = ("all-zero",) if not cam.any() else ()
    write_item(out, name, cam, image, scale=1.0, flags=flags, probability=probability, style=style)
    return probability
