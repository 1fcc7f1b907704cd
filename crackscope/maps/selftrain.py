"""Weakly supervised self-training: refined class maps of unlabelled photos teach a small pixel classifier.

The classifier's maps are coarse and the dark-line refinement only knows "dark and thin". A small fully
convolutional network trained on the refined maps of many photos learns what the crack pixels of *these*
surfaces look like (colour, texture, edges) and averages out the refinement's per-photo mistakes. No
ground-truth mask is used: the targets are pseudo-labels made from the classifier's maps and the image.

1. :func:`pseudo_labels`: per photo, ``1`` (crack) where the refinement marks a crack, ``0`` (background)
   where the dark-line response is weak or outside the map's (dilated) region, ``IGNORE`` elsewhere (the
   uncertain band: moderately dark pixels inside the region, and a thin ring around the positives).
2. :func:`train_pixel_model`: a tiny U-Net (:class:`PixelNet`) on random crops (half of them centred on a
   positive pixel), flips and 90-degree turns, masked binary cross-entropy plus soft Dice, for a fixed number
   of steps or seconds on the CPU.
   A second round (:func:`teacher_labels`, ``selftrain --teacher``) learns the first model's masks instead.
3. :func:`self_train` does both for a classifier run and a set of photos (``crackscope selftrain``);
   ``crackscope map --pixel-model DIR`` then maps with the result, and ``crackscope fit``
   (:mod:`crackscope.maps.fit`) runs every round a preset names.

Inference (loading pixel models, their probability, masks from it) lives in :mod:`crackscope.maps.pixel_model`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from crackscope.data.augment import RobustAugment
from crackscope.errors import BadInputError
from crackscope.maps.pixel_model import (
    PixelModel,
    PixelPredictor,
    load_pixel_models,
    make_pixel_net,
    pixel_model_refine_options,
    refine_with_pixel_model,
    save_pixel_model,
)
from crackscope.maps.recipe import PixelStage, PseudoLabelOptions
from crackscope.maps.refine import RefineOptions, keep_elongated, refine_map, support_region
from crackscope.progress import OnProgress, report
from crackscope.training.options import check_precision

if TYPE_CHECKING:
    from crackscope.unsupervised.run import RestorerRun

IGNORE = 255

__all__ = [
    "IGNORE",
    "ClassMaps",
    "PseudoLabelOptions",
    "SelfTrainOptions",
    "SelfTrainResult",
    "class_maps",
    "masked_loss",
    "pseudo_labels",
    "self_train",
    "stage_labels",
    "teacher_labels",
    "train_on_labels",
    "train_pixel_model",
]


def pseudo_labels(
    image: np.ndarray,
    cam: np.ndarray,
    *,
    refine: RefineOptions | None = None,
    options: PseudoLabelOptions | None = None,
    response: np.ndarray | None = None,
    error: np.ndarray | None = None,
) -> np.ndarray:
    """uint8 HxW targets: 1 crack, 0 background, :data:`IGNORE` uncertain, from the image and its class map,
    and, with ``options.restoration`` above 0, a restorer's ``error`` map
    (:func:`~crackscope.maps.restoration_signal.restoration_error`) fused into the class map.

    Raises
    ------
    ValueError
        If the options use the restoration error and ``error`` is None.
    """
    ropts = refine or RefineOptions()
    popts = options or PseudoLabelOptions()
    if popts.restoration > 0:
        from crackscope.maps.restoration_signal import fuse_class_map, restoration_evidence

        if error is None:
            raise ValueError("these pseudo-label settings fuse a restorer's error; pass its error map")
        evidence = restoration_evidence(error, contrast=popts.restoration_contrast)
        cam = fuse_class_map(np.asarray(cam, np.float32), evidence, weight=popts.restoration)
    if response is None:
        response = ropts.response(image)
    _, positive = refine_map(image, cam, options=ropts, response=response)
    background = response < popts.negative_below
    if not popts.outside_lines_unlabelled:
        background |= ~support_region(
            np.asarray(cam, np.float32),
            level=ropts.region_level,
            dilation=ropts.region_dilation + popts.outside_dilation,
            floor=ropts.region_floor,
        )
    if popts.blobs_background and ropts.max_fill is not None:
        strong = response >= ropts.min_response
        background |= strong & ~keep_elongated(strong, max_fill=ropts.max_fill)
    labels = np.full(cam.shape, IGNORE, np.uint8)
    labels[background] = 0
    return _set_positives(labels, positive, ring=popts.ring)


def _set_positives(labels: np.ndarray, positive: np.ndarray, *, ring: int) -> np.ndarray:
    """Mark ``positive`` as crack and a ``ring`` px band around it as unlabelled (crack borders are uncertain)."""
    if ring > 0 and positive.any():
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring + 1, 2 * ring + 1))
        near = cv2.dilate(positive.astype(np.uint8), k).astype(bool)
        labels[near & ~positive] = IGNORE
    labels[positive] = 1
    return labels


def teacher_labels(
    image: np.ndarray,
    cam: np.ndarray,
    teacher: PixelPredictor,
    *,
    options: RefineOptions | None = None,
    negative_below: float = 0.3,
    outside_dilation: int = 8,
    ring: int = 1,
    probability: np.ndarray | None = None,
) -> np.ndarray:
    """Second-round targets from a trained pixel model (the *teacher*): 1 where its mask
    (:func:`refine_with_pixel_model` with ``options``, default the teacher's stored mask settings) marks a crack;
    0 where its probability is below ``negative_below`` or outside the map's region grown by
    ``outside_dilation`` px; :data:`IGNORE` elsewhere and in a ``ring`` px band around the mask."""
    opts = options or pixel_model_refine_options(teacher) or RefineOptions()
    cam = np.asarray(cam, np.float32)
    prob = teacher.predict(image) if probability is None else probability
    _, mask = refine_with_pixel_model(image, cam, teacher, options=opts, probability=prob)
    region = support_region(
        cam, level=opts.region_level, dilation=opts.region_dilation + outside_dilation, floor=opts.region_floor
    )
    labels = np.full(cam.shape, IGNORE, np.uint8)
    labels[(~region) | (prob < negative_below)] = 0
    return _set_positives(labels, mask, ring=ring)


# -- training ------------------------------------------------------------------------------------------------


def masked_loss(logits: Any, labels: Any) -> Any:
    """Binary cross-entropy over labelled pixels plus soft Dice of the crack class (``IGNORE`` pixels skipped)."""
    import torch
    from torch.nn import functional as F

    known = labels != IGNORE
    target = (labels == 1).float()
    if not bool(known.any()):
        return logits.sum() * 0.0
    bce = F.binary_cross_entropy_with_logits(logits[known], target[known])
    prob = torch.sigmoid(logits) * known
    inter = (prob * target).sum()
    dice = 1.0 - (2 * inter + 1.0) / (prob.sum() + (target * known).sum() + 1.0)
    return bce + dice


@dataclass(frozen=True)
class SelfTrainOptions:
    """How a pixel model is trained: for ``seconds`` of wall time and/or ``steps`` steps (whichever ends
    first; at least one must be set), on random ``crop`` px crops (``positive_crops`` of them centred on a crack
    pixel) in batches of ``batch_size``, a U-Net of ``width`` base channels, AdamW at ``lr`` with a cosine decay
    over the run, ``seed``; on ``device`` (``auto``: CUDA when there is one), with the crops made by
    ``num_workers`` worker processes (0: in this process, as on the CPU; :mod:`crackscope.maps.crop_feed`).
    ``restorer``: a UP-CrackNet restorer run folder whose error :func:`self_train` fuses into the pseudo-labels of a
    stage that asks for it (:attr:`~crackscope.maps.recipe.PseudoLabelOptions.restoration`).
    ``augment``: the crops' augmentation (None: turns, flips and a mild brightness and contrast jitter; a
    :class:`~crackscope.data.augment.RobustAugment`: its photometric and geometric changes, the labels moved alike).
    ``precision``: ``fp32``, ``bf16`` (autocast; the loss in float32) or ``auto`` (bf16 where the device runs it
    natively, :func:`crackscope.training.options.resolve_precision`).

    Raises
    ------
    ValueError
        If neither ``seconds`` nor ``steps`` is set, or a value is out of range.
    DeviceError
        If ``device`` does not name a kind of device.
    """

    seconds: float | None = 600.0
    steps: int | None = None
    crop: int = 96
    batch_size: int = 12
    width: int = 12
    lr: float = 3e-3
    positive_crops: float = 0.5
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    restorer: str | None = None
    augment: RobustAugment | None = None
    precision: str = "fp32"

    def __post_init__(self) -> None:
        from crackscope.devices import check_device_name

        check_device_name(self.device)
        check_precision(self.precision)
        if self.seconds is None and self.steps is None:
            raise ValueError("set seconds, steps or both")
        if self.seconds is not None and not self.seconds > 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be positive, got {self.steps}")
        if self.crop % 8 or self.crop < 16:
            raise ValueError(f"crop must be a multiple of 8 and at least 16, got {self.crop}")
        if self.batch_size < 1 or self.width < 1:
            raise ValueError(f"batch_size and width must be positive, got {self.batch_size} and {self.width}")
        if not 0.0 <= self.positive_crops <= 1.0:
            raise ValueError(f"positive_crops must be in [0, 1], got {self.positive_crops}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")


def train_pixel_model(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    *,
    options: SelfTrainOptions = SelfTrainOptions(),
    out: str | Path | None = None,
    extra_config: dict[str, Any] | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> PixelModel:
    """Train a pixel network (:func:`~crackscope.maps.pixel_model.make_pixel_net`) on (image, label) pairs.

    Labels are uint8 1 (crack), 0 (background) and :data:`IGNORE`. Training stops after ``options.steps`` or
    ``options.seconds``; the learning rate follows a cosine from ``options.lr`` to 0 over the run (over time
    when ``seconds`` is set). With ``out`` the model is saved there (``pixel_model.safetensors`` +
    ``pixel_model.json``, with ``extra_config`` added). ``on_step(step, elapsed_seconds)`` is called after
    every step.

    Raises
    ------
    ValueError
        If images and labels are empty, differ in number or differ in size.
    """
    import torch

    if len(images) != len(labels) or not images:
        raise ValueError(f"need matching, non-empty images and labels, got {len(images)} and {len(labels)}")
    for img, lab in zip(images, labels, strict=True):
        if img.shape[:2] != lab.shape:
            raise ValueError(f"image {img.shape[:2]} and labels {lab.shape} differ in size")
    # tiny BatchNorm'd nets drift into denormal floats, which make CPU training several times slower; the
    # setting is process-wide, so it is set back to torch's default (off; torch has no getter) when training ends
    torch.set_flush_denormal(True)
    try:
        model = _train(images, labels, options, on_step)
    finally:
        torch.set_flush_denormal(False)
    model.config.update(extra_config or {})
    if out is not None:
        model.source = str(out)
        save_pixel_model(model, out)
    return model


def _train(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    options: SelfTrainOptions,
    on_step: Callable[[int, float], None] | None,
) -> PixelModel:
    import torch

    from crackscope.devices import describe_device, resolve_device
    from crackscope.maps.crop_feed import PixelCrops, crop_loader
    from crackscope.training.loop import autocast
    from crackscope.training.options import resolve_precision

    o = options
    device = resolve_device(o.device)
    precision = resolve_precision(o.precision, device=device.type)
    torch.manual_seed(o.seed)
    net = make_pixel_net(o.width).to(device)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=o.lr, weight_decay=1e-4)
    crops = PixelCrops(
        images,
        labels,
        crop=o.crop,
        batch_size=o.batch_size,
        positive_crops=o.positive_crops,
        seed=o.seed,
        augment=o.augment,
    )
    batches = iter(crop_loader(crops, num_workers=o.num_workers, pin_memory=device.type == "cuda"))
    t0 = time.perf_counter()
    step, losses = 0, []

    def running() -> bool:
        elapsed = time.perf_counter() - t0
        return (o.steps is None or step < o.steps) and (o.seconds is None or elapsed < o.seconds)

    while running():
        frac = (time.perf_counter() - t0) / o.seconds if o.seconds else step / (o.steps or 1)
        for g in opt.param_groups:
            g["lr"] = o.lr * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        xb, yb = next(batches)
        x, y = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        with autocast(precision, device.type):
            logits = net(x)
        loss = masked_loss(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if on_step is not None:
            on_step(step, time.perf_counter() - t0)
    config: dict[str, Any] = {
        "kind": "pixel-model",
        "width": o.width,
        "steps": step,
        "seconds": round(time.perf_counter() - t0, 1),
        "crop": o.crop,
        "batch_size": o.batch_size,
        "lr": o.lr,
        "seed": o.seed,
        "augment": None if o.augment is None else o.augment.to_dict(),
        "precision": precision,
        "device": describe_device(device),
        "final_loss": float(np.mean(losses[-50:])) if losses else None,
    }
    return PixelModel(net, config)


@dataclass(frozen=True)
class SelfTrainResult:
    """What :func:`self_train` did: the model folder, the photos it learned from and those it skipped."""

    out: Path
    photos: int
    skipped: tuple[tuple[str, str], ...]
    config: dict[str, Any]


@dataclass(frozen=True)
class ClassMaps:
    """Photos and their class maps (float16 to halve the memory), with the photos that could not be used;
    ``errors``: a restorer's error map of each photo (float16), when one was given."""

    images: tuple[np.ndarray, ...]
    cams: tuple[np.ndarray, ...]
    used: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    errors: tuple[np.ndarray, ...] | None = None

    def __add__(self, other: ClassMaps) -> ClassMaps:
        """The photos of both, in order, with their restoration errors when both have them.

        Raises
        ------
        ValueError
            If one has restoration errors and the other does not.
        """
        if (self.errors is None) != (other.errors is None):
            raise ValueError("cannot join class maps with and without restoration errors")
        errors = None if self.errors is None or other.errors is None else self.errors + other.errors
        return ClassMaps(
            self.images + other.images,
            self.cams + other.cams,
            self.used + other.used,
            self.skipped + other.skipped,
            errors,
        )


def class_maps(
    mapper: Any,
    paths: Sequence[Path],
    *,
    restorer: RestorerRun | None = None,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
    on_progress: OnProgress | None = None,
) -> ClassMaps:
    """Read each photo and make its blended class map with ``mapper`` (a
    :class:`~crackscope.maps.classifier.ClassifierMapper`), and with a ``restorer`` its restoration error
    (:func:`~crackscope.maps.restoration_signal.restoration_errors`); a photo that cannot be read or mapped is
    skipped with its reason. ``prepare``: what to do to each photo read before mapping it (``fit --photos``:
    :func:`~crackscope.maps.fit.photo_as_mapped`, the photo as ``crackscope map`` shows it to the pixel models).

    Raises
    ------
    BadInputError
        If no photo could be read and mapped.
    """
    from crackscope.inputs import INPUT_ERRORS, nothing_usable, problem_of
    from crackscope.io import read_image

    images, cams, used, skipped = [], [], [], []
    report(on_progress, "class maps", 0, len(paths))
    for i, path in enumerate(paths, 1):
        try:
            image = read_image(path)
            if prepare is not None:
                image = prepare(image)
            cam, _ = mapper.cam_map(image, name=path.name)
            images.append(image)
            cams.append(cam.astype(np.float16))
            used.append(str(path))
        except INPUT_ERRORS as exc:
            skipped.append((str(path), problem_of(exc)))
        report(on_progress, "class maps", i, len(paths))
    if not images:
        where = paths[0] if paths else Path(".")
        raise nothing_usable(where, "no photo could be read and mapped; nothing to train on", skipped)
    errors = None
    if restorer is not None:
        from crackscope.maps.restoration_signal import restoration_errors

        errors = restoration_errors(restorer, images, on_progress=on_progress)
    return ClassMaps(tuple(images), tuple(cams), tuple(used), tuple(skipped), errors)


def stage_labels(
    maps: ClassMaps,
    stage: PixelStage,
    *,
    teacher: PixelPredictor | None = None,
    on_progress: OnProgress | None = None,
) -> list[np.ndarray]:
    """Training targets of every photo for ``stage``: :func:`teacher_labels` of ``teacher``'s masks (a
    second round), else :func:`pseudo_labels` of the class maps refined with ``stage.refine``.

    Raises
    ------
    BadInputError
        If no photo has a crack pixel in its targets (nothing to learn from).
    ValueError
        If the stage's labels use a restorer's error and ``maps`` hold none.
    """
    task = f"labels for {stage.name}"
    fused = teacher is None and stage.fuses_restoration
    if fused and maps.errors is None:
        raise ValueError(f"stage {stage.name!r} fuses a restorer's error into its labels; map with a restorer")
    labels = []
    report(on_progress, task, 0, len(maps.images))
    for i, (image, cam16) in enumerate(zip(maps.images, maps.cams, strict=True), 1):
        cam = cam16.astype(np.float32)
        if teacher is not None:
            labels.append(teacher_labels(image, cam, teacher))
        else:
            error = maps.errors[i - 1].astype(np.float32) if fused and maps.errors is not None else None
            labels.append(pseudo_labels(image, cam, refine=stage.refine, options=stage.labels, error=error))
        report(on_progress, task, i, len(maps.images))
    if not any((lab == 1).any() for lab in labels):
        where = Path(maps.used[0]).parent
        if teacher is not None:
            raise BadInputError(
                where,
                f"the teacher {stage.teacher!r} marks no crack on any of the {len(labels)} photo(s), so {stage.name!r} "
                "has nothing to learn from: the teacher trained too briefly (give fit more --minutes) or these "
                "photos show no crack it knows",
            )
        raise BadInputError(
            where, f"the refined maps of all {len(labels)} photo(s) are empty: no crack pixel to learn from"
        )
    return labels


def train_on_labels(
    maps: ClassMaps,
    labels: Sequence[np.ndarray],
    stage: PixelStage,
    out: str | Path,
    *,
    teacher: PixelPredictor | None = None,
    options: SelfTrainOptions = SelfTrainOptions(),
    settings: dict[str, Any] | None = None,
    on_progress: OnProgress | None = None,
) -> PixelModel:
    """Train ``stage``'s pixel model on ``labels`` (:func:`stage_labels`) for ``options.seconds`` into ``out``.
    The mask settings stored with it are ``stage.mask``, else the teacher's, else ``stage.refine``;
    ``settings`` are added to its ``pixel_model.json``."""
    mask = stage.mask or (pixel_model_refine_options(teacher) if teacher is not None else None) or stage.refine
    config: dict[str, Any] = {
        **(settings or {}),
        "stage": stage.name,
        # what the targets were made from: the teacher's masks, or the refined maps with these label settings
        **(
            {"teacher": teacher.source}
            if teacher is not None
            else {"refine": stage.refine.as_dict(), "pseudo_labels": stage.labels.as_dict()}
        ),
        "mask": mask.as_dict(),
        "photos": len(maps.images),
    }
    task = f"training {stage.name}"
    total = max(1, int(options.seconds)) if options.seconds is not None else options.steps or 1

    def on_step(step: int, elapsed: float) -> None:
        done = int(elapsed) if options.seconds is not None else step
        # the task is finished once, after training (the last steps of a time budget reach its total early)
        report(on_progress, task, min(done, total - 1), total)

    report(on_progress, task, 0, total)
    model = train_pixel_model(list(maps.images), labels, options=options, out=out, extra_config=config, on_step=on_step)
    report(on_progress, task, total, total)
    return model


def self_train(
    run: Any,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    stage: PixelStage | None = None,
    teacher: str | Path | PixelPredictor | None = None,
    method: str = "gradcam++",
    options: SelfTrainOptions = SelfTrainOptions(),
    on_progress: OnProgress | None = None,
) -> SelfTrainResult:
    """Self-train a pixel model from a classifier run and unlabelled photos; write it to ``out``.

    ``options.restorer``: a UP-CrackNet restorer run whose restoration error the stage's pseudo-labels fuse into
    the class maps (``stage.labels.restoration``); needed by such a stage, unused by others.

    Each photo is mapped with the run's class maps (``method``), turned into targets for ``stage``
    (:func:`stage_labels`: pseudo-labels of the refined maps, or with a ``teacher``, a pixel model or its
    folder, that model's masks: a second round), and a pixel model learns them for ``options.seconds``.
    No mask is read. A photo that cannot be read or mapped is reported in the result's ``skipped`` (and
    ``OUT/skipped.txt``) and the others go on. The photos are held in memory (about 5 bytes per pixel with
    their maps and labels).

    Raises
    ------
    BadInputError
        If no image is found, none can be used, no photo's targets hold a crack pixel, or the stage's labels
        use a restorer's error and no restorer run is given (or it cannot be opened).
    """
    from crackscope.io import list_images, manifest, write_json_atomic, write_text_atomic
    from crackscope.maps.factory import make_mapper
    from crackscope.maps.recipe import MapRecipe

    out = Path(out)
    stage = stage or PixelStage(out.name)
    fused = teacher is None and stage.fuses_restoration
    if fused and options.restorer is None:
        raise BadInputError(out, f"stage {stage.name!r} fuses a restorer's error into its labels; give a restorer run")
    restorer_run = None
    if fused and options.restorer is not None:
        from crackscope.unsupervised.run import load_restorer_run

        restorer_run = load_restorer_run(options.restorer, device=options.device)
    teacher_model = load_pixel_models(teacher) if isinstance(teacher, (str, Path)) else teacher
    paths = list_images(inputs if not isinstance(inputs, (str, Path)) else [inputs])
    if not paths:
        raise BadInputError(Path(str(inputs[0]) if inputs else "."), "no image files found")
    # the classifier's own mapper (class_maps asks it for class maps): the photos are mapped as they are, fill
    # included (the no-data rule of crackscope.maps.no_data is the maps' rule, not yet the pseudo-labels')
    mapper = make_mapper(run, MapRecipe(method=method, refine_options=stage.refine, no_data=None))
    maps = class_maps(mapper, paths, restorer=restorer_run, on_progress=on_progress)
    labels = stage_labels(maps, stage, teacher=teacher_model, on_progress=on_progress)
    settings: dict[str, Any] = {"run": str(mapper.settings()["run"]), "method": method}
    if restorer_run is not None:
        settings["restorer"] = str(restorer_run.path)
    model = train_on_labels(
        maps, labels, stage, out, teacher=teacher_model, options=options, settings=settings, on_progress=on_progress
    )
    write_json_atomic(
        out / "manifest.json", manifest(command="selftrain", inputs=list(maps.used), settings=model.config)
    )
    if maps.skipped:
        write_text_atomic(out / "skipped.txt", "".join(f"{p}\t{why}\n" for p, why in maps.skipped))
    return SelfTrainResult(out=out, photos=len(maps.images), skipped=maps.skipped, config=model.config)
