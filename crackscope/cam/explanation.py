"""The result of explaining a batch: raw and normalised maps, predictions, flags; saving them to a folder."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

NORMALISE = ("image", "batch", "none")
ALL_ZERO = "all-zero"
NON_FINITE = "non-finite"


@dataclass(frozen=True)
class OverlayStyle:
    """How a map is drawn over its image: overlay opacity, colormap, and whether the three-panel figure is made.

    Checked once, when made.

    Attributes
    ----------
    alpha : float
        Opacity of the map in the overlay, 0..1.
    colormap : str
        A matplotlib colormap name (``jet``, ``turbo``, ``inferno``...).
    panels : bool
        Also write ``<stem>_panel.png`` (original, map with colour bar, overlay).
    """

    alpha: float = 0.5
    colormap: str = "jet"
    panels: bool = True

    def __post_init__(self) -> None:
        """Check the opacity and the colormap.

        Raises
        ------
        ValueError
            If ``alpha`` is outside [0, 1] or ``colormap`` is no matplotlib colormap; the message names the field.
        """
        from crackscope.cam.overlay import check_colormap

        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        check_colormap(self.colormap)


def flag_maps(maps: Tensor) -> tuple[tuple[str, ...], ...]:
    """Per map: ``"non-finite"`` if any value is NaN/inf, ``"all-zero"`` if it holds no positive evidence."""
    flat = maps.reshape(maps.shape[0], -1)
    finite = torch.isfinite(flat).all(1).tolist()
    peak = torch.nan_to_num(flat, nan=0.0, posinf=0.0, neginf=0.0).amax(1).tolist()
    out = []
    for ok, top in zip(finite, peak, strict=True):
        flags = []
        if not ok:
            flags.append(NON_FINITE)
        if top <= 0:
            flags.append(ALL_ZERO)
        out.append(tuple(flags))
    return tuple(out)


def normalise_maps(
    maps: Tensor, *, how: str = "image", finite: bool | None = None, nonnegative: bool | None = None
) -> Tensor:
    """Scale maps to [0, 1] without ever flipping them.

    ``"image"``: min-max per map, ``"batch"``: one min-max over the whole batch (maps stay comparable),
    ``"none"``: unchanged. The lower end is ``min(0, map minimum)``, so for the ReLU'd maps of every method zero
    evidence stays 0 and a weak map stays weak relative to its own peak. Non-finite values become 0 (and the
    map is flagged by :func:`flag_maps`); an all-zero map stays all zero. ``finite=True`` / ``nonnegative=True``
    (known to the caller) skip the NaN scan / the minimum.
    """
    if how not in NORMALISE:
        raise ValueError(f"normalise must be one of {NORMALISE}, got {how!r}")
    clean = maps.float()
    if finite is not True:
        clean = torch.nan_to_num(clean, nan=0.0, posinf=0.0, neginf=0.0)
    if how == "none":
        return clean.clone() if clean is maps else clean
    shape = (-1,) + (1,) * (clean.ndim - 1)
    if how == "image":
        flat = clean.reshape(clean.shape[0], -1)
        hi = flat.amax(1).view(shape)
        lo = None if nonnegative else flat.amin(1).clamp(max=0.0).view(shape)
    else:
        hi = clean.amax()
        lo = None if nonnegative else clean.amin().clamp(max=0.0)
    span = hi if lo is None else hi - lo
    scale = torch.where(span > 0, 1.0 / torch.where(span > 0, span, torch.ones_like(span)), torch.zeros_like(span))
    return clean * scale if lo is None else (clean - lo) * scale


def display_map(raw: npt.NDArray[np.floating[Any]], *, scale: float | None) -> npt.NDArray[np.float32]:
    """A raw map as [0, 1] for drawing: divided by ``scale`` (its own peak when None), never flipped."""
    clean = np.nan_to_num(raw.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo = min(float(clean.min(initial=0.0)), 0.0)
    hi = float(clean.max(initial=0.0)) if scale is None else float(scale)
    if hi - lo <= 0:
        return np.zeros_like(clean)
    shown: npt.NDArray[np.float32] = np.clip((clean - lo) / (hi - lo), 0.0, 1.0)
    return shown


@dataclass(frozen=True)
class Explanation:
    """Maps for a batch of N images.

    ``maps`` (N,H,W) float32: raw maps at the model input resolution (bilinear upsampling of ``layer_maps``);
    ``normalised`` (N,H,W) float32 in [0,1] (``normalise="none"``: same as raw); ``logits``/``probabilities``
    (N,) of the crack class; ``flags`` per image (``"all-zero"``, ``"non-finite"``).
    """

    maps: np.ndarray
    normalised: np.ndarray
    logits: np.ndarray
    probabilities: np.ndarray
    method: str
    layer: str
    flags: tuple[tuple[str, ...], ...]
    target: str = "crack"
    normalise: str = "image"
    layer_maps: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.maps.shape[0])

    def save(
        self,
        out_dir: str | Path,
        images: Sequence[np.ndarray] | None = None,
        names: Sequence[str] | None = None,
        *,
        threshold: float = 0.5,
        style: OverlayStyle | None = None,
        settings: dict[str, Any] | None = None,
    ) -> list[Path]:
        """Write the maps, overlays and panels of the batch, ``predictions.csv`` and ``manifest.json``.

        Per image: ``<name>_map.npy`` (raw map, resized to the image's size when ``images`` are given, else at
        input resolution), and with ``images`` ``<name>_overlay.png`` and ``<name>_panel.png``.

        Parameters
        ----------
        out_dir : str or Path
            The folder to write (made if missing).
        images : sequence of ndarray or None
            The N images explained (H x W x 3 uint8 RGB, any size), for the overlays and panels.
        names : sequence of str or None
            N file names (default ``image_0000`` ...).
        threshold : float
            Crack probability from which ``predictions.csv`` says ``cracked``.
        style : OverlayStyle or None
            How overlays and panels are drawn (None: ``OverlayStyle()``).
        settings : dict or None
            More settings for ``manifest.json``.

        Returns
        -------
        list of Path
            The written files.

        Raises
        ------
        ValueError
            If ``names`` or ``images`` are not N long.
        """
        from crackscope.io import manifest, write_json_atomic

        style = OverlayStyle() if style is None else style

        out = Path(out_dir)
        n = len(self)
        names = list(names) if names is not None else [f"image_{i:04d}" for i in range(n)]
        if len(names) != n or (images is not None and len(images) != n):
            raise ValueError(f"need {n} names and images, got {len(names)} and {len(images or [])}")
        scale = _batch_scale(self.maps) if self.normalise == "batch" else None
        written: list[Path] = []
        rows = []
        for i in range(n):
            image = None if images is None else images[i]
            written += write_item(
                out,
                names[i],
                self.maps[i],
                image,
                scale=1.0 if self.normalise == "none" else scale,
                flags=self.flags[i],
                probability=float(self.probabilities[i]),
                style=style,
            )
            rows.append(prediction_row(names[i], float(self.probabilities[i]), threshold, self.flags[i]))
        written.append(write_predictions(out / "predictions.csv", rows))
        info = {"method": self.method, "layer": self.layer, "target": self.target, "normalise": self.normalise}
        info.update(settings or {})
        man = manifest(command="explain", inputs=names, settings=info)
        written.append(write_json_atomic(out / "manifest.json", man))
        return written


def _batch_scale(maps: npt.NDArray[np.floating[Any]]) -> float:
    clean = np.nan_to_num(maps, nan=0.0, posinf=0.0, neginf=0.0)
    return float(clean.max(initial=0.0))


#: how a photo was seen: whole, resized to the model input ("resized"), or in tiles as ``crackscope map`` sees it
VIEWS = ("resized", "tiles")


def prediction_row(
    name: str, probability: float, threshold: float, flags: Sequence[str], *, view: str = "resized"
) -> dict[str, str]:
    """One ``predictions.csv`` row; ``view`` is one of :data:`VIEWS`."""
    return {
        "filename": name,
        "class": "cracked" if probability >= threshold else "uncracked",
        "probability": f"{probability:.6f}",
        "flags": ";".join(flags),
        "view": view,
    }


def write_predictions(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    """``filename,class,probability,flags,view`` (flags joined by ';'), written atomically."""
    from crackscope.io import write_text_atomic

    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=["filename", "class", "probability", "flags", "view"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue())


def write_item(
    out: Path,
    name: str,
    raw: npt.NDArray[np.floating[Any]],
    image: npt.NDArray[np.uint8] | None,
    *,
    scale: float | None,
    flags: Sequence[str],
    probability: float,
    style: OverlayStyle | None,
) -> list[Path]:
    """Write one image's raw map and, with a ``style`` and an image, its overlay and three-panel figure.

    Parameters
    ----------
    out : Path
        The folder to write (made if missing).
    name : str
        The image's file name; its stem names the outputs.
    raw : ndarray
        The raw map (H x W float); written to ``<stem>_map.npy`` as float32, resized to the image's size when
        ``image`` is given.
    image : ndarray or None
        The image explained (H x W x 3 uint8 RGB).
    scale : float or None
        The map value drawn as 1 (None: the map's own peak).
    flags : sequence of str
        The map's flags (``"all-zero"``, ``"non-finite"``): a flagged map is drawn as a note, not a colour wash.
    probability : float
        The image's crack probability, for the panel's title.
    style : OverlayStyle or None
        How the overlay (``<stem>_overlay.png``) and panel (``<stem>_panel.png``) are drawn; None writes the map
        only (its drawing waits, for example, for a common scale).

    Returns
    -------
    list of Path
        The written files.

    Raises
    ------
    ValueError
        If ``image`` is not H x W x 3 uint8.
    """
    from crackscope.cam.overlay import overlay, resize_map, save_panel
    from crackscope.io import atomic_path, write_image_atomic

    out.mkdir(parents=True, exist_ok=True)
    stem = Path(name).stem
    if image is not None:
        raw = resize_map(raw, image.shape[:2])
    written: list[Path] = []
    npy = out / f"{stem}_map.npy"
    with atomic_path(npy) as tmp, open(tmp, "wb") as fh:
        np.save(fh, raw.astype(np.float32))
    written.append(npy)
    if image is None or style is None:
        return written
    shown = display_map(raw, scale=scale)
    blended = overlay(image, shown, alpha=style.alpha, colormap=style.colormap, flags=flags)
    written.append(write_image_atomic(out / f"{stem}_overlay.png", blended))
    if style.panels:
        written.append(
            save_panel(
                out / f"{stem}_panel.png",
                image,
                shown,
                blended,
                title=_title(name, probability, flags),
                colormap=style.colormap,
                flags=flags,
            )
        )
    return written


def _title(name: str, probability: float, flags: Sequence[str]) -> str:
    note = f"  [{', '.join(flags)}: no evidence drawn]" if flags else ""
    return f"{name}  p(crack)={probability:.3f}{note}"
