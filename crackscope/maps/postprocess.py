"""From a soft crack map to a clean binary mask: threshold, morphology, small-object removal, skeleton, labels.

Plain functions with keyword-only options, in the scikit-image style. Masks are HxW ``bool`` (True = crack);
any 2-D array is accepted as a mask and read as ``!= 0``. Nothing is changed in place.

Morphology runs through OpenCV with scikit-image's disk footprints: it gives the same results as
``skimage.morphology`` on binary masks but is several times faster on 12-megapixel phone photos. Pixels
outside the image are neutral (an all-crack mask survives erosion and opening unchanged).
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.morphology import disk, skeletonize

THRESHOLD_METHODS = ("otsu", "fixed", "percentile")


def _as_mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (H, W), got shape {mask.shape}")
    return mask if mask.dtype == bool else mask != 0


def _check_radius(radius: int) -> int:
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)):
        raise ValueError(f"radius must be a non-negative integer, got {radius!r}")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    return int(radius)


def threshold_map(prob: np.ndarray, *, method: str = "otsu", value: float | None = None) -> np.ndarray:
    """Binarise a soft map (any real 2-D array, usually probabilities in [0, 1]).

    ``method``:
      - ``"otsu"``: pixels strictly above Otsu's threshold; a constant map gives an empty mask.
      - ``"fixed"``: pixels ``>= value`` (``value`` required).
      - ``"percentile"``: pixels strictly above the ``value``-th percentile (``value`` in [0, 100] required),
        so ``value=95`` keeps about the top 5 %; a constant map gives an empty mask.
    """
    prob = np.asarray(prob)
    if prob.ndim != 2:
        raise ValueError(f"prob must be a 2-D array (H, W), got shape {prob.shape}")
    if prob.dtype == bool:
        prob = prob.astype(np.float32)
    if not np.issubdtype(prob.dtype, np.number):
        raise ValueError(f"prob must be numeric, got dtype {prob.dtype}")
    if prob.size and not np.isfinite(prob).all():
        raise ValueError("prob contains NaN or infinite values")
    if method not in THRESHOLD_METHODS:
        raise ValueError(f"unknown threshold method {method!r}; choose one of {', '.join(THRESHOLD_METHODS)}")
    if method == "otsu":
        if value is not None:
            raise ValueError("value is only used with method='fixed' or 'percentile'")
        if prob.size == 0 or prob.min() == prob.max():
            return np.zeros(prob.shape, bool)
        # Otsu's histogram spans the map's range; on a map whose range is below the resolution of its 256 bins
        # (a float32 map saturated near 1) numpy cannot make the bins, so the map is rescaled to [0, 1] first
        # (Otsu's choice does not change under an affine rescale)
        lo, hi = float(prob.min()), float(prob.max())
        scaled = (prob.astype(np.float64) - lo) / (hi - lo)
        return np.asarray(scaled > threshold_otsu(scaled), dtype=bool)
    if value is None:
        raise ValueError(f"method={method!r} needs a value")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"value must be finite, got {value}")
    if method == "fixed":
        return prob >= value
    if not 0.0 <= value <= 100.0:
        raise ValueError(f"percentile value must be in [0, 100], got {value}")
    if prob.size == 0:
        return np.zeros(prob.shape, bool)
    return np.asarray(prob > np.percentile(prob, value), dtype=bool)


def _morph(mask: np.ndarray, radius: int, op: int) -> np.ndarray:
    mask = _as_mask(mask)
    radius = _check_radius(radius)
    if radius == 0 or mask.size == 0:
        return mask.copy()
    kernel = disk(radius).astype(np.uint8)
    out = cv2.morphologyEx(np.ascontiguousarray(mask, dtype=np.uint8), op, kernel)
    return out.astype(bool)


def open_mask(mask: np.ndarray, *, radius: int = 1) -> np.ndarray:
    """Morphological opening with a disk of ``radius`` (removes specks and spurs thinner than the disk)."""
    return _morph(mask, radius, cv2.MORPH_OPEN)


def close_mask(mask: np.ndarray, *, radius: int = 1) -> np.ndarray:
    """Morphological closing with a disk of ``radius`` (bridges gaps narrower than the disk)."""
    return _morph(mask, radius, cv2.MORPH_CLOSE)


def dilate_mask(mask: np.ndarray, *, radius: int = 1) -> np.ndarray:
    """Dilation with a disk of ``radius``."""
    return _morph(mask, radius, cv2.MORPH_DILATE)


def erode_mask(mask: np.ndarray, *, radius: int = 1) -> np.ndarray:
    """Erosion with a disk of ``radius`` (pixels outside the image count as crack, so borders do not erode)."""
    return _morph(mask, radius, cv2.MORPH_ERODE)


def _structure(connectivity: int) -> np.ndarray:
    if connectivity not in (1, 2):
        raise ValueError(f"connectivity must be 1 (4-neighbours) or 2 (8-neighbours), got {connectivity!r}")
    return np.asarray(ndimage.generate_binary_structure(2, connectivity), dtype=bool)


def label_cracks(mask: np.ndarray, *, connectivity: int = 2, link: int = 0) -> tuple[np.ndarray, int]:
    """Split a mask into connected components: ``(labels int32 HxW with 0 = background, count)``.

    Labels are numbered 1..n in raster order of each component's first pixel. ``connectivity=2`` joins
    diagonal neighbours (8-connectivity), ``1`` only edge neighbours. ``link`` > 0 also joins pieces less than
    ``2 * link + 1`` px apart (those that touch once each is grown by a disk of radius ``link``): one crack the
    mask shows with small gaps is one label; only mask pixels are labelled.

    Raises
    ------
    ValueError
        If ``connectivity`` is not 1 or 2, or ``link`` is negative.

    Examples
    --------
    >>> row = np.array([[1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1]], bool)
    >>> label_cracks(row)[0].tolist(), label_cracks(row, link=1)[0].tolist()
    ([[1, 1, 0, 0, 2, 2, 0, 0, 0, 0, 0, 3]], [[1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 2]])
    """
    mask = _as_mask(mask)
    if isinstance(link, bool) or not isinstance(link, (int, np.integer)) or link < 0:
        raise ValueError(f"link must be a non-negative integer, got {link!r}")
    structure = _structure(connectivity)
    if link == 0 or not mask.any():
        labels, n = ndimage.label(mask, structure=structure)
        return labels.astype(np.int32, copy=False), int(n)
    grown = dilate_mask(mask, radius=int(link))
    groups, n_groups = ndimage.label(grown, structure=structure)
    labels = groups.astype(np.int32, copy=False)
    labels[~mask] = 0
    # raster order of each group's first *mask* pixel (a grown group can start earlier)
    ids, first = np.unique(labels.ravel()[mask.ravel()], return_index=True)
    order = ids[np.argsort(first)]
    if np.array_equal(order, np.arange(1, n_groups + 1)):
        return labels, int(n_groups)
    rank = np.zeros(int(n_groups) + 1, np.int32)
    rank[order] = np.arange(1, order.size + 1, dtype=np.int32)
    return rank[labels], int(order.size)


def remove_small(mask: np.ndarray, *, min_size: int, connectivity: int = 2) -> np.ndarray:
    """Drop connected components with fewer than ``min_size`` pixels (``min_size <= 1`` keeps everything)."""
    mask = _as_mask(mask)
    if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)) or min_size < 0:
        raise ValueError(f"min_size must be a non-negative integer, got {min_size!r}")
    if min_size <= 1 or not mask.any():
        return mask.copy()
    labels, stats = components(mask, connectivity=connectivity)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_size
    keep[0] = False
    return np.asarray(keep[labels], dtype=bool)


def skeletonize_mask(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide, 8-connected centre lines of the mask (topology kept: each component keeps a skeleton).

    The same skeleton as ``skimage.morphology.skeletonize`` of the whole mask, computed in each 8-connected
    component's bounding box: the thinning decides a pixel from its 3x3 neighbourhood, which never holds another
    component's pixel, so each component thins on its own. Its passes sweep every pixel of the array they get:
    on the sparse 13 MP mask of ``benchmarks/bench_mosaic.py`` the boxes hold a small part of the photo (0.09 s
    instead of 0.56 s for the two skeletons of a map).

    Examples
    --------
    >>> bar = np.zeros((5, 9), bool)
    >>> bar[1:4, 1:8] = True
    >>> int(skeletonize_mask(bar).sum()), bool(skeletonize_mask(bar)[3:].any())
    (6, False)
    """
    mask = _as_mask(mask)
    out = np.zeros(mask.shape, bool)
    if mask.any():
        labels, stats = components(mask)
        for box, skeleton in component_skeletons(labels, stats):
            out[box] |= skeleton
    return out


def components(mask: np.ndarray, *, connectivity: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The connected components of ``mask`` by OpenCV: ``(labels int32 HxW, stats)``, ``stats[i]`` the
    ``cv2.CC_STAT_*`` values of label ``i`` (0: the background). The same components as :func:`label_cracks`,
    numbered in another order: for uses where the numbers do not matter (sizes, lengths, which to keep);
    about 3x faster than scipy's labelling on a 13 MP mask.

    Raises
    ------
    ValueError
        If ``connectivity`` is not 1 (4-neighbours) or 2 (8-neighbours).
    """
    mask = _as_mask(mask)
    _structure(connectivity)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=4 if connectivity == 1 else 8, ltype=cv2.CV_32S
    )
    return labels, stats


def component_skeletons(labels: np.ndarray, stats: np.ndarray) -> Iterator[tuple[tuple[slice, slice], np.ndarray]]:
    """For each 8-connected component of :func:`components` (label order): its bounding box grown by 1 px (cut
    to the image) and the skeleton of that component alone in the box (bool; ``skimage.morphology.skeletonize``,
    see :func:`skeletonize_mask`)."""
    h, w = labels.shape
    for i in range(1, len(stats)):
        x, y, bw, bh = (int(v) for v in stats[i, :4])
        box = (slice(max(0, y - 1), min(h, y + bh + 1)), slice(max(0, x - 1), min(w, x + bw + 1)))
        yield box, np.asarray(skeletonize(labels[box] == i), dtype=bool)


def drop_border_artefacts(
    mask: np.ndarray,
    *,
    band: int | None = None,
    min_fraction: float = 0.5,
    min_aspect: float = 4.0,
    connectivity: int = 2,
) -> np.ndarray:
    """Remove the connected components that run along the image border: edge strips, dark frames, vignetting.

    A dark strip or frame at the edge of a photo looks like a crack to a detector, but a real crack crosses the
    border rather than following it. A component is a *border artefact* when both hold:

    1. it lies mostly on the border band: at least ``min_fraction`` of its pixels are closer than ``band`` px
       to the nearest image edge (distance of pixel ``(y, x)``: ``min(y, x, H - 1 - y, W - 1 - x)``);
    2. it runs along the border: with ``D`` its depth (1 + the largest distance to the edge among its pixels,
       how far it reaches into the photo) and ``A`` its area, its mean extent along the border ``A / D`` is at
       least ``min_aspect`` times ``D`` (``A >= min_aspect * D**2``).

    So a 100 x 6 px strip on the edge (``D = 6``, ``A / D = 100``) and a thin frame around the photo go, while
    a crack that crosses the border (``D`` about its length inside the photo) and every component away from
    the border stay. A real crack running parallel to the edge within ``band`` px of it is removed too: from
    the mask alone it cannot be told from an edge artefact.

    Parameters
    ----------
    mask : (H, W) array
        The crack mask (any 2-D array, read as ``!= 0``).
    band : int, optional
        Width of the border band in pixels; default ``max(8, ceil(min(H, W) / 100))`` (8 px up to 800 px
        photos, 1 % of the shorter side above).
    min_fraction : float
        Share of a component's pixels that must lie in the band, in (0, 1].
    min_aspect : float
        How many times longer along the border than deep a component must be, > 0.
    connectivity : int
        1 (4-neighbours) or 2 (8-neighbours, as the measurements) for the components.

    Returns
    -------
    (H, W) bool array
        The mask without the border artefacts (a new array; the input is not changed).

    Raises
    ------
    ValueError
        If ``mask`` is not 2-D, ``band`` is not a positive integer, ``min_fraction`` is not in (0, 1],
        ``min_aspect`` is not a positive finite number, or ``connectivity`` is not 1 or 2.

    Examples
    --------
    >>> mask = np.zeros((40, 60), bool)
    >>> mask[0:3, 5:55] = True  # a dark strip along the top edge
    >>> mask[10:38, 30] = True  # a crack inside the photo
    >>> mask[25, 0:12] = True  # a crack leaving the photo through the left edge
    >>> kept = drop_border_artefacts(mask)
    >>> int(kept[0:3].sum()), int(kept[10:38, 30].sum()), int(kept[25, 0:12].sum())
    (0, 28, 12)
    """
    mask = _as_mask(mask)
    if band is not None and (isinstance(band, bool) or not isinstance(band, (int, np.integer)) or band < 1):
        raise ValueError(f"band must be a positive integer, got {band!r}")
    if not 0.0 < float(min_fraction) <= 1.0:
        raise ValueError(f"min_fraction must be in (0, 1], got {min_fraction!r}")
    if not (np.isfinite(min_aspect) and min_aspect > 0):
        raise ValueError(f"min_aspect must be a positive number, got {min_aspect!r}")
    labels, n = label_cracks(mask, connectivity=connectivity)
    if n == 0:
        return mask.copy()
    height, width = mask.shape
    if band is None:
        band = max(8, -(-min(height, width) // 100))
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs]
    to_edge = np.minimum(np.minimum(ys, height - 1 - ys), np.minimum(xs, width - 1 - xs))
    area = np.bincount(lab, minlength=n + 1).astype(np.float64)
    in_band = np.bincount(lab[to_edge < band], minlength=n + 1)
    depth = np.zeros(n + 1)
    np.maximum.at(depth, lab, to_edge)
    depth += 1.0
    artefact = (in_band >= min_fraction * area) & (area >= min_aspect * depth * depth)
    artefact[0] = False
    if not artefact.any():
        return mask.copy()
    return np.asarray(mask & ~artefact[labels], dtype=bool)
