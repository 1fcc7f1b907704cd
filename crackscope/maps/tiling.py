"""Tiling a whole photo into overlapping model-sized tiles and blending per-tile maps back smoothly.

Each tile's map is multiplied by a 2-D Hann (cosine) window before it is added into a full-size float32
accumulator, and the window itself into a full-size float32 weight buffer; the blended map is their ratio.
Overlapping tiles thus cross-fade instead of leaving seams, and where only one tile covers a pixel (the
photo's border) the ratio is that tile's value exactly. The window is floored at ``WINDOW_FLOOR`` so the
weight is never zero. Only these two float32 buffers are full-size, so memory grows as 8 bytes per pixel
(about 100 MB for a 4032x3024 photo) whatever the number of tiles.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

import numpy as np

WINDOW_FLOOR = 1e-3
T = TypeVar("T")


def axis_starts(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets of tiles of ``tile`` px covering ``length`` px with at most ``stride`` px between starts.

    The first tile starts at 0 and the last ends exactly at ``length`` (starts are spread evenly between),
    so no tile reaches past the photo. A length shorter than the tile gives one tile at 0 (pad the photo).
    """
    if tile < 1 or stride < 1:
        raise ValueError(f"tile and stride must be positive, got {tile} and {stride}")
    if length <= tile:
        return [0]
    n = int(np.ceil((length - tile) / stride)) + 1
    return [round(s) for s in np.linspace(0, length - tile, n)]


def tile_grid(height: int, width: int, *, tile: int, overlap: float = 0.25) -> list[tuple[int, int]]:
    """(y0, x0) of every tile, row by row; neighbouring tiles share at least ``overlap`` of a tile."""
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    stride = max(1, round(tile * (1 - overlap)))
    return [(y, x) for y in axis_starts(height, tile, stride) for x in axis_starts(width, tile, stride)]


def hann_window(size: int) -> np.ndarray:
    """A size x size float32 2-D Hann window, 1 at the centre, floored at ``WINDOW_FLOOR`` at the edges."""
    if size < 1:
        raise ValueError(f"window size must be positive, got {size}")
    t = (np.arange(size, dtype=np.float64) + 0.5) / size
    w1 = np.sin(np.pi * t) ** 2
    return np.maximum(np.outer(w1, w1), WINDOW_FLOOR).astype(np.float32)


def pad_to_tile(image: np.ndarray, tile: int) -> np.ndarray:
    """Mirror-pad an image (HxW or HxWxC) at the bottom and right so both sides are at least ``tile`` px."""
    h, w = image.shape[:2]
    ph, pw = max(0, tile - h), max(0, tile - w)
    if ph == 0 and pw == 0:
        return image
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, mode="symmetric")


class BlendAccumulator:
    """Accumulates window-weighted tile maps into two full-size float32 buffers (sum and weight).

    ``channels=None`` blends HxW maps; ``channels=C`` blends HxWxC tiles (e.g. restored RGB tiles).
    """

    def __init__(self, height: int, width: int, tile: int, *, channels: int | None = None) -> None:
        if height < 1 or width < 1:
            raise ValueError(f"accumulator size must be positive, got {height}x{width}")
        if channels is not None and channels < 1:
            raise ValueError(f"channels must be positive, got {channels}")
        self.shape = (height, width) if channels is None else (height, width, channels)
        self.tile = tile
        self.window = hann_window(tile) if channels is None else hann_window(tile)[..., None]
        self.total = np.zeros(self.shape, np.float32)
        self.weight = np.zeros(self.shape[:2] + (() if channels is None else (1,)), np.float32)

    def add(self, y0: int, x0: int, values: np.ndarray) -> None:
        """Add one tile's map (tile x tile [x C]) whose top-left corner is at (y0, x0); parts outside are dropped."""
        expected = (self.tile, self.tile, *self.shape[2:])
        if values.shape != expected:
            raise ValueError(f"tile map must be {'x'.join(map(str, expected))}, got {values.shape}")
        h = min(self.tile, self.shape[0] - y0)
        w = min(self.tile, self.shape[1] - x0)
        win = self.window[:h, :w]
        self.total[y0 : y0 + h, x0 : x0 + w] += win * values[:h, :w]
        self.weight[y0 : y0 + h, x0 : x0 + w] += win

    def result(self) -> np.ndarray:
        """The blended map (float32); pixels no tile covered are 0."""
        out = np.zeros(self.shape, np.float32)
        np.divide(self.total, self.weight, out=out, where=np.broadcast_to(self.weight > 0, self.shape))
        return out


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive chunks of at most ``size`` items."""
    if size < 1:
        raise ValueError(f"batch size must be positive, got {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def balanced_chunks(items: Sequence[T], max_size: int) -> list[Sequence[T]]:
    """Split ``items`` into the fewest chunks of at most ``max_size``, sizes differing by at most one (so no
    tile is normalised with the statistics of a tiny last batch)."""
    if max_size < 1:
        raise ValueError(f"max_size must be positive, got {max_size}")
    n = len(items)
    k = -(-n // max_size) if n else 0
    bounds = [i * n // k for i in range(k + 1)] if k else [0]
    return [items[bounds[i] : bounds[i + 1]] for i in range(k)]
