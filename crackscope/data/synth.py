"""Synthetic concrete/pavement photos with realistic cracks and exact masks.

Each image is built in layers, all vectorised with numpy/OpenCV (about 5-7 ms of CPU per 256 px image):

1. **surface**: a base grey with a slight colour tint, multi-scale value noise (cells of 3 to 64 px),
   aggregate grain (many small blobs of lighter or darker tone) and fine sand noise;
2. **stains**: large soft blotches, darker or lighter;
3. **pores and craters**: small round or oval dark spots, some with a light rim: distractors that both
   classes get, so a model cannot learn "any dark spot is a crack";
4. **cracks** (cracked images only): tortuous paths (a random walk whose turning rate has momentum, plus
   small zig-zag jitter), 0-3 branches, widths of 1 to 8 px varying smoothly along the crack and tapering at
   free ends. They are drawn at twice the resolution with ``cv2.line``, area-downsampled and blurred, which
   gives sub-pixel widths and soft edges; the crack darkens the surface by ``depth * coverage``;
5. **lighting**: an uneven gradient and vignette, then a slight warm or cool colour tint.

The mask is exact with respect to the image: it holds the pixels the crack darkened by at least half of
its full depth (``coverage >= 0.5``). An image drawn as cracked whose crack ends up (almost) outside the
frame is redrawn, so labels follow the masks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

MIN_WIDTH_PX = 1.0
MAX_WIDTH_PX = 8.0
MASK_COVERAGE = 0.5  # a pixel is crack when the crack darkened it by at least half its full depth
_SCALE = 2  # cracks are drawn at this multiple of the image resolution, then area-downsampled
_SHIFT = 3  # fractional bits of cv2 drawing coordinates


# ----------------------------------------------------------------------------------------------- surface
def _value_noise(rng: np.random.Generator, size: int, cell: float) -> np.ndarray:
    """Smooth noise with features about ``cell`` px across, roughly unit variance."""
    n = max(2, math.ceil(size / cell) + 1)
    grid = rng.standard_normal((n, n)).astype(np.float32)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)


def _speckle(rng: np.random.Generator, size: int, count: int, sigma: float) -> np.ndarray:
    """Soft blobs about ``2 sigma`` px across, of random tone (impulses blurred; unit-ish amplitude)."""
    layer = np.zeros((size, size), np.float32)
    ys = rng.integers(0, size, count)
    xs = rng.integers(0, size, count)
    layer[ys, xs] = rng.normal(0, 1, count).astype(np.float32)
    layer = np.asarray(cv2.GaussianBlur(layer, (0, 0), sigma), dtype=np.float32)
    return layer * np.float32(2.0 * np.pi * sigma * sigma)  # undo the blur's spreading


def _surface(rng: np.random.Generator, size: int) -> np.ndarray:
    """Grey-level surface (float32, roughly 0..255) of concrete or asphalt."""
    asphalt = rng.random() < 0.3
    base = rng.uniform(70, 120) if asphalt else rng.uniform(115, 190)
    lum = np.full((size, size), base, np.float32)
    # multi-scale value noise: broad mottling down to fine grain
    for cell, amp in (
        (64, rng.uniform(3, 10)),
        (16, rng.uniform(2, 7)),
        (6, rng.uniform(1, 5)),
        (3, rng.uniform(1, 4)),
    ):
        lum += amp * _value_noise(rng, size, cell)
    # aggregate: many small blobs of varying tone (coarser and more contrasted on asphalt)
    area = size * size / 65536.0
    fine = _speckle(rng, size, int(rng.uniform(1500, 4000) * area), rng.uniform(0.6, 0.9))
    lum += fine * (rng.uniform(6, 14) if asphalt else rng.uniform(3, 9))
    coarse = _speckle(rng, size, int(rng.uniform(100, 500) * area), rng.uniform(1.2, 2.5))
    lum += coarse * (rng.uniform(8, 18) if asphalt else rng.uniform(3, 10))
    # sand: per-pixel noise
    lum += rng.standard_normal((size, size), dtype=np.float32) * np.float32(rng.uniform(2, 6))
    return lum


def _stains(rng: np.random.Generator, size: int) -> np.ndarray:
    """Multiplicative factor (around 1) of large soft darker/lighter blotches."""
    factor = np.ones((size, size), np.float32)
    for _ in range(rng.integers(0, 3)):
        field = _value_noise(rng, size, rng.uniform(size / 5, size / 2))
        blotch = 1.0 / (1.0 + np.exp(-(field - rng.uniform(0.3, 1.3)) * rng.uniform(2, 6)))
        factor *= 1.0 + rng.choice([-1.0, 1.0], p=[0.7, 0.3]) * rng.uniform(0.08, 0.25) * blotch
    return factor


def _pores(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Darkening fraction of pores/craters (0..~0.7) and a lightening layer for crater rims."""
    area = (size / 256.0) ** 2
    count = int(rng.uniform(5, 60) * area) + int(rng.random() < 0.5)
    dark = np.zeros((size, size), np.float32)
    rim = np.zeros((size, size), np.float32)
    f = 1 << _SHIFT
    for _ in range(count):
        x, y = rng.uniform(0, size, 2)
        r = rng.gamma(2.0, 0.9) + 0.7
        a, b = r, r * rng.uniform(0.5, 1.0)
        ang = rng.uniform(0, 180)
        centre = (int(x * f), int(y * f))
        if rng.random() < 0.3:  # crater: lighter rim around the hole
            cv2.ellipse(
                rim,
                centre,
                (int((a + 1.5) * f), int((b + 1.5) * f)),
                ang,
                0,
                360,
                rng.uniform(0.05, 0.15),
                -1,
                cv2.LINE_AA,
                _SHIFT,
            )
        cv2.ellipse(
            dark, centre, (int(a * f), int(b * f)), ang, 0, 360, rng.uniform(0.25, 0.7), -1, cv2.LINE_AA, _SHIFT
        )
    dark = np.asarray(cv2.GaussianBlur(dark, (0, 0), 0.7), dtype=np.float32)
    rim = np.asarray(cv2.GaussianBlur(rim, (0, 0), 1.0), dtype=np.float32)
    return np.clip(dark, 0, 0.8), rim


def _lighting(rng: np.random.Generator, size: int) -> np.ndarray:
    """Multiplicative uneven lighting: a linear gradient and a vignette."""
    coords = (np.arange(size, dtype=np.float32) - size / 2) / size
    yy, xx = coords[:, None], coords[None, :]
    phi = rng.uniform(0, 2 * np.pi)
    light: np.ndarray = 1.0 + rng.uniform(0, 0.45) * (np.cos(phi) * xx + np.sin(phi) * yy)
    light -= rng.uniform(0, 0.5) * (xx * xx + yy * yy)
    return light.astype(np.float32)


# ------------------------------------------------------------------------------------------------ cracks
def _smooth(x: np.ndarray, window: int) -> np.ndarray:
    window = max(1, int(window))
    if window == 1 or x.size < 2:
        return x
    kernel = np.ones(window) / window
    return np.convolve(np.pad(x, window, mode="edge"), kernel, mode="same")[window:-window]


def _walk(
    rng: np.random.Generator, start: np.ndarray, theta0: float, length: float, *, wiggle: float, step: float = 1.0
) -> np.ndarray:
    """Tortuous path: the turning rate is smoothed noise (momentum) plus a few kinks, plus zig-zag jitter."""
    n = max(3, int(length / step))
    turn = _smooth(rng.normal(0, wiggle, n), 8) * 2.5
    kinks = rng.random(n) < 0.012
    turn[kinks] += rng.normal(0, 0.5, int(kinks.sum()))
    theta = theta0 + np.cumsum(turn) * 0.85
    steps = np.stack([np.cos(theta), np.sin(theta)], axis=1) * step
    pts: np.ndarray = start + np.vstack([[0.0, 0.0], np.cumsum(steps, axis=0)])
    # jagged edges of the fracture: sideways jitter at two scales
    normal = np.stack([-np.sin(theta), np.cos(theta)], axis=1)
    jitter = _smooth(rng.normal(0, 1, n), 3) * rng.uniform(0.4, 1.2) + _smooth(rng.normal(0, 1, n), 12) * rng.uniform(
        0.8, 3.0
    )
    pts[1:] += normal * jitter[:, None]
    return pts


def _width_profile(rng: np.random.Generator, n: int, w0: float, *, taper_start: bool, taper_end: bool) -> np.ndarray:
    """Widths along a path: smooth variation around ``w0`` with rough edges, tapering towards free ends."""
    slow = _smooth(rng.normal(0, 1, n), max(3, n // 10)) * rng.uniform(1.5, 3.0)
    rough = _smooth(rng.normal(0, 1, n), 3) * rng.uniform(0.1, 0.35)
    w = w0 * np.exp(slow + rough)
    t = np.linspace(0, 1, n)
    frac = rng.uniform(0.1, 0.3)
    if taper_start:
        w = np.minimum(w, MIN_WIDTH_PX + (w0 - MIN_WIDTH_PX) * np.clip(t / frac, 0, 1) ** 0.7)
    if taper_end:
        w = np.minimum(w, MIN_WIDTH_PX + (w0 - MIN_WIDTH_PX) * np.clip((1 - t) / frac, 0, 1) ** 0.7)
    return np.clip(w, MIN_WIDTH_PX, MAX_WIDTH_PX)


def _crack_paths(rng: np.random.Generator, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """A main crack (from an edge or starting inside) with 0-3 branches; sometimes a second crack."""
    paths = []
    n_cracks = 1 + int(rng.random() < 0.2)
    for _ in range(n_cracks):
        w0 = float(np.exp(rng.uniform(np.log(1.2), np.log(6.0))))
        wiggle = rng.uniform(0.01, 0.045)
        inside = rng.random() < 0.35
        if inside:  # starts and ends inside the frame: both ends taper
            start = rng.uniform(0.15 * size, 0.85 * size, 2)
            theta = rng.uniform(0, 2 * np.pi)
            length = rng.uniform(0.35, 0.9) * size
        else:  # enters through an edge, heading inwards
            side = rng.integers(4)
            s = rng.uniform(0.1, 0.9) * size
            start = np.array([[s, -3.0], [size + 3.0, s], [s, size + 3.0], [-3.0, s]][side])
            theta = [np.pi / 2, np.pi, -np.pi / 2, 0.0][side] + rng.uniform(-0.9, 0.9)
            length = rng.uniform(0.6, 1.6) * size
        pts = _walk(rng, start, theta, length, wiggle=wiggle)
        widths = _width_profile(rng, len(pts), w0, taper_start=inside, taper_end=True)
        paths.append((pts, widths))
        n_branches = rng.choice(4, p=[0.35, 0.35, 0.2, 0.1])
        for _ in range(n_branches):
            i = int(rng.integers(int(0.15 * len(pts)), max(int(0.15 * len(pts)) + 1, int(0.85 * len(pts)))))
            d = pts[min(i + 1, len(pts) - 1)] - pts[max(i - 1, 0)]
            heading = math.atan2(d[1], d[0]) + rng.choice([-1, 1]) * rng.uniform(0.4, 1.2)
            b_pts = _walk(rng, pts[i], heading, rng.uniform(0.15, 0.5) * length, wiggle=wiggle)
            b_w0 = max(MIN_WIDTH_PX, widths[i] * rng.uniform(0.4, 0.8))
            b_widths = _width_profile(rng, len(b_pts), b_w0, taper_start=False, taper_end=True)
            paths.append((b_pts, b_widths))
    return paths


def _render(paths: list[tuple[np.ndarray, np.ndarray]], size: int, blur: float) -> np.ndarray:
    """Crack coverage in [0, 1] (float32 HxW): drawn at 2x with cv2.line, area-downsampled, blurred."""
    big = size * _SCALE
    canvas = np.zeros((big, big), np.uint8)
    f = (1 << _SHIFT) * _SCALE
    for pts, widths in paths:
        ipts = np.round(pts * f + (f / 2 - (1 << _SHIFT) / 2)).astype(np.int64)  # pixel-centre aligned
        thick = np.maximum(1, np.round(widths * _SCALE)).astype(int)
        for k in range(len(ipts) - 1):
            p, q = ipts[k], ipts[k + 1]
            cv2.line(canvas, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), 255, int(thick[k]), cv2.LINE_8, _SHIFT)
    cov = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return cv2.GaussianBlur(cov, (0, 0), blur)


# --------------------------------------------------------------------------------------------- public API
def generate_pair(rng: np.random.Generator, size: int = 256, *, cracked: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One image (size x size x 3 uint8 RGB) and its exact crack mask (size x size bool).

    ``cracked=False`` gives the same kind of surface, pores and stains, with no crack (an all-False mask).
    """
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    size = int(size)
    lum = _surface(rng, size)
    lum *= _stains(rng, size)
    pore_dark, rim = _pores(rng, size)
    lum *= (1.0 + rim) * (1.0 - pore_dark)

    mask = np.zeros((size, size), bool)
    if cracked:
        blur = rng.uniform(0.45, 0.8)
        depth = rng.uniform(0.45, 0.8)
        for _ in range(20):  # redraw a crack that ended up (almost) outside the frame
            cov = _render(_crack_paths(rng, size), size, blur)
            mask = cov >= MASK_COVERAGE
            if mask.sum() >= 0.1 * size:
                break
        # wider parts look deeper: darken by up to `depth`, a bit less where the crack is thin
        lum *= 1.0 - depth * cov

    lum *= _lighting(rng, size)
    tint = 1.0 + rng.normal(0, 0.02, 3) + rng.uniform(-0.04, 0.04) * np.array([1.0, 0.0, -1.0])  # warm or cool grey
    rgb = cv2.merge([lum * np.float32(t) for t in tint])
    return cv2.convertScaleAbs(rgb), mask  # rounds and saturates to 0..255


def _write_png(path: Path, array: np.ndarray) -> None:
    """Atomic PNG write through OpenCV with the RLE strategy.

    Written here rather than with ``crackscope.io.write_image_atomic`` (PIL) for speed: PIL's default
    deflate takes 3-7x longer on noisy texture (about 15-40 ms per 256 px image here), and RLE files are
    smaller too. ``array`` is BGR or single-channel uint8.
    """
    from crackscope.io import atomic_path

    ok, data = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, 3])
    if not ok:  # pragma: no cover - OpenCV only fails here on invalid arrays
        raise ValueError(f"could not encode {path.name} as PNG")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())


def _is_cracked(i: int, crack_fraction: float) -> bool:
    """Exactly ``crack_fraction`` of every prefix of the image sequence is cracked (deterministic per index)."""
    return math.floor((i + 1) * crack_fraction + 1e-9) > math.floor(i * crack_fraction + 1e-9)


def synthesize(
    out: str | Path,
    *,
    n: int,
    size: int = 256,
    seed: int = 0,
    crack_fraction: float = 0.5,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write ``n`` images to OUT/images, exact 0/255 masks to OUT/masks and OUT/labels.csv (filename,class).

    Image ``i`` depends only on ``(seed, i)``. ``crack_fraction`` of the images get cracks (interleaved);
    the class in labels.csv follows the mask. ``progress(done)`` is called after each image.
    """
    from crackscope.io import write_text_atomic

    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if not 0.0 <= crack_fraction <= 1.0:
        raise ValueError(f"crack_fraction must be in [0, 1], got {crack_fraction}")
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        img, mask = generate_pair(rng, size, cracked=_is_cracked(i, crack_fraction))
        name = f"synth_{i:05d}.png"
        _write_png(out / "images" / name, cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        _write_png(out / "masks" / name, mask.astype(np.uint8) * 255)
        rows.append((name, "cracked" if mask.any() else "uncracked"))
        if progress is not None:
            progress(i + 1)
    lines = ["filename,class"] + [f"{name},{cls}" for name, cls in rows]
    write_text_atomic(out / "labels.csv", "\n".join(lines) + "\n")
    return out
