"""Drawing maps: colormap (RGB order), overlay with adjustable alpha, the study's three-panel figure."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt


@lru_cache(maxsize=8)
def _lut(colormap: str) -> npt.NDArray[np.uint8]:
    # matplotlib colormaps are RGB by construction (OpenCV's applyColorMap returns BGR, a classic trap).
    from matplotlib import colormaps

    if colormap not in colormaps:
        raise ValueError(f"colormap must be a matplotlib colormap (jet, turbo, inferno...), got {colormap!r}")
    table: npt.NDArray[np.uint8] = (
        (colormaps[colormap](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).round().astype(np.uint8)
    )
    return table


def check_colormap(colormap: str) -> None:
    """Check that ``colormap`` names a matplotlib colormap.

    Parameters
    ----------
    colormap : str
        The name (``jet``, ``turbo``, ``inferno``...).

    Raises
    ------
    ValueError
        If matplotlib has no colormap of that name.
    """
    _lut(colormap)


def colorize(values: np.ndarray, *, colormap: str = "jet") -> npt.NDArray[np.uint8]:
    """HxW values in [0, 1] -> HxWx3 uint8 RGB."""
    idx = np.clip(np.nan_to_num(values, nan=0.0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    colours: npt.NDArray[np.uint8] = _lut(colormap)[idx]
    return colours


def resize_map(raw: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float map to ``shape`` (H, W)."""
    if raw.shape == tuple(shape):
        return raw.astype(np.float32, copy=False)
    return cv2.resize(raw.astype(np.float32), (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)


def overlay(
    image: np.ndarray,
    shown: np.ndarray,
    *,
    alpha: float = 0.5,
    colormap: str = "jet",
    flags: Sequence[str] = (),
) -> np.ndarray:
    """Blend a [0,1] map (resized to the image) over an RGB image. A flagged map (all zero / not finite) is not
    drawn as a black or blue wash: the image is shown with a visible "no evidence" note instead."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("image must be HxWx3 uint8 RGB")
    if flags:
        return _note(image.copy(), "no evidence: " + ", ".join(flags))
    heat = colorize(resize_map(shown, image.shape[:2]), colormap=colormap).astype(np.float32)
    out = (1.0 - alpha) * image.astype(np.float32) + alpha * heat
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _note(image: np.ndarray, text: str) -> np.ndarray:
    h, w = image.shape[:2]
    scale = max(0.3, min(w, h) / 400.0)
    thickness = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    cv2.rectangle(image, (0, 0), (min(w - 1, tw + 6), min(h - 1, th + base + 6)), (0, 0, 0), -1)
    cv2.putText(image, text, (3, th + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 220, 0), thickness, cv2.LINE_AA)
    return image


def save_panel(
    path: str | Path,
    image: np.ndarray,
    shown: np.ndarray,
    blended: np.ndarray,
    *,
    title: str = "",
    colormap: str = "jet",
    flags: Sequence[str] = (),
) -> Path:
    """The study's three panels side by side: original, map (with colour bar), overlay (matplotlib, Agg).
    A flagged map is not drawn as a uniform colour field: its panel says "no evidence" and why."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from crackscope.io import atomic_path

    fig = Figure(figsize=(10.5, 3.8), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    axes[0].imshow(image)
    axes[0].set_title("original")
    if flags:
        axes[1].imshow(np.full(image.shape[:2], 0.85), cmap="gray", vmin=0.0, vmax=1.0)
        axes[1].text(
            0.5,
            0.5,
            "no evidence\n(" + ", ".join(flags) + ")",
            ha="center",
            va="center",
            color="darkorange",
            fontsize=12,
            transform=axes[1].transAxes,
        )
    else:
        im = axes[1].imshow(resize_map(shown, image.shape[:2]), cmap=colormap, vmin=0.0, vmax=1.0)
        fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.04)
    axes[1].set_title("map")
    axes[2].imshow(blended)
    axes[2].set_title("overlay")
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9, color="darkorange" if "no evidence" in title else "black")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
