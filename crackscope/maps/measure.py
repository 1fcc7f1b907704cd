"""Per-crack measurements from a binary mask: length, width, orientation, bounding box and area.

Each crack is the mask's 8-connected pieces less than ``2 * CRACK_LINK_PX + 1`` px apart (a crack the mask shows
with small gaps is one crack, as a reader of the photo counts it); its ``id`` is its label in
``crackscope.maps.postprocess.label_cracks(mask, connectivity=2, link=CRACK_LINK_PX)`` (1..n in raster order), so
the pixels of a measured crack can be recovered as ``labels == m.id``. ``measure_cracks(mask, link=0)`` measures
every 8-connected piece on its own.

Conventions (all in pixels of the input mask; multiplied by ``mm_per_px`` for the millimetre fields):

- **length**: along the skeleton. Each link between neighbouring skeleton pixels counts 1 (edge neighbours)
  or sqrt(2) (diagonal neighbours; a diagonal link is skipped when an edge-neighbour path joins the same two
  pixels, so corners are not counted twice). Plain 1/sqrt(2) step counting overestimates staircase lines (up
  to 8 % at about 22 degrees), so each *corner* (a skeleton pixel with one edge and one diagonal link) takes
  off ``CORNER_WEIGHT`` = 0.089 px; this keeps exact lengths at 0 and 45 degrees and leaves at most about 3 %
  error at other angles (measured on digital segments 1-7 px wide at 0-90 degrees). Skeletonisation eats
  the crack's ends, so each skeleton end is extended: an end reached along the horizontal or the vertical by
  the mask pixels beyond it in that direction plus half a pixel, an end reached diagonally (the forked ends of
  wide cracks) by its distance to the crack boundary (``d - 0.5``); a crack whose skeleton is a single pixel
  measures its longest run of pixels through it (horizontal, vertical or diagonal).
  A straight 100 px line measures 100 (+-1), a single pixel measures 1.
- **width** at a skeleton pixel ``p``, with ``d`` the Euclidean distance transform (pixel centre to the nearest
  background pixel centre): ``d(p)`` plus the larger ``d`` of the two neighbours across ``p`` (on the
  horizontal, vertical or diagonal axes whose two neighbours are both off the skeleton; the largest such
  value). On a centred skeleton of an odd-width line this is the usual ``2 d - 1`` (3 px wide -> 3.0), and it
  also gets even widths right (a 4 px line's skeleton sits off-centre, where ``2 d - 1`` says 3). Where no
  axis is free (junctions) it is ``2 d - 1``. ``mean_width`` / ``max_width`` are over the crack's skeleton.
- **image border**: outside the image a crack is assumed to continue as its mirror image, so a crack that
  leaves the image gets no end correction there and its length stops at the border.
- **orientation**: angle of the principal axis of the skeleton pixel coordinates, in degrees in [-90, 90),
  0 = horizontal, counter-clockwise positive as seen on screen (a crack rising to the right is +45, one
  falling to the right is -45, a vertical one is -90). A single pixel has orientation 0.
- **bbox**: ``(y0, x0, y1, x1)`` with exclusive ends, like Python slices (``mask[y0:y1, x0:x1]``).
- **area**: number of pixels.

The headline of a photo or a batch (the number of cracks, their total length, the largest and the mean width)
is :func:`summarize_cracks` of the measurements, and :func:`combine_summaries` of the photos' headlines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

import cv2
import numpy as np
from scipy import ndimage

from crackscope.maps.postprocess import label_cracks, skeletonize_mask

_SQRT2 = math.sqrt(2.0)
# (dy, dx) of the 8 neighbours.
CORNER_WEIGHT = 0.089
#: pieces of a mask closer than ``2 * CRACK_LINK_PX + 1`` px count as one crack (``label_cracks(link=...)``): chosen
#: by ``benchmarks/bench_crack_count.py`` on 55 DeepCrack training photos, the gap at which the bundled run's maps and
#: the true masks, counted by the same rule, hold the same number of cracks
CRACK_LINK_PX = 3
_BORDER_PAD = 16  # pixels of mirrored mask around the image (covers cracks up to ~30 px wide)
_OFFSETS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


@dataclass(frozen=True)
class CrackMeasurement:
    """Size and shape of one crack (one 8-connected component of a mask)."""

    id: int
    length_px: float
    mean_width_px: float
    max_width_px: float
    orientation_deg: float
    bbox: tuple[int, int, int, int]
    area_px: int
    length_mm: float | None = None
    mean_width_mm: float | None = None
    max_width_mm: float | None = None
    area_mm2: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (bbox as a list) for CSV/JSON."""
        data = asdict(self)
        data["bbox"] = list(self.bbox)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrackMeasurement:
        """The measurement :meth:`as_dict` wrote (a record's ``cracks`` entry); other keys are ignored.

        Raises
        ------
        KeyError
            If a field without a default (``id``, the pixel measures, ``bbox``) is missing.
        """
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["bbox"] = tuple(int(v) for v in data["bbox"])
        return cls(**values)


@dataclass(frozen=True)
class CrackSummary:
    """The headline of one photo or of a batch: how many cracks, how long in all, how wide.

    ``total_length_*`` is the sum of the cracks' lengths, ``max_width_*`` the largest width of any crack,
    ``mean_width_*`` the length-weighted mean of the cracks' mean widths (a long crack counts more than a
    speck), all 0 without cracks. The millimetre fields are None unless a scale was given (for a batch: unless
    every photo had one). ``n_photos`` is 1 for a photo, the number of photos for a batch.
    """

    n_cracks: int
    total_length_px: float
    max_width_px: float
    mean_width_px: float
    total_length_mm: float | None = None
    max_width_mm: float | None = None
    mean_width_mm: float | None = None
    n_photos: int = 1

    @property
    def unit(self) -> str:
        """``"mm"`` when the millimetre fields are set, else ``"px"``."""
        return "px" if self.total_length_mm is None else "mm"

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON, with the ``unit``."""
        return {**asdict(self), "unit": self.unit}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrackSummary:
        """The summary :meth:`as_dict` wrote (its derived ``unit`` is left out).

        Examples
        --------
        >>> one = CrackSummary(2, 40.0, 5.0, 2.5)
        >>> CrackSummary.from_dict(one.as_dict()) == one
        True
        """
        return cls(**{k: v for k, v in data.items() if k != "unit"})


def summarize_cracks(cracks: Iterable[CrackMeasurement], *, mm_per_px: float | None = None) -> CrackSummary:
    """The headline of one photo's measured cracks (see :class:`CrackSummary`).

    With ``mm_per_px`` the millimetre fields are the sums and maxima of the cracks' own millimetre values (a
    crack measured without a scale is converted with ``mm_per_px``), so they equal what ``cracks.csv`` adds up to.

    Raises
    ------
    ValueError
        If ``mm_per_px`` is given and not a positive finite number.

    Examples
    --------
    >>> a = CrackMeasurement(1, 30.0, 2.0, 3.0, 0.0, (0, 0, 2, 30), 60)
    >>> b = CrackMeasurement(2, 10.0, 4.0, 5.0, 90.0, (5, 5, 15, 9), 40)
    >>> s = summarize_cracks([a, b], mm_per_px=0.5)
    >>> s.n_cracks, s.total_length_px, s.max_width_px, s.mean_width_px, s.total_length_mm, s.unit
    (2, 40.0, 5.0, 2.5, 20.0, 'mm')
    """
    if mm_per_px is not None and not (math.isfinite(mm_per_px) and mm_per_px > 0):
        raise ValueError(f"mm_per_px must be a positive number, got {mm_per_px}")
    cracks = list(cracks)
    length = sum(c.length_px for c in cracks)
    weighted = sum(c.mean_width_px * c.length_px for c in cracks)
    summary = CrackSummary(
        n_cracks=len(cracks),
        total_length_px=float(length),
        max_width_px=float(max((c.max_width_px for c in cracks), default=0.0)),
        mean_width_px=float(weighted / length) if length > 0 else 0.0,
    )
    if mm_per_px is None:
        return summary

    def mm(value: float | None, px: float, power: int = 1) -> float:
        return float(value) if value is not None else px * mm_per_px**power

    length_mm = sum(mm(c.length_mm, c.length_px) for c in cracks)
    weighted_mm = sum(mm(c.mean_width_mm, c.mean_width_px) * mm(c.length_mm, c.length_px) for c in cracks)
    return CrackSummary(
        n_cracks=summary.n_cracks,
        total_length_px=summary.total_length_px,
        max_width_px=summary.max_width_px,
        mean_width_px=summary.mean_width_px,
        total_length_mm=float(length_mm),
        max_width_mm=float(max((mm(c.max_width_mm, c.max_width_px) for c in cracks), default=0.0)),
        mean_width_mm=float(weighted_mm / length_mm) if length_mm > 0 else 0.0,
    )


def combine_summaries(summaries: Iterable[CrackSummary]) -> CrackSummary:
    """The headline of a batch from its photos' headlines: counts and lengths add up, the largest width is the
    largest of all, the mean width is weighted by length; millimetres only when every photo has them.

    Examples
    --------
    >>> one = CrackSummary(2, 40.0, 5.0, 2.5)
    >>> two = CrackSummary(1, 60.0, 3.0, 3.0)
    >>> b = combine_summaries([one, two])
    >>> b.n_photos, b.n_cracks, b.total_length_px, b.max_width_px, b.mean_width_px, b.unit
    (2, 3, 100.0, 5.0, 2.8, 'px')
    """
    items = list(summaries)
    length = sum(s.total_length_px for s in items)
    weighted = sum(s.mean_width_px * s.total_length_px for s in items)
    px = CrackSummary(
        n_cracks=sum(s.n_cracks for s in items),
        total_length_px=float(length),
        max_width_px=float(max((s.max_width_px for s in items), default=0.0)),
        mean_width_px=float(weighted / length) if length > 0 else 0.0,
        n_photos=sum(s.n_photos for s in items),
    )
    with_mm = [s for s in items if s.total_length_mm is not None]
    if not items or len(with_mm) < len(items):
        return px
    length_mm = sum(s.total_length_mm or 0.0 for s in with_mm)
    weighted_mm = sum((s.mean_width_mm or 0.0) * (s.total_length_mm or 0.0) for s in with_mm)
    return CrackSummary(
        n_cracks=px.n_cracks,
        total_length_px=px.total_length_px,
        max_width_px=px.max_width_px,
        mean_width_px=px.mean_width_px,
        total_length_mm=float(length_mm),
        max_width_mm=float(max(s.max_width_mm or 0.0 for s in with_mm)),
        mean_width_mm=float(weighted_mm / length_mm) if length_mm > 0 else 0.0,
        n_photos=px.n_photos,
    )


def _exact(distances: np.ndarray) -> np.ndarray:
    """OpenCV's float32 distances as the exact values they stand for, in float64: each is the root of a whole
    number of squared pixels, returned with run-to-run rounding noise (threads). Applied to the distances read,
    not to the whole map (on a 13 MP mask that took 0.4 s)."""
    return np.sqrt(np.rint(np.asarray(distances, np.float64) ** 2))


def _tip_extension(
    mask_pad: np.ndarray, skel_pad: np.ndarray, depth: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """How far the crack goes on beyond each skeleton end (a skeleton pixel with one neighbour), in px.

    An end reached along the horizontal or the vertical goes on over the mask pixels met stepping on in that
    direction, plus half of the end pixel: skeletonisation eats a crack's ends unevenly (a vertical 2 px bar
    loses a pixel at each end, a horizontal one does not), and the mask says where the crack stops. An end
    reached diagonally (the forked ends of wide cracks) goes on by its distance to the boundary, ``d - 0.5``
    (``depth``: each end's distance ``d``).
    """
    out = np.zeros(rows.size)
    for i, (y, x) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        edge = next(((oy, ox) for oy, ox in _OFFSETS if (oy == 0 or ox == 0) and skel_pad[y + oy, x + ox]), None)
        if edge is None:
            out[i] = depth[i] - 0.5
        else:
            out[i] = _run(mask_pad, y, x, -edge[0], -edge[1]) + 0.5
    return out


def _chord(mask_pad: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """For a crack whose skeleton is one pixel (a short crack): its longest run of mask pixels through that
    pixel along the horizontal, the vertical or a diagonal, in px (a single pixel: 1)."""
    out = np.ones(rows.size)
    for i, (y, x) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
            run = _run(mask_pad, y, x, dy, dx) + _run(mask_pad, y, x, -dy, -dx)
            out[i] = max(out[i], run * (_SQRT2 if dy and dx else 1.0) + 1.0)
    return out


def _run(mask_pad: np.ndarray, y: int, x: int, dy: int, dx: int) -> int:
    """Mask pixels met stepping from (y, x) by (dy, dx), up to the first background pixel or the edge."""
    h, w = mask_pad.shape
    k = 1
    while 0 <= y + k * dy < h and 0 <= x + k * dx < w and mask_pad[y + k * dy, x + k * dx]:
        k += 1
    return k - 1


def _links(skel_pad: np.ndarray, rows: np.ndarray, cols: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """For skeleton pixels at padded (rows, cols): is there a counted link to the neighbour at (dy, dx)?"""
    linked = skel_pad[rows + dy, cols + dx]
    if dy and dx:  # diagonal: only when no edge-neighbour path joins the two pixels
        linked = linked & ~skel_pad[rows + dy, cols] & ~skel_pad[rows, cols + dx]
    return np.asarray(linked)


def measure_cracks(
    mask: np.ndarray,
    *,
    mm_per_px: float | None = None,
    min_length_px: float = 0,
    link: int = CRACK_LINK_PX,
    labels: tuple[np.ndarray, int] | None = None,
) -> list[CrackMeasurement]:
    """Measure every crack in ``mask`` (HxW, crack = True/nonzero): its pieces less than ``2 * link + 1`` px apart
    (``label_cracks``; 0: each 8-connected piece); see the module doc. ``labels``: ``label_cracks(mask,
    link=link)`` when the caller has it already (as ``map`` has, to number the overlay), not computed again.

    Cracks shorter than ``min_length_px`` are left out. Returns the measurements in label order.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be a 2-D array (H, W), got shape {mask.shape}")
    mask = mask if mask.dtype == bool else mask != 0
    if mm_per_px is not None:
        mm_per_px = float(mm_per_px)
        if not (math.isfinite(mm_per_px) and mm_per_px > 0):
            raise ValueError(f"mm_per_px must be a positive number, got {mm_per_px}")
    if not math.isfinite(float(min_length_px)) or min_length_px < 0:
        raise ValueError(f"min_length_px must be >= 0, got {min_length_px}")
    if not mask.any():
        return []

    crack_labels, n = label_cracks(mask, connectivity=2, link=link) if labels is None else labels
    if crack_labels.shape != mask.shape:
        raise ValueError(f"labels of shape {crack_labels.shape} for a mask of shape {mask.shape}")
    height, width_ = mask.shape
    # Outside the image a crack is assumed to go on as its mirror image, so a crack leaving the image
    # is neither thinned nor given an end there; one more ring of background keeps the distances finite.
    pad = _BORDER_PAD + 1
    # (a single row or column cannot be mirrored: its border counts as background)
    mirrored = np.pad(np.pad(mask, _BORDER_PAD, mode="reflect"), 1) if min(mask.shape) > 1 else np.pad(mask, pad)
    # the exact Euclidean distance to the nearest background pixel: OpenCV's DIST_MASK_PRECISE equals scipy's
    # distance_transform_edt (to 1e-7) and takes 0.08 s instead of 1.6 s on a 13 MP mask
    dist_pad = cv2.distanceTransform(mirrored.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    skel_pad = skeletonize_mask(mirrored)
    inside = np.zeros(mirrored.shape, bool)
    inside[pad : pad + height, pad : pad + width_] = True
    skel_in = skel_pad & inside
    # skeletonize keeps every component, but one touching the border may keep its skeleton in the mirror:
    # such a component gets its deepest pixel.
    pieces, n_pieces = (crack_labels, n) if link == 0 else label_cracks(mask, connectivity=2)
    has_skel = np.zeros(n_pieces + 1, bool)
    has_skel[pieces[skel_in[pad : pad + height, pad : pad + width_]]] = True
    missing = np.flatnonzero(~has_skel[1:]) + 1
    if missing.size:
        depth = _exact(dist_pad[pad : pad + height, pad : pad + width_])
        for y, x in ndimage.maximum_position(depth, pieces, missing):
            skel_pad[y + pad, x + pad] = skel_in[y + pad, x + pad] = True

    rows, cols = np.nonzero(skel_in)
    lab = crack_labels[rows - pad, cols - pad]

    # Length: every link seen from both ends at half weight; a link leaving the image is seen once (half of it
    # lies inside). Ends (degree 1) extend by d - 0.5; an isolated pixel is both ends.
    length = np.zeros(n + 1)
    degree = np.zeros(rows.size, np.int64)
    diagonal_links = np.zeros(rows.size, np.int64)
    for dy, dx in _OFFSETS:
        linked = _links(skel_pad, rows, cols, dy, dx)
        degree += linked
        if dy and dx:
            diagonal_links += linked
        length += np.bincount(lab[linked], minlength=n + 1) * (0.5 * _SQRT2 if dy and dx else 0.5)
    d_here = _exact(dist_pad[rows, cols])
    isolated = np.flatnonzero(degree == 0)
    length += np.bincount(lab[isolated], weights=_chord(mirrored, rows[isolated], cols[isolated]), minlength=n + 1)
    tips = np.flatnonzero(degree == 1)
    length += np.bincount(
        lab[tips], weights=_tip_extension(mirrored, skel_pad, d_here[tips], rows[tips], cols[tips]), minlength=n + 1
    )
    corners = (degree == 2) & (diagonal_links == 1)
    length -= CORNER_WEIGHT * np.bincount(lab[corners], minlength=n + 1)

    # Width: d(p) plus the deeper of the two neighbours across p, on the axes (horizontal, vertical,
    # diagonals) where neither neighbour is on the skeleton; 2 d - 1 where no axis is free (junctions).
    across = np.full(rows.size, -1.0)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        free = ~skel_pad[rows + dy, cols + dx] & ~skel_pad[rows - dy, cols - dx]
        deeper = np.maximum(_exact(dist_pad[rows + dy, cols + dx]), _exact(dist_pad[rows - dy, cols - dx]))
        across = np.where(free, np.maximum(across, deeper), across)
    width = d_here + np.where(across >= 0, across, d_here - 1.0)
    count = np.bincount(lab, minlength=n + 1)
    mean_width = np.bincount(lab, weights=width, minlength=n + 1) / np.maximum(count, 1)
    max_width = np.zeros(n + 1)
    np.maximum.at(max_width, lab, width)

    # Orientation: principal axis of (x, y-up) skeleton coordinates.
    x = (cols - pad).astype(np.float64)
    y = -(rows - pad).astype(np.float64)
    cnt = np.maximum(count, 1)
    mx = np.bincount(lab, weights=x, minlength=n + 1) / cnt
    my = np.bincount(lab, weights=y, minlength=n + 1) / cnt
    cxx = np.bincount(lab, weights=x * x, minlength=n + 1) / cnt - mx * mx
    cyy = np.bincount(lab, weights=y * y, minlength=n + 1) / cnt - my * my
    cxy = np.bincount(lab, weights=x * y, minlength=n + 1) / cnt - mx * my
    angle = 0.5 * np.degrees(np.arctan2(2.0 * cxy, cxx - cyy))  # in (-90, 90]
    angle = np.where(angle >= 90.0, angle - 180.0, angle)

    area = np.bincount(crack_labels[mask], minlength=n + 1)  # the crack pixels only, not the whole photo
    boxes = ndimage.find_objects(crack_labels)
    scale = mm_per_px
    out: list[CrackMeasurement] = []
    for k in range(1, n + 1):
        if length[k] < min_length_px:
            continue
        sy, sx = boxes[k - 1]
        a = float(angle[k]) if (cxx[k] + cyy[k]) > 1e-12 else 0.0
        out.append(
            CrackMeasurement(
                id=k,
                length_px=float(length[k]),
                mean_width_px=float(mean_width[k]),
                max_width_px=float(max_width[k]),
                orientation_deg=round(a, 6) + 0.0,
                bbox=(int(sy.start), int(sx.start), int(sy.stop), int(sx.stop)),
                area_px=int(area[k]),
                length_mm=None if scale is None else float(length[k]) * scale,
                mean_width_mm=None if scale is None else float(mean_width[k]) * scale,
                max_width_mm=None if scale is None else float(max_width[k]) * scale,
                area_mm2=None if scale is None else float(area[k]) * scale * scale,
            )
        )
    return out
