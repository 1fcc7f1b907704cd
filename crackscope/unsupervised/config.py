"""UP-CrackNet configurations: the paper's full one and a CPU-sized one for this machine."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

STYLE_CHOICES = ("imagenet", "random", "off")
#: BatchNorm at validation and inference: the batch's statistics (pix2pix's test default) or running averages
NORMALIZATIONS = ("batch", "running")


def check_image_size(image_size: int) -> None:
    """Check a training crop side: at least 8 px and a multiple of 8 (the checkerboard's smallest squares are 1/8).

    Parameters
    ----------
    image_size : int
        Crop side in pixels.

    Raises
    ------
    ValueError
        If ``image_size`` is below 8 or not a multiple of 8.
    """
    if image_size < 8 or image_size % 8:
        raise ValueError(
            f"image_size must be a multiple of 8 of at least 8 (checkerboard of 1/8 squares), got {image_size}"
        )


def downs_for(image_size: int) -> int:
    """Down-convs for a crop side: down to a 1x1 bottleneck for powers of two (256 -> 8, 64 -> 6), at most 8.

    Parameters
    ----------
    image_size : int
        Crop side in pixels.

    Returns
    -------
    int
        The number of stride-2 down-convolutions of the generator.

    Raises
    ------
    ValueError
        If ``image_size`` is below 8.
    """
    if image_size < 8:
        raise ValueError(f"image_size must be at least 8, got {image_size}")
    return min(8, (image_size & -image_size).bit_length() - 1)


@dataclass(frozen=True)
class RestorerConfig:
    """Every setting of a restorer run (saved in the run's config.json)."""

    image_size: int = 256  # training crop side (px, native resolution); also the inference tile
    ngf: int = 64  # generator width (first down-conv channels)
    n_downs: int = 8  # stride-2 down-convs (8 -> 1x1 bottleneck at 256 px)
    ndf: int = 64  # discriminator width
    d_strided: int = 3  # stride-2 convs in the PatchGAN (3 = 70x70 receptive field)
    batch_size: int = 8
    epochs: int = 300
    steps_per_epoch: int | None = None  # None = one pass over the training images
    lr_g: float = 1e-3  # x 0.99 ** epoch
    lr_d: float = 4e-3  # x 0.99 ** epoch
    lr_decay: float = 0.99
    betas: tuple[float, float] = (0.5, 0.999)
    lambda_rec: float = 100.0
    style_weight: float = 10.0
    style_layers: tuple[str, ...] = ("relu2_2", "relu3_4", "relu4_4", "relu5_2")
    style: str = "imagenet"  # imagenet (needs --vgg-weights) | random (fixed random-init VGG-19) | off
    val_fraction: float = 0.1
    val_max: int = 64  # validation images (fixed masks and crops)
    crack_margin: int = 8  # segmentation sets: no crack pixel within this many px of a patch
    patch_stride: int | None = None  # segmentation sets: stride of the patch grid (None = patch side)
    tile_overlap: float = 0.25  # inference tiling overlap (fraction of the tile)
    bilateral: tuple[int, float, float] = (25, 450.0, 15.0)  # d, sigmaColor, sigmaSpace (paper's code)
    normalization: str = "batch"  # BatchNorm at validation/inference: batch statistics (pix2pix test) | running
    seed: int = 0
    name: str = "paper"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image_size % (2**self.n_downs):
            raise ValueError(f"image_size {self.image_size} must be a multiple of 2**n_downs = {2**self.n_downs}")
        check_image_size(self.image_size)
        if self.style not in STYLE_CHOICES:
            raise ValueError(f"style must be one of {STYLE_CHOICES}, got {self.style!r}")
        for name in ("ngf", "ndf", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        if not 0.0 <= self.tile_overlap < 1.0:
            raise ValueError(f"tile_overlap must be in [0, 1), got {self.tile_overlap}")

    def replace(self, **changes: Any) -> RestorerConfig:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        d["style_layers"] = list(self.style_layers)
        d["bilateral"] = list(self.bilateral)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RestorerConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        for key in ("betas", "style_layers", "bilateral"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)


def paper_config() -> RestorerConfig:
    """The paper's setting: 256 px, ngf/ndf 64, 8 downs, batch 8, 300 epochs, ImageNet VGG-19 style term."""
    return RestorerConfig()


def cpu_config() -> RestorerConfig:
    """A CPU-sized setting: 64 px crops, ngf/ndf 32, 6 downs (1x1 bottleneck), 2-stride PatchGAN.

    Epochs are capped at 150 steps so the per-epoch lr decay, validation and best-checkpoint
    selection happen every minute or two on a 2-core CPU. The style term is off: on this CPU the
    random-VGG substitute made a step 4.8x slower and, in the same 35 minutes, scored lower
    (benchmarks/results/upcracknet.md); ``style="imagenet"`` with ``--vgg-weights`` or ``"random"`` turns it on.
    """
    return RestorerConfig(
        image_size=64,
        ngf=32,
        n_downs=6,
        ndf=32,
        d_strided=2,
        batch_size=8,
        epochs=30,
        steps_per_epoch=150,
        style="off",
        val_max=48,
        crack_margin=4,
        name="cpu",
    )


CONFIGS = {"paper": paper_config, "cpu": cpu_config}


def get_config(name: str) -> RestorerConfig:
    """The named configuration.

    Parameters
    ----------
    name : str
        One of :data:`CONFIGS` (``"cpu"``, ``"paper"``).

    Returns
    -------
    RestorerConfig
        A fresh configuration.

    Raises
    ------
    ValueError
        If ``name`` is not a known configuration.
    """
    if name not in CONFIGS:
        raise ValueError(f"unknown restorer config {name!r}; choose from {sorted(CONFIGS)}")
    return CONFIGS[name]()
