"""Pixel scoring of crack masks and probability maps: pooled P/R/F1/IoU, pixel tolerance, ODS/OIS, PR curve.

Definitions (used everywhere in this module)
--------------------------------------------
*Exact* (``tol=0``): a predicted crack pixel is a true positive when the ground truth (GT) marks the same pixel.

*With tolerance* ``tol`` px (the usual way of crack-detection papers, e.g. 2 px):

- a **predicted** crack pixel counts as matched (``tp_pred``) when some GT crack pixel lies within
  Euclidean distance ``tol`` of it (distance transform of the GT);
- a **GT** crack pixel counts as recalled (``tp_gt``) when some predicted crack pixel lies within ``tol``.

``precision = tp_pred / n_pred``, ``recall = tp_gt / n_gt``, ``F1 = 2PR / (P + R)``.
``IoU = TP / (TP + FP + FN)`` with ``TP = tp_pred``, ``FP = n_pred - tp_pred`` and ``FN = n_gt - tp_gt``, i.e.
``tp_pred / (n_pred + n_gt - tp_gt)``; at ``tol=0`` both matches coincide and this is ``|P & G| / |P | G|``.

Counts are **pooled** over all pixels of the set (summed over images before dividing). A ratio whose
denominator is 0 (nothing predicted, or no crack in the GT) is 1.0: there was nothing to get wrong.

Probability maps (8-bit PNG 0..255 or floats in [0, 1]) are quantised to 256 levels ``round(p * 255)``; the
threshold ``k/255`` predicts the pixels with level ``>= k`` (k = 1..255). **ODS** is the best F1 of one
threshold for the whole set (counts pooled); **OIS** picks each image's best-F1 threshold and pools the
counts of those choices (the BSDS convention; F1 ties go to the highest threshold). All 255 thresholds are scored at
once from level histograms,
so ODS/OIS cost about as much as one mask score.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from crackscope.errors import BadInputError, CrackscopeWarning

LEVELS = 256


@dataclass(frozen=True)
class Counts:
    """Pixel counts for one image or a pooled set (see the module docstring for the definitions)."""

    tp_pred: int = 0
    n_pred: int = 0
    tp_gt: int = 0
    n_gt: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.tp_pred + other.tp_pred, self.n_pred + other.n_pred, self.tp_gt + other.tp_gt, self.n_gt + other.n_gt
        )

    @property
    def precision(self) -> float:
        return _ratio(self.tp_pred, self.n_pred)

    @property
    def recall(self) -> float:
        return _ratio(self.tp_gt, self.n_gt)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)

    @property
    def iou(self) -> float:
        return _ratio(self.tp_pred, self.n_pred + self.n_gt - self.tp_gt)

    def metrics(self) -> dict[str, float | int]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "iou": self.iou, **asdict(self)}


def _ratio(num: int | float, den: int | float) -> float:
    return 1.0 if den == 0 else float(num) / float(den)


def disk(radius: float) -> np.ndarray:
    """Bool footprint of the integer offsets within Euclidean distance ``radius`` (1x1 for radius < 1)."""
    r = int(np.floor(radius))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    footprint: np.ndarray = yy**2 + xx**2 <= radius**2 + 1e-9
    return footprint


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> None:
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground-truth shape {gt.shape}")
    if gt.ndim != 2:
        raise ValueError(f"masks must be 2-D (H, W), got shape {gt.shape}")


def _near(mask: np.ndarray, tol: float) -> np.ndarray:
    """Pixels within Euclidean distance ``tol`` of a True pixel of ``mask``."""
    if tol <= 0 or not mask.any():
        return mask.copy()
    distance = np.asarray(ndimage.distance_transform_edt(~mask), dtype=np.float64)
    return distance <= tol + 1e-9


def count_mask(pred: np.ndarray, gt: np.ndarray, *, tol: float = 0) -> Counts:
    """Counts of one predicted bool mask against its bool GT mask, exact (``tol=0``) or with tolerance."""
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    _check_pair(pred, gt)
    tp_pred = int(np.count_nonzero(pred & _near(gt, tol)))
    tp_gt = int(np.count_nonzero(gt & _near(pred, tol)))
    return Counts(tp_pred, int(np.count_nonzero(pred)), tp_gt, int(np.count_nonzero(gt)))


def to_levels(prob: np.ndarray) -> np.ndarray:
    """A probability map as uint8 levels 0..255 (uint8 kept; floats in [0, 1] scaled by 255 and rounded)."""
    prob = np.asarray(prob)
    if prob.dtype == np.uint8:
        return prob
    if prob.dtype == bool:
        return prob.astype(np.uint8) * 255
    prob = prob.astype(np.float64)
    if not np.isfinite(prob).all():
        raise ValueError("probability map has non-finite values")
    if prob.min(initial=0) < 0 or prob.max(initial=0) > 1:
        raise ValueError("float probability maps must lie in [0, 1]")
    levels: np.ndarray = np.rint(prob * 255).astype(np.uint8)
    return levels


@dataclass(frozen=True)
class CurveCounts:
    """Counts at every threshold k/255, k = 0..255 (arrays of length 256); index k predicts levels >= k."""

    tp_pred: np.ndarray
    n_pred: np.ndarray
    tp_gt: np.ndarray
    n_gt: int

    def __add__(self, other: CurveCounts) -> CurveCounts:
        return CurveCounts(
            self.tp_pred + other.tp_pred, self.n_pred + other.n_pred, self.tp_gt + other.tp_gt, self.n_gt + other.n_gt
        )

    def at(self, k: int) -> Counts:
        return Counts(int(self.tp_pred[k]), int(self.n_pred[k]), int(self.tp_gt[k]), int(self.n_gt))

    def f1(self) -> np.ndarray:
        """F1 at thresholds k = 1..255 (index 0 is threshold 1/255)."""
        return np.array([self.at(k).f1 for k in range(1, LEVELS)])


def _at_or_above(values: np.ndarray) -> np.ndarray:
    """For uint8 values: count of values >= k for k = 0..255."""
    hist = np.bincount(values.ravel(), minlength=LEVELS)
    return np.cumsum(hist[::-1])[::-1].astype(np.int64)


def count_curve(prob: np.ndarray, gt: np.ndarray, *, tol: float = 0) -> CurveCounts:
    """Counts of one probability map against its GT at all 256 thresholds at once.

    Pixel p is predicted at threshold k when ``level[p] >= k``. It is matched when the GT has a pixel within
    ``tol`` (a fixed mask). A GT pixel is recalled at k when the **maximum** level within ``tol`` of it is
    ``>= k`` (a grey dilation with a Euclidean disk), which is exactly the mask definition at every threshold.
    """
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    levels = to_levels(prob)
    gt = np.asarray(gt, bool)
    _check_pair(levels, gt)
    near_gt = _near(gt, tol)
    spread = levels if tol < 1 else ndimage.maximum_filter(levels, footprint=disk(tol), mode="constant", cval=0)
    return CurveCounts(
        tp_pred=_at_or_above(levels[near_gt]),
        n_pred=_at_or_above(levels),
        tp_gt=_at_or_above(spread[gt]),
        n_gt=int(np.count_nonzero(gt)),
    )


def _best(curve: CurveCounts) -> int:
    """Threshold level (1..255) with the best F1; ties go to the highest threshold (the fewest pixels
    predicted), so an image where every threshold scores F1 = 0 adds no needless false positives to OIS."""
    f1 = curve.f1()
    return int(len(f1) - 1 - np.argmax(f1[::-1])) + 1


def score_masks(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], *, tol: float = 0) -> dict[str, Any]:
    """Pooled precision, recall, F1 and IoU of bool masks against GT masks (exact or with tolerance)."""
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predictions but {len(gts)} ground-truth masks")
    total = Counts()
    for pred, gt in zip(preds, gts, strict=False):
        total = total + count_mask(pred, gt, tol=tol)
    return {"tol": tol, "n_images": len(preds), **total.metrics()}


def ods_ois(probs: Sequence[np.ndarray], gts: Sequence[np.ndarray], *, tol: float = 0) -> dict[str, Any]:
    """ODS, OIS and the pooled PR curve of probability maps against GT masks.

    Returns ``{"ods": {threshold, precision, recall, f1, iou, ...}, "ois": {...}, "curve": {thresholds,
    precision, recall, f1}}``; ``ois`` carries the per-image best thresholds.
    """
    if len(probs) != len(gts):
        raise ValueError(f"{len(probs)} probability maps but {len(gts)} ground-truth masks")
    if not probs:
        raise ValueError("no images to score")
    curves = [count_curve(p, g, tol=tol) for p, g in zip(probs, gts, strict=False)]
    pooled = curves[0]
    for c in curves[1:]:
        pooled = pooled + c
    k_ods = _best(pooled)
    per_image_k = [_best(c) for c in curves]
    ois_counts = Counts()
    for c, k in zip(curves, per_image_k, strict=False):
        ois_counts = ois_counts + c.at(k)
    ks = list(range(1, LEVELS))
    return {
        "tol": tol,
        "ods": {"threshold": k_ods / 255, **pooled.at(k_ods).metrics()},
        "ois": {**ois_counts.metrics(), "thresholds": [k / 255 for k in per_image_k]},
        "curve": {
            "thresholds": [k / 255 for k in ks],
            "precision": [pooled.at(k).precision for k in ks],
            "recall": [pooled.at(k).recall for k in ks],
            "f1": [pooled.at(k).f1 for k in ks],
        },
    }


def plot_pr_curve(curves: dict[str, dict[str, Any]], path: str | Path) -> Path:
    """Save a precision-recall plot of one or more ``ods_ois`` results (label -> result) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from crackscope.io import atomic_path

    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    for label, res in curves.items():
        c, ods = res["curve"], res["ods"]
        ax.plot(c["recall"], c["precision"], label=f"{label} (ODS F1 {ods['f1']:.3f})")
        ax.plot([ods["recall"]], [ods["precision"]], "o", color=ax.lines[-1].get_color())
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("crack pixels: precision-recall")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def _index(folder: Path) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """Stem -> file of a folder, and the stems that name several files (ambiguous: left out of the index)."""
    from crackscope.io import list_images

    by_stem: dict[str, list[Path]] = {}
    for p in list_images([folder], recursive=False):
        by_stem.setdefault(p.stem, []).append(p)
    index = {stem: paths[0] for stem, paths in by_stem.items() if len(paths) == 1}
    return index, {stem: paths for stem, paths in by_stem.items() if len(paths) > 1}


def _ambiguous(found: dict[str, list[Path]]) -> list[dict[str, str]]:
    return [
        {
            "file": str(paths[0]),
            "problem": f"ambiguous: {', '.join(p.name for p in paths)} have one name; keep one of them",
        }
        for paths in found.values()
    ]


def resolve_pred_dirs(pred_dir: str | Path, prob_dir: str | Path | None = None) -> tuple[Path, Path | None]:
    """Masks and probability folders of PRED_DIR: a ``crackscope map`` output (masks/, probability/) or masks."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise BadInputError(pred_dir, "prediction folder not found")
    masks = pred_dir / "masks" if (pred_dir / "masks").is_dir() else pred_dir
    if prob_dir is None and (pred_dir / "probability").is_dir():
        prob_dir = pred_dir / "probability"
    if prob_dir is not None and not Path(prob_dir).is_dir():
        raise BadInputError(prob_dir, "probability folder not found")
    return masks, None if prob_dir is None else Path(prob_dir)


def score_dirs(
    pred_dir: str | Path, gt_dir: str | Path, *, tol: float = 0, prob_dir: str | Path | None = None
) -> dict[str, Any]:
    """Score the masks (and probability maps, if any) of ``pred_dir`` against GT masks in ``gt_dir``.

    Files are matched by stem; stems with no counterpart are listed in ``missing_predictions`` /
    ``missing_ground_truth``, and unreadable or mis-sized files (a ground truth of another size than its
    prediction names the ground-truth file) and stems naming two files (``a.png`` and ``a.tif``) in
    ``skipped`` as ``{file, problem}`` (none of these is fatal). Masks are read by the rule of
    ``crackscope.io``; what it warns about (a JPEG or WebP mask, a mask that is crack everywhere) is also
    listed in ``warnings`` as ``{file, problem}``.
    Always reports ``exact``; with ``tol > 0`` also ``tolerant``; with probability maps ``ods``/``ois``
    (each ``{"exact": ..., "tolerant": ...}``) and the ``curves`` for a PR plot.
    """
    from crackscope.io import read_image, read_mask_and_warnings

    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    gt_dir = Path(gt_dir)
    if not gt_dir.is_dir():
        raise BadInputError(gt_dir, "ground-truth folder not found")
    mask_dir, prob_dir = resolve_pred_dirs(pred_dir, prob_dir)
    (preds, pred_dups), (gts_index, gt_dups) = _index(mask_dir), _index(gt_dir)
    probs_index, prob_dups = _index(prob_dir) if prob_dir is not None else ({}, {})
    dups = set(pred_dups) | set(gt_dups)
    preds = {stem: p for stem, p in preds.items() if stem not in dups}
    gts_index = {stem: p for stem, p in gts_index.items() if stem not in dups}
    stems = sorted(set(preds) & set(gts_index))
    result: dict[str, Any] = {
        "pred_dir": str(mask_dir),
        "gt_dir": str(gt_dir),
        "prob_dir": None if prob_dir is None else str(prob_dir),
        "tol": tol,
        "missing_predictions": sorted(set(gts_index) - set(preds)),
        "missing_ground_truth": sorted(set(preds) - set(gts_index)),
        "skipped": _ambiguous(pred_dups) + _ambiguous(gt_dups) + _ambiguous(prob_dups),
        "warnings": [],
        "per_image": [],
    }

    def read(path: Path) -> np.ndarray:
        mask, notes = read_mask_and_warnings(path)
        for note in notes:
            result["warnings"].append({"file": str(path), "problem": note})
            warnings.warn(CrackscopeWarning(f"{path}: {note}"), stacklevel=3)
        return mask

    exact, tolerant = Counts(), Counts()
    prob_maps, prob_gts = [], []
    for stem in stems:
        try:
            pred = read(preds[stem])
            gt = read(gts_index[stem])
            if gt.shape != pred.shape:
                raise BadInputError(
                    gts_index[stem],
                    f"ground-truth size {gt.shape[1]}x{gt.shape[0]} differs from the size "
                    f"{pred.shape[1]}x{pred.shape[0]} of its prediction {preds[stem]}",
                )
            prob = None
            if stem in probs_index:
                prob = read_image(probs_index[stem], min_side=1)[..., 0]
                if prob.shape != gt.shape:
                    raise BadInputError(probs_index[stem], f"size {prob.shape[::-1]} differs from GT {gt.shape[::-1]}")
        except BadInputError as exc:
            result["skipped"].append({"file": str(exc.path), "problem": exc.problem})
            continue
        row: dict[str, Any] = {"name": stem}
        c0 = count_mask(pred, gt)
        exact = exact + c0
        row["exact"] = c0.metrics()
        if tol > 0:
            ct = count_mask(pred, gt, tol=tol)
            tolerant = tolerant + ct
            row["tolerant"] = ct.metrics()
        if prob is not None:
            prob_maps.append(prob)
            prob_gts.append(gt)
        result["per_image"].append(row)
    result["n_images"] = len(result["per_image"])
    result["exact"] = exact.metrics()
    result["tolerant"] = tolerant.metrics() if tol > 0 else None
    if prob_maps:
        if len(prob_maps) != result["n_images"]:
            result["missing_probability"] = sorted(
                r["name"] for r in result["per_image"] if r["name"] not in probs_index
            )
        runs = {"exact": ods_ois(prob_maps, prob_gts, tol=0)}
        if tol > 0:
            runs["tolerant"] = ods_ois(prob_maps, prob_gts, tol=tol)
        result["ods"] = {k: v["ods"] for k, v in runs.items()}
        result["ois"] = {k: {kk: vv for kk, vv in v["ois"].items() if kk != "thresholds"} for k, v in runs.items()}
        result["curves"] = {k: v["curve"] for k, v in runs.items()}
        result["n_probability_maps"] = len(prob_maps)
    return result
