"""Training the UP-CrackNet restorer: adversarial restoration of checkerboard-corrupted crack-free images.

One step (as the paper's pix2pix-based code): corrupt each crack-free crop with one of the six checkerboard
masks; the discriminator learns (corrupted, real) -> real and (corrupted, restored) -> fake with BCE; the
generator minimises adversarial BCE + 100 x (L1 + (1 - SSIM) + MSGMS + 10 x style). Adam (0.5, 0.999);
lr_G = 1e-3 x 0.99^epoch, lr_D = 4e-3 x 0.99^epoch. After every epoch the restoration loss on held-out
photos (fixed crops, fixed masks) is measured and the best generator is kept (``model.safetensors``).

Differences from the paper's code, on purpose: the generator's output of the discriminator step is reused
for the generator step (the paper runs the generator twice per step); validation runs every epoch (the
paper: every 10) with the networks in eval mode; crops are taken at native resolution (the paper resizes to
286 px and crops 256). On the CPU configuration an epoch is capped at ``steps_per_epoch`` steps.

Devices: the networks train on ``options.device`` (``auto``: a CUDA GPU when one is visible); crops are made by
DataLoader workers when ``options.num_workers`` is set (:mod:`crackscope.unsupervised.feed`, pinned memory on
CUDA), and on a GPU the forward passes of both networks run under bfloat16 autocast (``options.precision``
``auto``) with channels_last tensors, the losses in float32. Validation and the saved weights are float32; the
run records its device and precision in ``config.json``.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crackscope.errors import BadInputError
from crackscope.io import manifest, versions, write_image_atomic, write_json_atomic, write_text_atomic
from crackscope.progress import OnProgress, report
from crackscope.unsupervised.config import (
    STYLE_CHOICES,
    RestorerConfig,
    check_image_size,
    downs_for,
    get_config,
)
from crackscope.unsupervised.data import (
    center_crop,
    crack_free_sources,
    readable_sources,
    split_sources,
    to_tensor,
    to_uint8,
)

if TYPE_CHECKING:
    import torch

    from crackscope.unsupervised.data import Source
    from crackscope.unsupervised.discriminator import PatchDiscriminator
    from crackscope.unsupervised.generator import UNetGenerator
    from crackscope.unsupervised.losses import RestorationLoss
    from crackscope.unsupervised.vgg19 import VGG19Features

__all__ = [
    "HISTORY_FIELDS",
    "PRECISIONS",
    "RestorerTrainOptions",
    "autocast_forward",
    "build_networks",
    "downs_for",
    "resolve_style",
    "restorer_precision",
    "style_features",
    "train_restorer",
    "train_step",
]

HISTORY_FIELDS = ("epoch", "steps", "lr_g", "lr_d", "d_loss", "g_adv", "g_rec", "val_rec", "best", "seconds")
#: the training precisions of the restorer (``auto``: bf16 on a CUDA GPU that runs it natively, else fp32)
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class RestorerTrainOptions:
    """What a call of :func:`crackscope.unsupervised.train.train_restorer` changes in the chosen configuration.

    Every field left at ``None`` keeps the configuration's value (on ``resume``: the saved run's). Checked once,
    when the options are made.

    Attributes
    ----------
    epochs : int or None
        Number of epochs in total; with ``resume`` it may raise the saved run's total.
    image_size : int or None
        Training crop and inference tile side in pixels (a multiple of 8); the generator gets as many
        down-convs as reach a 1x1 bottleneck (:func:`~crackscope.unsupervised.config.downs_for`). Ignored on
        ``resume``.
    ngf : int or None
        Generator and discriminator width. Ignored on ``resume``.
    batch_size : int or None
        Crops per step. Ignored on ``resume``.
    steps_per_epoch : int or None
        Cap an epoch at this many steps. Ignored on ``resume``.
    vgg_weights : str, Path or None
        torchvision's ``vgg19-dcbb9e9d.pth`` (ImageNet) for the style term; given, the style term defaults to
        ``"imagenet"``.
    style : str or None
        The style term, one of :data:`~crackscope.unsupervised.config.STYLE_CHOICES`: ``"imagenet"`` (needs
        ``vgg_weights``), ``"random"`` (a fixed random-init VGG-19) or ``"off"``. None: the configuration's
        (``"imagenet"`` falls back to ``"random"`` without weights). Ignored on ``resume``.
    seed : int or None
        Seed of crops, masks and initial weights. Ignored on ``resume``.
    time_budget : float or None
        Seconds after which training ends, once the epoch in progress is validated.
    device : str
        ``auto`` (a CUDA GPU when one is visible, else MPS, else the CPU), ``cpu``, ``cuda``, ``cuda:N`` or
        ``mps``; where this call trains (a resumed run may continue on another device).
    precision : str
        ``auto`` (bfloat16 autocast for the forward passes on a CUDA GPU that runs it natively, else float32),
        ``bf16`` or ``fp32``.
    num_workers : int
        DataLoader worker processes that decode and crop the training images (0: done in the training process,
        the crops every earlier run drew; with workers a run is reproducible for the same number of workers).
    layout : str or None
        The layout of the data folder (``crackscope.data.layouts.LAYOUTS``: ``class-folders``,
        ``filename-labels``, ``image-mask``); None: detected. On ``resume``, None reads the saved run's data
        the way it was read.
    photo_cache_mb : int
        Megabytes of decoded training photos kept in memory, in the training process and in each worker
        (:class:`~crackscope.data.items.PhotoCache`; 0: every crop decodes its file).
    """

    epochs: int | None = None
    image_size: int | None = None
    ngf: int | None = None
    batch_size: int | None = None
    steps_per_epoch: int | None = None
    vgg_weights: str | Path | None = None
    style: str | None = None
    seed: int | None = None
    time_budget: float | None = None
    device: str = "auto"
    precision: str = "auto"
    num_workers: int = 0
    layout: str | None = None
    photo_cache_mb: int = 512

    def __post_init__(self) -> None:
        """Check every field that is set.

        Raises
        ------
        ValueError
            If a field is out of range; the message names the field.
        """
        for name in ("epochs", "ngf", "batch_size", "steps_per_epoch"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.image_size is not None:
            check_image_size(self.image_size)
        if self.style is not None and self.style not in STYLE_CHOICES:
            raise ValueError(f"style must be one of {', '.join(STYLE_CHOICES)}, got {self.style!r}")
        if self.seed is not None and self.seed < 0:
            raise ValueError(f"seed must be at least 0, got {self.seed}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ValueError(f"time_budget must be a positive number of seconds, got {self.time_budget}")
        from crackscope.devices import check_device_name
        from crackscope.errors import DeviceError

        try:
            object.__setattr__(self, "device", check_device_name(self.device))
        except DeviceError:
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}") from None
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"num_workers must be a whole number >= 0, got {self.num_workers!r}")
        if isinstance(self.photo_cache_mb, bool) or not isinstance(self.photo_cache_mb, int) or self.photo_cache_mb < 0:
            raise ValueError(f"photo_cache_mb must be a whole number >= 0, got {self.photo_cache_mb!r}")
        if self.layout is not None:
            from crackscope.data.layouts import LAYOUTS

            if self.layout not in LAYOUTS:
                raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")


def build_networks(cfg: RestorerConfig) -> tuple[UNetGenerator, PatchDiscriminator]:
    from crackscope.unsupervised.discriminator import PatchDiscriminator
    from crackscope.unsupervised.generator import UNetGenerator

    return UNetGenerator(ngf=cfg.ngf, n_downs=cfg.n_downs), PatchDiscriminator(ndf=cfg.ndf, n_strided=cfg.d_strided)


def style_features(
    style: str, *, layers: tuple[str, ...], vgg_weights: str | Path | None, seed: int = 0
) -> VGG19Features | None:
    """The VGG-19 feature extractor for the style term: ImageNet weights, a fixed random init, or None (off)."""
    from crackscope.unsupervised.vgg19 import VGG19_FILE, VGG19Features, load_vgg19

    if style == "off":
        return None
    if style == "imagenet":
        if vgg_weights is None:
            raise BadInputError(None, f"style 'imagenet' needs torchvision's {VGG19_FILE}: pass --vgg-weights PATH")
        return load_vgg19(vgg_weights, layers=layers).eval()
    return VGG19Features(layers).random_init(seed).eval()


def resolve_style(cfg_style: str, *, style: str | None, vgg_weights: str | Path | None) -> str:
    """The style term actually used: explicit ``style`` wins; weights given -> imagenet; else the
    config's choice, with 'imagenet' falling back to the documented substitute 'random' (no weights here)."""
    if style is not None:
        return style
    if vgg_weights is not None:
        return "imagenet"
    return "random" if cfg_style == "imagenet" else cfg_style


class _Validation:
    """Fixed validation crops with fixed masks (mask i % 6), for a comparable restoration loss per epoch."""

    def __init__(self, sources: list[Source], cfg: RestorerConfig, *, bad: dict[str, str] | None = None) -> None:
        import torch

        from crackscope.unsupervised.corruption import checkerboard_masks, corrupt
        from crackscope.unsupervised.feed import load_or_none

        chosen = (
            sources[: cfg.val_max]
            if len(sources) <= cfg.val_max
            else [sources[i] for i in np.linspace(0, len(sources) - 1, cfg.val_max).round().astype(int)]
        )
        bad = {} if bad is None else bad
        loaded = (load_or_none(s, bad) for s in chosen)  # a file that fails now is left out (and reported)
        self.images = [center_crop(image, cfg.image_size) for image in loaded if image is not None]
        masks = torch.from_numpy(checkerboard_masks(cfg.image_size))
        self.target: torch.Tensor | None = to_tensor(self.images) if self.images else None
        self.corrupted: torch.Tensor | None = None
        if self.target is not None:
            choice = torch.arange(len(self.images)) % masks.shape[0]
            self.corrupted = corrupt(self.target, masks, choice)

    def __len__(self) -> int:
        return len(self.images)

    def to(self, device: torch.device) -> _Validation:
        """Move the fixed crops to ``device``; returns self."""
        if self.target is not None and self.corrupted is not None:
            self.target, self.corrupted = self.target.to(device), self.corrupted.to(device)
        return self

    def loss(
        self, generator: UNetGenerator, loss_fn: RestorationLoss, cfg: RestorerConfig
    ) -> tuple[float, torch.Tensor | None]:
        import torch

        if self.target is None or self.corrupted is None:
            return float("nan"), None
        from crackscope.unsupervised.inference import normalization_mode

        total = 0.0
        outs: list[torch.Tensor] = []
        # Same normalisation as at inference, so the kept checkpoint is the best one as it will be used.
        with normalization_mode(generator, cfg.normalization), torch.no_grad():
            for i in range(0, len(self.images), cfg.batch_size):
                x = self.corrupted[i : i + cfg.batch_size]
                y = self.target[i : i + cfg.batch_size]
                fake = generator(x)
                total += float(loss_fn(fake, y)["total"]) * len(x)
                outs.append(fake)
        return cfg.lambda_rec * total / len(self.images), torch.cat(outs)


def _save_sample(
    path: Path, corrupted: torch.Tensor, restored: torch.Tensor, original: torch.Tensor, n: int = 4
) -> None:
    rows = []
    for c, r, o in zip(to_uint8(corrupted[:n]), to_uint8(restored[:n]), to_uint8(original[:n]), strict=True):
        gap = np.full((c.shape[0], 2, 3), 255, np.uint8)
        rows.append(np.concatenate([c, gap, r, gap, o], axis=1))
    if rows:
        write_image_atomic(path, np.concatenate(rows, axis=0))


def _save_generator(path: Path, generator: UNetGenerator) -> None:
    from safetensors.torch import save_file

    from crackscope.io import atomic_path

    state = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))


def train_step(
    G: torch.nn.Module,
    D: torch.nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: RestorationLoss,
    *,
    lambda_rec: float = 100.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One pix2pix/UP-CrackNet step on corrupted ``x`` and real ``y``.

    D: (corrupted, real) -> 1 and (corrupted, restored) -> 0 with BCE, halved. G: BCE(D(x, G(x)), 1)
    + lambda_rec x restoration loss.

    Parameters
    ----------
    G, D : torch.nn.Module
        The generator and the conditional discriminator (in train mode; :class:`UNetGenerator` and
        :class:`PatchDiscriminator`, or wrappers that run their forward under autocast).
    opt_g, opt_d : torch.optim.Optimizer
        Their optimisers.
    x, y : torch.Tensor
        Corrupted and real crops, N x 3 x S x S in [-1, 1].
    loss_fn : RestorationLoss
        The restoration loss (its ``"total"`` is used).
    lambda_rec : float
        Weight of the restoration loss against the adversarial one.

    Returns
    -------
    tuple of torch.Tensor
        ``(d_loss, g_adv, g_rec)``, detached scalars.

    Raises
    ------
    RuntimeError
        From torch, if the networks and the crops do not fit together.
    """
    import torch

    bce = torch.nn.functional.binary_cross_entropy_with_logits
    fake = G(x)
    d_real = D(x, y)
    d_fake = D(x, fake.detach())
    d_loss = 0.5 * (bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake)))
    opt_d.zero_grad(set_to_none=True)
    torch.autograd.backward(d_loss)
    opt_d.step()
    d_fake = D(x, fake)
    adv = bce(d_fake, torch.ones_like(d_fake))
    rec = loss_fn(fake, y)["total"]
    g_loss = adv + lambda_rec * rec
    opt_g.zero_grad(set_to_none=True)
    torch.autograd.backward(g_loss)
    opt_g.step()
    return d_loss.detach(), adv.detach(), rec.detach()


def _append_history(path: Path, row: dict[str, Any]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k) for k in HISTORY_FIELDS})


def train_restorer(
    data: str | Path,
    *,
    out: str | Path,
    config: str | RestorerConfig = "cpu",
    options: RestorerTrainOptions = RestorerTrainOptions(),
    resume: bool = False,
    on_progress: OnProgress | None = None,
) -> Path:
    """Train a restorer on the crack-free images of ``data``; returns the run folder ``out``.

    Parameters
    ----------
    data : str or Path
        Crack-free images (a folder), a segmentation set (``images/`` + ``masks/``) or class folders (the
        uncracked class is used), detected unless ``options.layout`` names the layout.
    out : str or Path
        The run folder to write (``config.json``, ``model.safetensors``, ``checkpoint.pt``, ``history.csv``,
        ``samples/``, ``manifest.json``).
    config : str or RestorerConfig
        A configuration of :data:`~crackscope.unsupervised.config.CONFIGS` (``"cpu"``, ``"paper"``) or one
        made by hand. Ignored with ``resume`` (the saved run's is used).
    options : RestorerTrainOptions
        What this call changes in ``config`` (epochs, crop size, widths, style term, seed, time budget...),
        checked when made.
    resume : bool
        Continue the run in ``out`` from its last finished epoch (``options.epochs`` may raise the total).
    on_progress : OnProgress or None
        Told of the steps of each epoch.

    Returns
    -------
    Path
        The run folder ``out``.

    Raises
    ------
    BadInputError
        If ``out`` already holds a run (without ``resume``) or has nothing to resume, if ``data`` holds no
        usable image, or if the ImageNet style term has no VGG-19 weights file.
    ValueError
        If ``config`` names no known configuration or the options do not fit it.
    DeviceError
        If ``options.device`` is not on this machine.
    """
    import torch

    from crackscope.data.items import PhotoCache
    from crackscope.devices import describe_device, loader_settings, resolve_device
    from crackscope.unsupervised.corruption import checkerboard_masks, corrupt, random_choice
    from crackscope.unsupervised.feed import CropFeed, to_training_tensor
    from crackscope.unsupervised.losses import RestorationLoss

    device = resolve_device(options.device)  # before any work: a missing device is a one-line error
    precision = restorer_precision(options.precision, device)
    channels_last = device.type == "cuda"  # tensor cores under autocast; the CPU keeps the layout it was tuned on
    out = Path(out)
    ckpt_path = out / "checkpoint.pt"
    vgg_weights: str | Path | None
    layout: str | None
    if resume:
        if not ckpt_path.is_file():
            raise BadInputError(out, "nothing to resume (no checkpoint.pt); train without --resume first")
        saved = json.loads((out / "config.json").read_text())
        cfg = RestorerConfig.from_dict(saved["restorer"]).replace(epochs=options.epochs)
        eff_style = saved["style"]
        vgg_weights = saved.get("vgg_weights") if options.vgg_weights is None else options.vgg_weights
        same_data = data is None
        data = saved["data"] if same_data else data
        layout = options.layout if options.layout is not None or not same_data else saved.get("layout")
    else:
        if (out / "config.json").exists():
            raise BadInputError(out, "already holds a run; pass --resume to continue it or choose another --out")
        cfg = get_config(config) if isinstance(config, str) else config
        size = options.image_size
        cfg = cfg.replace(
            epochs=options.epochs,
            image_size=size,
            n_downs=None if size is None else downs_for(size),
            ngf=options.ngf,
            ndf=options.ngf,
            batch_size=options.batch_size,
            steps_per_epoch=options.steps_per_epoch,
            seed=options.seed,
        )
        vgg_weights = options.vgg_weights
        layout = options.layout
        eff_style = resolve_style(cfg.style, style=options.style, vgg_weights=vgg_weights)
        cfg = cfg.replace(style=eff_style)
    if vgg_weights is not None and eff_style == "imagenet":
        vgg_weights = str(Path(vgg_weights))

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    load_size = cfg.image_size + cfg.image_size // 8  # room for a random crop (the paper: 286 -> 256)
    found = crack_free_sources(
        data,
        patch_size=load_size,
        stride=cfg.patch_stride or max(8, load_size // 2),
        margin=cfg.crack_margin,
        layout=layout,
        photo_cache=PhotoCache(options.photo_cache_mb * 2**20),
    )
    # every file decoded once: an unreadable one is skipped (listed in skipped.txt and the manifest), not fatal
    found = readable_sources(found, on_progress=lambda i, n: report(on_progress, "checking images", i, n))
    bad: dict[str, str] = {}  # sources that fail later (a file changed during training), by key
    train_src, val_src = split_sources(found.sources, val_fraction=cfg.val_fraction, seed=cfg.seed)
    if not val_src:  # too little data to hold any out: validate on fixed crops of training images
        val_src = train_src
    features = style_features(eff_style, layers=cfg.style_layers, vgg_weights=vgg_weights, seed=cfg.seed)
    loss_fn = RestorationLoss(features, style_weight=cfg.style_weight).to(device)
    G, D = build_networks(cfg)  # initialised on the CPU: the same weights on every device
    for net in (G, D):
        net.to(device)
        if channels_last:
            net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    masks = torch.from_numpy(checkerboard_masks(cfg.image_size)).to(device)
    validation = _Validation(val_src, cfg, bad=bad).to(device)

    start_epoch, best, history_note = 0, float("inf"), None
    if resume:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        start_epoch, best = int(state["epoch"]) + 1, float(state["best"])
        rng = np.random.default_rng([cfg.seed, start_epoch])
        torch.manual_seed(cfg.seed + start_epoch)
        history_note = f"resumed at epoch {start_epoch}"

    out.mkdir(parents=True, exist_ok=True)
    (out / "samples").mkdir(exist_ok=True)
    _write_skipped(out, found.skipped, bad)
    run_config = {
        "kind": "restorer",
        "name": f"upcracknet-{cfg.name}",
        "model": "upcracknet",
        "image_size": cfg.image_size,
        "restorer": cfg.to_dict(),
        "style": eff_style,
        "vgg_weights": str(vgg_weights) if eff_style == "imagenet" else None,
        "data": str(Path(data).resolve()),
        "data_layout": found.layout,
        "layout": layout,  # the layout given (None: detected), read again on resume
        "data_settings": found.settings,
        "train_images": len(train_src),
        "val_images": len(validation),
        "device": describe_device(device),
        "precision": precision,
        "versions": versions(),
    }
    write_json_atomic(out / "config.json", run_config)
    steps = cfg.steps_per_epoch or max(1, len(train_src) // cfg.batch_size)
    t0 = time.monotonic()
    stopped: str | None = None
    time_budget = options.time_budget
    feed = CropFeed(
        train_src,
        size=cfg.image_size,
        batch_size=cfg.batch_size,
        rng=rng,
        bad=bad,
        seed=cfg.seed,
        epoch=start_epoch,
        loading=loader_settings(device, num_workers=options.num_workers),
    )
    G_step, D_step = autocast_forward(G, device, precision), autocast_forward(D, device, precision)

    for epoch in range(start_epoch, cfg.epochs):
        lr_g = cfg.lr_g * cfg.lr_decay**epoch
        lr_d = cfg.lr_d * cfg.lr_decay**epoch
        for group in opt_g.param_groups:
            group["lr"] = lr_g
        for group in opt_d.param_groups:
            group["lr"] = lr_d
        G.train()
        D.train()
        sums = {"d": 0.0, "adv": 0.0, "rec": 0.0}
        task = f"epoch {epoch + 1}/{cfg.epochs}"
        report(on_progress, task, 0, steps)
        t_epoch = time.monotonic()
        done = 0
        for _ in range(steps):
            y = to_training_tensor(feed.next_batch(), device, channels_last=channels_last)
            x = corrupt(y, masks, random_choice(len(y), gen).to(device))
            d_loss, adv, rec = train_step(G_step, D_step, opt_g, opt_d, x, y, loss_fn, lambda_rec=cfg.lambda_rec)
            sums["d"] += float(d_loss)
            sums["adv"] += float(adv)
            sums["rec"] += float(rec) * cfg.lambda_rec
            done += 1
            report(on_progress, task, done, steps)
            if time_budget is not None and time.monotonic() - t0 > time_budget:
                stopped = f"time budget of {time_budget:.0f} s reached in epoch {epoch + 1}"
                break
        if done < steps:  # the time budget stopped the epoch: it ends at the steps it took
            report(on_progress, task, done, done)
        G.eval()
        val_rec, restored = validation.loss(G, loss_fn, cfg)
        improved = val_rec < best
        if improved:
            best = val_rec
            _save_generator(out / "model.safetensors", G)
        if restored is not None and validation.corrupted is not None and validation.target is not None:
            sample = out / "samples" / f"epoch_{epoch + 1:03d}.png"
            _save_sample(sample, validation.corrupted, restored, validation.target)
        _append_history(
            out / "history.csv",
            {
                "epoch": epoch + 1,
                "steps": done,
                "lr_g": f"{lr_g:.6g}",
                "lr_d": f"{lr_d:.6g}",
                "d_loss": f"{sums['d'] / max(done, 1):.5f}",
                "g_adv": f"{sums['adv'] / max(done, 1):.5f}",
                "g_rec": f"{sums['rec'] / max(done, 1):.5f}",
                "val_rec": f"{val_rec:.5f}",
                "best": int(improved),
                "seconds": f"{time.monotonic() - t_epoch:.1f}",
            },
        )
        torch.save(
            {
                "G": G.state_dict(),
                "D": D.state_dict(),
                "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(),
                "epoch": epoch,
                "best": best,
            },
            ckpt_path,
        )
        if stopped:
            break
    feed.close()
    if not (out / "model.safetensors").exists():  # e.g. validation loss was NaN every epoch
        _save_generator(out / "model.safetensors", G)
    write_json_atomic(
        out / "manifest.json",
        manifest(
            command="train-restorer",
            inputs=[data],
            settings={
                "config": cfg.name,
                "style": eff_style,
                "device": str(device),
                "precision": precision,
                "epochs": cfg.epochs,
                "stopped": stopped,
                "resumed": history_note,
                "seconds": round(time.monotonic() - t0, 1),
                "best_val_rec": best,
                "skipped": [{"path": str(p), "problem": why} for p, why in _all_skipped(found.skipped, bad)],
            },
        ),
    )
    _write_skipped(out, found.skipped, bad)
    return out


def restorer_precision(precision: str, device: torch.device) -> str:
    """The training precision ``precision`` stands for on ``device``: ``auto`` is ``bf16`` on a CUDA GPU that runs
    bfloat16 natively and ``fp32`` elsewhere (the CPU configuration was tuned in float32).

    Raises
    ------
    ValueError
        If ``precision`` is not one of :data:`PRECISIONS`.
    """
    from crackscope.models.speed import bf16_supported

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if device.type == "cuda" and bf16_supported("cuda") else "fp32"
    return precision


def autocast_forward(module: torch.nn.Module, device: torch.device, precision: str) -> torch.nn.Module:
    """``module`` itself for ``fp32``; for ``bf16`` a wrapper (sharing its parameters) whose forward runs under
    bfloat16 autocast on ``device`` and returns float32, so losses and backward passes run outside autocast.

    Raises
    ------
    ValueError
        If ``precision`` is neither ``bf16`` nor ``fp32``.
    """
    import torch

    if precision == "fp32":
        return module
    if precision != "bf16":
        raise ValueError(f"precision must be bf16 or fp32, got {precision!r}")

    class Autocast(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                out: torch.Tensor = self.inner(*args)
            return out.float()

    return Autocast(module)


def _all_skipped(listed: list[tuple[Path, str]], bad: dict[str, str]) -> list[tuple[str, str]]:
    """Files left out at listing and reading, then sources that failed during training."""
    return [(str(p), why) for p, why in listed] + list(bad.items())


def _write_skipped(out: Path, listed: list[tuple[Path, str]], bad: dict[str, str]) -> None:
    """RUN/skipped.txt: every file left out, one ``path<TAB>problem`` line each (no file when none)."""
    entries = _all_skipped(listed, bad)
    if entries:
        write_text_atomic(out / "skipped.txt", "".join(f"{p}\t{why}\n" for p, why in entries))
