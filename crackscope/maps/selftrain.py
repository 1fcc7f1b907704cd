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
   ``crackscope map --pixel-model DIR`` then maps with the result.
4. :func:`refine_with_pixel_model`: the model's crack probability, kept inside the map's region, thresholded
   at ``RefineOptions.pixel_threshold`` (0.5: no mask is needed to choose it), then the usual cleanup.

The network is written here (torchvision does not work on this machine) and runs on big photos in tiles, so
memory stays bounded.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from crackscope.maps.postprocess import remove_small
from crackscope.maps.refine import RefineOptions, keep_elongated, refine_map, support_region

IGNORE = 255
MODEL_FILE = "pixel_model.safetensors"
CONFIG_FILE = "pixel_model.json"


@dataclass(frozen=True)
class PseudoLabelOptions:
    """How refined maps become training targets.

    ``negative_below``: response (of the refinement's dark-line filter, in [0, 1]) below which a pixel inside
    the region is background; ``outside_dilation``: px the region grows by before everything outside it is
    background; ``ring``: px around each positive left unlabelled (crack borders are uncertain);
    ``outside_lines_unlabelled``: outside the region only weak responses are background, line-like pixels
    are left unlabelled (the classifier's map can miss a faint crack; calling it background would teach the
    network to miss such cracks everywhere); ``blobs_background``: dark spots that the refinement's shape
    filter rejects (connected parts of the response at or above ``min_response`` whose fill exceeds
    ``max_fill``: pores, stains) are background even outside the region.
    """

    negative_below: float = 0.15
    outside_dilation: int = 8
    ring: int = 1
    outside_lines_unlabelled: bool = False
    blobs_background: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pseudo_labels(
    image: np.ndarray,
    cam: np.ndarray,
    *,
    refine: RefineOptions | None = None,
    options: PseudoLabelOptions | None = None,
    response: np.ndarray | None = None,
) -> np.ndarray:
    """uint8 HxW targets: 1 crack, 0 background, :data:`IGNORE` uncertain. Uses the image and map only."""
    ropts = refine or RefineOptions()
    popts = options or PseudoLabelOptions()
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
    teacher: Any,
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


# -- the network ---------------------------------------------------------------------------------------------


def _block(cin: int, cout: int) -> Any:
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def make_pixel_net(width: int = 16) -> Any:
    """A tiny U-Net (3 poolings, ``width``-2w-4w-4w channels): RGB 0..255 -> crack logits 1xHxW (H, W divisible
    by 8)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class PixelNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w1, w2, w3 = width, 2 * width, 4 * width
            self.e1, self.e2, self.e3, self.mid = _block(3, w1), _block(w1, w2), _block(w2, w3), _block(w3, w3)
            self.d3, self.d2, self.d1 = _block(w3 + w3, w2), _block(w2 + w2, w1), _block(w1 + w1, w1)
            self.head = nn.Conv2d(w1, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x / 127.5 - 1.0
            e1 = self.e1(x)
            e2 = self.e2(F.max_pool2d(e1, 2))
            e3 = self.e3(F.max_pool2d(e2, 2))
            m = self.mid(F.max_pool2d(e3, 2))
            d3 = self.d3(torch.cat([F.interpolate(m, scale_factor=2.0), e3], 1))
            d2 = self.d2(torch.cat([F.interpolate(d3, scale_factor=2.0), e2], 1))
            d1 = self.d1(torch.cat([F.interpolate(d2, scale_factor=2.0), e1], 1))
            return self.head(d1)

    return PixelNet()


class PixelModel:
    """A trained pixel classifier: ``predict(image) -> float32 HxW crack probability``."""

    def __init__(self, net: Any, config: dict[str, Any], source: str | None = None) -> None:
        self.net = net.eval()
        self.config = config
        self.source = source

    def predict(self, image: np.ndarray, *, tile: int = 512, margin: int = 32) -> np.ndarray:
        """Crack probability per pixel, computed in overlapping tiles of ``tile`` px (bounded memory)."""
        import torch

        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
        if tile % 8 or tile <= 2 * margin:
            raise ValueError(f"tile must be a multiple of 8 larger than 2 x margin, got {tile}")
        h, w = image.shape[:2]
        out = np.zeros((h, w), np.float32)
        step = tile - 2 * margin
        with torch.inference_mode():
            for y in range(0, h, step):
                for x in range(0, w, step):
                    y0, x0 = max(0, y - margin), max(0, x - margin)
                    y1, x1 = min(h, y + step + margin), min(w, x + step + margin)
                    crop = image[y0:y1, x0:x1]
                    ch, cw = crop.shape[:2]
                    ph, pw = -ch % 8, -cw % 8
                    if ph or pw:
                        crop = cv2.copyMakeBorder(crop, 0, ph, 0, pw, cv2.BORDER_REFLECT_101)
                    t = torch.from_numpy(np.ascontiguousarray(crop, np.float32)).permute(2, 0, 1)[None]
                    prob = torch.sigmoid(self.net(t))[0, 0, :ch, :cw].numpy()
                    ys, xs = y - y0, x - x0
                    ye, xe = min(h, y + step) - y0, min(w, x + step) - x0
                    out[y : y + (ye - ys), x : x + (xe - xs)] = prob[ys:ye, xs:xe]
        return out


def _augment(img: np.ndarray, lab: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    k = int(rng.integers(4))
    img, lab = np.rot90(img, k), np.rot90(lab, k)
    if rng.random() < 0.5:
        img, lab = img[:, ::-1], lab[:, ::-1]
    img = img.astype(np.float32) * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20)
    return np.clip(img, 0, 255), lab


def _crop(img: np.ndarray, lab: np.ndarray, size: int, rng: np.random.Generator, on_positive: bool):
    h, w = lab.shape
    if h < size or w < size:
        py, px = max(0, size - h), max(0, size - w)
        img = cv2.copyMakeBorder(img, 0, py, 0, px, cv2.BORDER_REFLECT_101)
        lab = np.pad(lab, ((0, py), (0, px)), constant_values=IGNORE)
        h, w = lab.shape
    ys, xs = np.nonzero(lab == 1) if on_positive else ((), ())
    if len(ys):
        i = int(rng.integers(len(ys)))
        y0 = int(np.clip(ys[i] - size // 2 + rng.integers(-size // 4, size // 4 + 1), 0, h - size))
        x0 = int(np.clip(xs[i] - size // 2 + rng.integers(-size // 4, size // 4 + 1), 0, w - size))
    else:
        y0, x0 = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
    return img[y0 : y0 + size, x0 : x0 + size], lab[y0 : y0 + size, x0 : x0 + size]


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


def train_pixel_model(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    *,
    out: str | Path | None = None,
    steps: int = 1000,
    seconds: float | None = None,
    crop: int = 128,
    batch_size: int = 12,
    lr: float = 2e-3,
    width: int = 16,
    positive_crops: float = 0.5,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    extra_config: dict[str, Any] | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> PixelModel:
    """Train a :class:`PixelNet` on (image, pseudo-label) pairs; stop after ``steps`` or ``seconds``.

    The learning rate follows a cosine from ``lr`` to 0 over the run (over time when ``seconds`` is given).
    With ``out`` the model is saved there (``pixel_model.safetensors`` + ``pixel_model.json``).
    ``on_step(step, elapsed_seconds)`` is called after every step (progress bars).
    """
    import torch

    if len(images) != len(labels) or not images:
        raise ValueError(f"need matching, non-empty images and labels, got {len(images)} and {len(labels)}")
    if crop % 8 or crop < 16:
        raise ValueError(f"crop must be a multiple of 8 and at least 16, got {crop}")
    if steps < 1 or batch_size < 1:
        raise ValueError("steps and batch_size must be positive")
    for img, lab in zip(images, labels):
        if img.shape[:2] != lab.shape:
            raise ValueError(f"image {img.shape[:2]} and labels {lab.shape} differ in size")
    # tiny BatchNorm'd nets drift into denormal floats, which make CPU training several times slower
    torch.set_flush_denormal(True)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = make_pixel_net(width)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    has_pos = [i for i, lab in enumerate(labels) if (lab == 1).any()]
    t0 = time.perf_counter()
    step, losses = 0, []
    while step < steps and (seconds is None or time.perf_counter() - t0 < seconds):
        frac = (time.perf_counter() - t0) / seconds if seconds else step / steps
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        xb, yb = [], []
        for _ in range(batch_size):
            on_pos = bool(has_pos) and rng.random() < positive_crops
            i = int(rng.choice(has_pos)) if on_pos else int(rng.integers(len(images)))
            img, lab = _crop(images[i], labels[i], crop, rng, on_pos)
            img, lab = _augment(img, lab, rng)
            xb.append(np.ascontiguousarray(img.transpose(2, 0, 1)))
            yb.append(np.ascontiguousarray(lab))
        x = torch.from_numpy(np.stack(xb))
        y = torch.from_numpy(np.stack(yb))[:, None]
        loss = masked_loss(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if on_step is not None:
            on_step(step, time.perf_counter() - t0)
        if log and step % 50 == 0:
            log(f"step {step}: loss {np.mean(losses[-50:]):.4f} ({time.perf_counter() - t0:.0f} s)")
    config = {
        "kind": "pixel-model",
        "width": width,
        "steps": step,
        "seconds": round(time.perf_counter() - t0, 1),
        "crop": crop,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "final_loss": float(np.mean(losses[-50:])) if losses else None,
        **(extra_config or {}),
    }
    model = PixelModel(net, config, source=str(out) if out else None)
    if out is not None:
        save_pixel_model(model, out)
    return model


def save_pixel_model(model: PixelModel, out: str | Path) -> Path:
    from safetensors.torch import save_file

    from crackscope.io import write_json_atomic

    from crackscope.io import atomic_path

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / MODEL_FILE) as tmp:
        save_file({k: v.contiguous() for k, v in model.net.state_dict().items()}, str(tmp))
    write_json_atomic(out / CONFIG_FILE, model.config)
    return out


class PixelEnsemble:
    """Several pixel models as one: ``predict`` is the mean of their probabilities; ``config`` is the first's."""

    def __init__(self, models: Sequence[PixelModel]) -> None:
        if not models:
            raise ValueError("an ensemble needs at least one pixel model")
        self.models = list(models)
        self.config = self.models[0].config
        self.source = ",".join(str(m.source) for m in self.models)

    def predict(self, image: np.ndarray, **kw: Any) -> np.ndarray:
        total = self.models[0].predict(image, **kw)
        for m in self.models[1:]:
            total += m.predict(image, **kw)
        return total / np.float32(len(self.models))


def pixel_model_refine_options(model: PixelModel | PixelEnsemble) -> RefineOptions | None:
    """The mask settings stored with the model (``selftrain --mask-options``), else the refinement settings
    its pseudo-labels were made with (None if neither is recorded)."""
    d = model.config.get("mask", model.config.get("refine"))
    return RefineOptions.from_dict(d) if isinstance(d, dict) else None


def load_pixel_models(paths: str | Path | Sequence[str | Path]) -> PixelModel | PixelEnsemble:
    """One pixel-model folder, or several (an ensemble: their mean probability)."""
    if isinstance(paths, (str, Path)):
        return load_pixel_model(paths)
    models = [load_pixel_model(p) for p in paths]
    return models[0] if len(models) == 1 else PixelEnsemble(models)


def load_pixel_model(path: str | Path) -> PixelModel:
    """Load a model saved by :func:`train_pixel_model` (a folder with ``pixel_model.safetensors``)."""
    from safetensors.torch import load_file

    from crackscope.errors import BadInputError

    path = Path(path)
    if not (path / MODEL_FILE).is_file() or not (path / CONFIG_FILE).is_file():
        raise BadInputError(path, f"not a pixel-model folder (needs {MODEL_FILE} and {CONFIG_FILE})")
    config = json.loads((path / CONFIG_FILE).read_text())
    net = make_pixel_net(int(config.get("width", 16)))
    net.load_state_dict(load_file(str(path / MODEL_FILE)))
    return PixelModel(net, config, source=str(path))


def refine_with_pixel_model(
    image: np.ndarray,
    cam: np.ndarray,
    model: PixelModel,
    *,
    options: RefineOptions | None = None,
    probability: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(soft, mask)``: the pixel model's probability inside the map's region, thresholded at
    ``options.pixel_threshold``; with ``options.half_max`` the mask keeps only pixels whose dark-line response
    reaches that fraction of its local maximum (the model says *where*, the image's line profile says *how
    wide*); then cleanup (``min_size``, ``max_fill``, ``min_length``)."""
    opts = options or RefineOptions()
    cam = np.asarray(cam, np.float32)
    if cam.shape != image.shape[:2]:
        raise ValueError(f"map size {cam.shape} differs from image size {image.shape[:2]}")
    prob = model.predict(image) if probability is None else probability
    region = support_region(cam, level=opts.region_level, dilation=opts.region_dilation, floor=opts.region_floor)
    soft = np.where(region, prob, np.float32(0.0)).astype(np.float32)
    mask = soft >= opts.pixel_threshold
    if opts.half_max is not None:
        response = opts.response(image)
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * opts.half_max_radius + 1,) * 2)
        mask &= response >= opts.half_max * cv2.dilate(response, k)
        del response
    if opts.min_size:
        mask = remove_small(mask, min_size=opts.min_size)
    if opts.max_fill is not None or opts.min_length:
        mask = keep_elongated(mask, max_fill=opts.max_fill, min_length=opts.min_length)
    return soft, mask


def self_train(
    run: Any,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    method: str = "gradcam++",
    refine_options: RefineOptions | None = None,
    label_options: PseudoLabelOptions | None = None,
    mask_options: RefineOptions | None = None,
    teacher: str | Path | Any | None = None,
    seconds: float = 600.0,
    crop: int = 96,
    batch_size: int = 12,
    width: int = 12,
    lr: float = 3e-3,
    seed: int = 0,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Self-train a pixel model from a classifier run and unlabelled photos; write it to ``out``.

    Each photo is mapped with the run's class maps (:class:`~crackscope.maps.mapper.ClassifierMapper`),
    turned into pseudo-labels (:func:`pseudo_labels` with ``refine_options``), and a :class:`PixelNet` learns
    them for ``seconds``. No mask is read. With a ``teacher`` (a pixel model or its folder) the targets are
    :func:`teacher_labels` of its masks instead: a second round. ``mask_options`` are stored with the model as
    the settings ``crackscope map --pixel-model`` uses (default: the teacher's, else ``refine_options``).
    A photo that cannot be read or mapped is reported in the result's ``skipped`` (and ``OUT/skipped.txt``)
    and the others go on. The photos are held in memory (about 4 bytes
    per pixel with their labels). Returns a summary: ``out``, ``photos``, ``skipped``, ``config``.
    """
    from crackscope.errors import BadInputError
    from crackscope.io import list_images, manifest, read_image, write_json_atomic, write_text_atomic
    from crackscope.maps.mapper import ClassifierMapper

    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    out = Path(out)
    ropts = refine_options or RefineOptions()
    popts = label_options or PseudoLabelOptions()
    mapper = ClassifierMapper(run, method=method, refine_options=ropts)
    if isinstance(teacher, (str, Path)):
        teacher = load_pixel_models(teacher)
    if teacher is not None and mask_options is None:
        mask_options = pixel_model_refine_options(teacher)
    paths = list_images(inputs if not isinstance(inputs, (str, Path)) else [inputs])
    if not paths:
        raise BadInputError(Path(str(inputs[0]) if inputs else "."), "no image files found")
    images, labels, used, skipped = [], [], [], []
    bar = None
    if show_progress:
        from crackscope.cli.common import progress

        bar = progress()
        bar.start()
        mapper.progress = bar
    try:
        task = bar.add_task("pseudo-labels", total=len(paths)) if bar else None
        for path in paths:
            try:
                image = read_image(path)
                cam, _ = mapper.cam_map(image, name=path.name)
                if teacher is not None:
                    labels.append(teacher_labels(image, cam, teacher))
                else:
                    labels.append(pseudo_labels(image, cam, refine=ropts, options=popts))
                images.append(image)
                used.append(str(path))
            except (BadInputError, ValueError, OSError) as exc:
                skipped.append((str(path), str(getattr(exc, "problem", exc))))
            if bar:
                bar.advance(task)
        if not images:
            raise BadInputError(paths[0], "no photo could be read and mapped; nothing to train on")
        if not any((lab == 1).any() for lab in labels):
            raise BadInputError(
                paths[0], f"the refined maps of all {len(images)} photo(s) are empty: no crack pixel to learn from"
            )
        train_task = bar.add_task("training pixel model", total=seconds) if bar else None

        def on_step(step: int, elapsed: float) -> None:
            if bar:
                bar.update(train_task, completed=min(elapsed, seconds), description=f"training pixel model, step {step}")

        settings = {
            "run": str(getattr(mapper.run, "path", run)),
            "method": method,
            "refine": ropts.as_dict(),
            # what the targets were made from: the teacher's masks, or the refined maps with these label settings
            **(
                {"teacher": str(getattr(teacher, "source", None))}
                if teacher is not None
                else {"pseudo_labels": popts.as_dict()}
            ),
            "photos": len(images),
        }
        if mask_options is not None:
            settings["mask"] = mask_options.as_dict()
        model = train_pixel_model(
            images, labels, out=out, steps=10**9, seconds=seconds, crop=crop, batch_size=batch_size, width=width,
            lr=lr, seed=seed, extra_config=settings, on_step=on_step,
        )
    finally:
        if bar:
            bar.stop()
    write_json_atomic(out / "manifest.json", manifest(command="selftrain", inputs=used, settings=model.config))
    if skipped:
        write_text_atomic(out / "skipped.txt", "".join(f"{p}\t{why}\n" for p, why in skipped))
    return {"out": str(out), "photos": len(images), "skipped": skipped, "config": model.config}
