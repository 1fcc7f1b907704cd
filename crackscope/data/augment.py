"""Augmentation presets applied alike to an image and its crack mask (the mask stays binary).

- ``none``: unchanged copies.
- ``rot90-flip``: a random one of the 8 rotations/flips of the square (k x 90 degrees, then an optional
  horizontal flip; a vertical flip is one of these too). ``expand_rot90_flip`` instead doubles a training
  list deterministically: every item once as it is and once turned/flipped.
- ``keras-v3``: the Keras recipe ``RandomContrast(0.02)``, ``RandomFlip("horizontal_and_vertical")``,
  ``RandomRotation(0.1)`` (up to 36 degrees), ``RandomZoom(0.1)``, ``RandomTranslation(0.1, 0.1)`` and
  ``GaussianNoise(0.01)`` on the 0..1 scale. The geometric steps are composed into one affine warp
  (OpenCV, reflected borders as in Keras; bilinear for the image, nearest for the mask); contrast and
  noise touch only the image.
- ``robust``: what photos of other surfaces, cameras and light need (``RobustAugment``, named values in
  ``ROBUST_PRESETS``). Geometry, applied alike to image and mask in one affine warp (reflected borders): one
  of the 8 rotations/flips of the square, a small extra rotation, a zoom (scale jitter) and a shift (crop
  jitter). Then, on the image only: gamma, brightness, contrast and a colour cast (one lookup table per
  channel), and each with its own probability, a Gaussian blur (focus, motion), Gaussian sensor noise and
  JPEG re-compression at a random quality. Every draw comes from the ``rng`` given, so a seed fixes the
  result.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Protocol, TypeVar

import cv2
import numpy as np

from crackscope.data.splits import SplitItem, source_of

PRESETS = ("none", "rot90-flip", "keras-v3", "robust")

KERAS_V3 = {
    "contrast": 0.02,
    "rotation_degrees": 36.0,
    "zoom": 0.1,
    "translation": 0.1,
    "noise_std": 0.01,
}


def dihedral(array: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """Rotate by ``k`` x 90 degrees counter-clockwise, then flip left-right if ``flip`` (a copy)."""
    out = np.rot90(array, k % 4, axes=(0, 1))
    if flip:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def _check(image: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8, got {image.shape} {image.dtype}")
    if mask is not None:
        mask = np.asarray(mask) != 0
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask shape {mask.shape} differs from image shape {image.shape[:2]}")
    return image, mask


def _affine(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Keras-v3 geometry as one 2x3 matrix: flips, rotation, zoom and translation about the centre."""
    p = KERAS_V3
    fx = -1.0 if rng.random() < 0.5 else 1.0
    fy = -1.0 if rng.random() < 0.5 else 1.0
    angle = np.deg2rad(rng.uniform(-p["rotation_degrees"], p["rotation_degrees"]))
    zoom = 1.0 + rng.uniform(-p["zoom"], p["zoom"])  # Keras: >1 zooms out, i.e. content shrinks
    tx = rng.uniform(-p["translation"], p["translation"]) * width
    ty = rng.uniform(-p["translation"], p["translation"]) * height
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.diag([fx, fy])
    centre = np.array([cx, cy])
    offset = centre + np.array([tx, ty]) - linear @ centre
    return np.hstack([linear, offset[:, None]])


def _keras_v3(
    image: np.ndarray, mask: np.ndarray | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    height, width = image.shape[:2]
    matrix = _affine(height, width, rng)
    size = (width, height)
    out: np.ndarray = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if mask is not None:
        warped = cv2.warpAffine(
            mask.astype(np.uint8), matrix, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT
        )
        mask = warped != 0
    factor = np.float32(1.0 + rng.uniform(-KERAS_V3["contrast"], KERAS_V3["contrast"]))
    mean = np.asarray(cv2.mean(out)[:3], np.float32)  # per-channel mean, much faster than ndarray.mean here
    # (x - mean) * factor + mean + noise, in float32 and in place
    pixels = rng.standard_normal(size=out.shape, dtype=np.float32)
    pixels *= np.float32(KERAS_V3["noise_std"] * 255.0)
    pixels += out * factor
    pixels += mean * (np.float32(1.0) - factor)
    np.rint(pixels, out=pixels)
    np.clip(pixels, 0, 255, out=pixels)
    return pixels.astype(np.uint8), mask


def _range(name: str, value: object, low: float, high: float, *, whole: bool = False) -> None:
    """Check a (min, max) pair within [low, high], min <= max. Raises ValueError naming the field."""
    kind = "whole numbers" if whole else "numbers"
    ok = isinstance(value, tuple) and len(value) == 2
    if ok:
        assert isinstance(value, tuple)
        ok = all(
            not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v) and low <= v <= high
            for v in value
        )
        ok = ok and value[0] <= value[1] and (not whole or all(isinstance(v, int) for v in value))
    if not ok:
        raise ValueError(f"{name} must be a (min, max) pair of {kind} within [{low:g}, {high:g}], got {value!r}")


def _number(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (low <= value <= high):
        raise ValueError(f"{name} must be a number within [{low:g}, {high:g}], got {value!r}")


@dataclass(frozen=True)
class RobustAugment:
    """Photometric and geometric augmentation for inspection photos of many surfaces (preset ``robust``).

    Geometry (image and mask alike, one affine warp about the centre, reflected borders):

    - ``dihedral``: a random one of the 8 rotations by k x 90 degrees and flips;
    - ``rotation_degrees``: then a rotation by an angle drawn from [-r, r];
    - ``scale``: a zoom factor drawn from (min, max); > 1 magnifies (the view is cropped in), < 1 shrinks;
    - ``shift``: crop jitter, the centre moved by up to this fraction of the width and of the height.

    Photometry (image only), on the 0..1 scale, in this order, as one lookup table per channel:

    - ``gamma``: ``x ** e`` with ``e`` drawn log-uniformly from [1 / (1 + g), 1 + g];
    - ``brightness``: times a factor drawn from [1 - b, 1 + b];
    - ``contrast``: stretched about the channel's mean by a factor drawn from [1 - c, 1 + c];
    - ``colour_cast``: each channel times its own factor drawn from [1 - k, 1 + k].

    Degradations (image only), each with its probability: ``blur_probability`` a Gaussian blur with sigma
    drawn from ``blur_sigma`` (px); ``noise_probability`` Gaussian noise with a standard deviation drawn from
    ``noise_std`` (grey levels, 0..255); ``jpeg_probability`` JPEG re-compression at a quality drawn from
    ``jpeg_quality`` (inclusive). Setting a range to nothing (0, or (1, 1) for ``scale``) or a probability to
    0 turns that step off.

    Raises
    ------
    ValueError
        Naming the field, when a value is out of its range (amounts in [0, 1), rotation in [0, 180],
        probabilities in [0, 1], scale within [0.25, 4], blur sigma within [0, 10], noise within [0, 64],
        JPEG quality within [1, 100], ranges with min <= max).

    Examples
    --------
    >>> RobustAugment().scale
    (0.85, 1.2)
    >>> RobustAugment(brightness=1.5)
    Traceback (most recent call last):
    ...
    ValueError: brightness must be a number within [0, 0.95], got 1.5
    """

    dihedral: bool = True
    rotation_degrees: float = 15.0
    scale: tuple[float, float] = (0.85, 1.2)
    shift: float = 0.08
    gamma: float = 0.3
    brightness: float = 0.25
    contrast: float = 0.3
    colour_cast: float = 0.08
    blur_probability: float = 0.25
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    noise_probability: float = 0.3
    noise_std: tuple[float, float] = (2.0, 8.0)
    jpeg_probability: float = 0.3
    jpeg_quality: tuple[int, int] = (30, 90)

    def __post_init__(self) -> None:
        if not isinstance(self.dihedral, bool):
            raise ValueError(f"dihedral must be True or False, got {self.dihedral!r}")
        _number("rotation_degrees", self.rotation_degrees, 0.0, 180.0)
        _range("scale", self.scale, 0.25, 4.0)
        _number("shift", self.shift, 0.0, 0.5)
        for name in ("gamma", "brightness", "contrast", "colour_cast"):
            _number(name, getattr(self, name), 0.0, 0.95)
        for name in ("blur_probability", "noise_probability", "jpeg_probability"):
            _number(name, getattr(self, name), 0.0, 1.0)
        _range("blur_sigma", self.blur_sigma, 0.0, 10.0)
        _range("noise_std", self.noise_std, 0.0, 64.0)
        _range("jpeg_quality", self.jpeg_quality, 1, 100, whole=True)

    def to_dict(self) -> dict[str, object]:
        """The settings as JSON-able values (ranges as lists)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> RobustAugment:
        """The settings written by :meth:`to_dict` (lists back to ranges; missing fields keep their defaults).

        Raises
        ------
        ValueError
            If a field is unknown or a value is out of its range.
        """
        from crackscope.maps.base import reject_unknown_fields

        reject_unknown_fields(cls, data, what="augmentation fields")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)  # type: ignore[arg-type]


#: the named robust presets (``augment_pair(preset=name)``); ``robust`` is ``RobustAugment()``
ROBUST_PRESETS: dict[str, RobustAugment] = {"robust": RobustAugment()}


def _robust_matrix(options: RobustAugment, height: int, width: int, rng: np.random.Generator) -> np.ndarray | None:
    """The forward 2x3 affine matrix of one draw of the geometry (None: the identity, nothing drawn)."""
    low, high = options.scale
    if not options.dihedral and options.rotation_degrees == 0 and low == high == 1.0 and options.shift == 0:
        return None
    k, flip = (int(rng.integers(4)), bool(rng.random() < 0.5)) if options.dihedral else (0, False)
    angle = k * math.pi / 2 + math.radians(rng.uniform(-options.rotation_degrees, options.rotation_degrees))
    zoom = float(np.exp(rng.uniform(math.log(low), math.log(high))))
    tx = rng.uniform(-options.shift, options.shift) * width
    ty = rng.uniform(-options.shift, options.shift) * height
    cos, sin = round(math.cos(angle), 12), round(math.sin(angle), 12)  # exact quarter turns
    linear = zoom * np.array([[cos, -sin], [sin, cos]]) @ np.diag([-1.0 if flip else 1.0, 1.0])
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    offset = centre + np.array([tx, ty]) - linear @ centre
    return np.hstack([linear, offset[:, None]])


def _robust_lut(options: RobustAugment, image: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A 256x1x3 uint8 lookup table for gamma, brightness, contrast and colour cast (None: all off)."""
    if not (options.gamma or options.brightness or options.contrast or options.colour_cast):
        return None
    g = math.log1p(options.gamma)
    exponent = math.exp(rng.uniform(-g, g))
    bright = 1.0 + rng.uniform(-options.brightness, options.brightness)
    contrast = 1.0 + rng.uniform(-options.contrast, options.contrast)
    cast = 1.0 + rng.uniform(-options.colour_cast, options.colour_cast, size=3)
    x = np.linspace(0.0, 1.0, 256)[:, None]  # 256 x 1
    means = np.asarray(cv2.mean(image)[:3]) / 255.0  # per channel, mapped through gamma and brightness below
    y = (x**exponent) * bright
    centre = (means**exponent) * bright
    y = ((y - centre) * contrast + centre) * cast  # 256 x 3
    table: np.ndarray = np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)
    return table.reshape(256, 1, 3)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` encoded as JPEG at ``quality`` and decoded again (RGB in, RGB out)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
    if decoded is None:  # pragma: no cover - OpenCV always encodes a uint8 3-channel array
        raise RuntimeError("OpenCV could not encode and decode a JPEG")
    rgb: np.ndarray = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    return rgb


def robust_augment(
    image: np.ndarray,
    mask: np.ndarray | None,
    *,
    options: RobustAugment | None = None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One draw of ``options`` (None: the ``robust`` preset) on an HxWx3 uint8 image and its HxW mask.

    Returns a new uint8 image of the same shape and the mask moved with it (bool; None stays None). The
    same ``options`` and an ``rng`` in the same state give the same result.

    Raises
    ------
    ValueError
        If the image is not HxWx3 uint8, the mask's shape differs, or ``rng`` is not a numpy Generator.

    Examples
    --------
    >>> image = np.full((8, 8, 3), 100, np.uint8)
    >>> only_brighter = RobustAugment(dihedral=False, rotation_degrees=0, scale=(1.0, 1.0), shift=0, gamma=0,
    ...     brightness=0.5, contrast=0, colour_cast=0, blur_probability=0, noise_probability=0, jpeg_probability=0)
    >>> out, _ = robust_augment(image, None, options=only_brighter, rng=np.random.default_rng(0))
    >>> out.shape, out.dtype, 50 <= int(out[0, 0, 0]) <= 150
    ((8, 8, 3), dtype('uint8'), True)
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
    image, mask = _check(image, mask)
    out, moved = _robust(image, None if mask is None else mask.view(np.uint8), options, rng)
    return out, None if moved is None else moved != 0


def robust_augment_labels(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    options: RobustAugment | None = None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`robust_augment` for an HxW uint8 label map of several values (a pixel model's targets: crack,
    background, unlabelled): the labels move with the image by nearest neighbour and keep their values.

    The same ``options`` and ``rng`` state give the same image as :func:`robust_augment` with a mask.

    Raises
    ------
    ValueError
        If the image is not HxWx3 uint8, ``labels`` is not uint8 of the image's height and width, or ``rng``
        is not a numpy Generator.

    Examples
    --------
    >>> image = np.zeros((4, 4, 3), np.uint8)
    >>> labels = np.array([[0, 1, 255, 0]] * 4, np.uint8)
    >>> _, moved = robust_augment_labels(image, labels, rng=np.random.default_rng(0))
    >>> sorted(np.unique(moved).tolist())
    [0, 1, 255]
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
    image, _ = _check(image, None)
    labels = np.asarray(labels)
    if labels.dtype != np.uint8 or labels.shape != image.shape[:2]:
        raise ValueError(f"labels must be uint8 of shape {image.shape[:2]}, got {labels.shape} {labels.dtype}")
    out, moved = _robust(image, labels, options, rng)
    assert moved is not None
    return out, moved


def _robust(
    image: np.ndarray, labels: np.ndarray | None, options: RobustAugment | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """One draw on a checked image and uint8 labels (moved by nearest neighbour); new arrays."""
    options = ROBUST_PRESETS["robust"] if options is None else options
    height, width = image.shape[:2]
    out = image
    matrix = _robust_matrix(options, height, width, rng)
    if matrix is not None:
        size = (width, height)
        out = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if labels is not None:
            labels = cv2.warpAffine(labels, matrix, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
    table = _robust_lut(options, out, rng)
    if table is not None:
        out = cv2.LUT(out, table)
    if rng.random() < options.blur_probability:
        low, high = options.blur_sigma
        sigma = rng.uniform(low, high)
        if sigma > 0:
            out = cv2.GaussianBlur(out, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    if rng.random() < options.noise_probability:
        std = np.float32(rng.uniform(*options.noise_std))
        noisy = rng.standard_normal(size=out.shape, dtype=np.float32)
        noisy *= std
        noisy += out
        np.rint(noisy, out=noisy)
        np.clip(noisy, 0, 255, out=noisy)
        out = noisy.astype(np.uint8)
    if rng.random() < options.jpeg_probability:
        low_q, high_q = options.jpeg_quality
        out = _jpeg(np.ascontiguousarray(out), int(rng.integers(low_q, high_q + 1)))
    if out is image:
        out = image.copy()
    return np.ascontiguousarray(out, dtype=np.uint8), None if labels is None else labels.copy()


def augment_pair(
    image: np.ndarray, mask: np.ndarray | None, *, preset: str | RobustAugment, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """Augment an HxWx3 uint8 image and its HxW mask (or None) with one preset; returns new arrays.

    ``preset`` is a name of ``PRESETS`` or a ``RobustAugment`` of one's own.

    Raises
    ------
    ValueError
        If the preset is unknown, ``rng`` is not a numpy Generator, the image is not HxWx3 uint8 or the
        mask's shape differs from the image's.
    """
    if isinstance(preset, RobustAugment):
        return robust_augment(image, mask, options=preset, rng=rng)
    if preset not in PRESETS:
        raise ValueError(f"unknown augmentation preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
    if preset in ROBUST_PRESETS:
        return robust_augment(image, mask, options=ROBUST_PRESETS[preset], rng=rng)
    image, mask = _check(image, mask)
    if preset == "none":
        return image.copy(), None if mask is None else mask.copy()
    if preset == "rot90-flip":
        k, flip = int(rng.integers(4)), bool(rng.random() < 0.5)
        return dihedral(image, k, flip), None if mask is None else dihedral(mask, k, flip)
    return _keras_v3(image, mask, rng)


class Item(SplitItem, Protocol):
    """What ``TransformedItem`` and ``expand_rot90_flip`` need of an item (``LabelledItem`` has it): what a
    split needs, its file and its pixels."""

    @property
    def path(self) -> Path: ...

    def load(self) -> np.ndarray: ...

    def load_mask(self) -> np.ndarray | None: ...


ItemT = TypeVar("ItemT", bound=Item)


@dataclass(frozen=True)
class TransformedItem:
    """An item seen through a fixed rotation/flip; same group and label, key ``<key>@r<k>[f]``."""

    item: Item
    k: int
    flip: bool

    @property
    def key(self) -> str:
        return f"{self.item.key}@r{self.k}{'f' if self.flip else ''}"

    @property
    def group(self) -> str:
        return self.item.group

    @property
    def label(self) -> int:
        return self.item.label

    @property
    def path(self) -> Path:
        return self.item.path

    @property
    def source(self) -> str:
        return source_of(self.item)

    def load(self) -> np.ndarray:
        return dihedral(self.item.load(), self.k, self.flip)

    def load_mask(self) -> np.ndarray | None:
        mask = self.item.load_mask()
        return None if mask is None else dihedral(mask, self.k, self.flip)


def expand_rot90_flip(items: Iterable[ItemT], *, seed: int = 0) -> list[ItemT | TransformedItem]:
    """Double a training list: each item as it is, followed by a copy under one of the 7 non-identity
    rotations/flips, chosen from ``seed``. Use on the training split only."""
    rng = np.random.default_rng(seed)
    out: list[ItemT | TransformedItem] = []
    for item in items:
        choice = int(rng.integers(1, 8))  # 1..7: skip the identity
        out.append(item)
        out.append(TransformedItem(item, choice % 4, choice >= 4))
    return out
