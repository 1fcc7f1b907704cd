"""Binary classification metrics from labels and crack probabilities (no scikit-learn needed).

Besides accuracy, precision, recall, F1 and ROC-AUC (``binary_metrics``): the reliability of the probabilities
(``reliability_bins``, ``expected_calibration_error``) and the same scores per data source and overall
(``per_source_metrics``), for runs trained on several sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged); None with a single class."""
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def confusion(labels: np.ndarray, predicted: np.ndarray) -> dict[str, int]:
    """Counts of true/false positives and negatives (positive = cracked = 1)."""
    y = np.asarray(labels).astype(bool).ravel()
    p = np.asarray(predicted).astype(bool).ravel()
    if y.shape != p.shape:
        raise ValueError(f"labels ({y.size}) and predictions ({p.size}) differ in length")
    return {
        "tp": int(np.sum(y & p)),
        "fp": int(np.sum(~y & p)),
        "fn": int(np.sum(y & ~p)),
        "tn": int(np.sum(~y & ~p)),
    }


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray, *, threshold: float = 0.5) -> dict[str, Any]:
    """Accuracy, precision, recall, F1, ROC-AUC and the confusion matrix at ``threshold``.

    A sample counts as cracked when its probability is >= ``threshold``. The confusion matrix is
    ``[[tn, fp], [fn, tp]]`` (rows = true class uncracked/cracked, columns = predicted).
    """
    labels = np.asarray(labels).ravel()
    probabilities = np.asarray(probabilities, dtype=np.float64).ravel()
    if labels.size != probabilities.size:
        raise ValueError(f"labels ({labels.size}) and probabilities ({probabilities.size}) differ in length")
    c = confusion(labels, probabilities >= threshold)
    precision = _ratio(c["tp"], c["tp"] + c["fp"])
    recall = _ratio(c["tp"], c["tp"] + c["fn"])
    return {
        "n": int(labels.size),
        "accuracy": _ratio(c["tp"] + c["tn"], labels.size),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "roc_auc": roc_auc(labels, probabilities),
        "confusion_matrix": [[c["tn"], c["fp"]], [c["fn"], c["tp"]]],
        **c,
        "threshold": float(threshold),
    }


DEFAULT_BINS = 10


def _check_probabilities(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).ravel()
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    if y.size != p.size:
        raise ValueError(f"labels ({y.size}) and probabilities ({p.size}) differ in length")
    if y.size == 0:
        raise ValueError("no samples to measure")
    if not np.all(np.isin(y, (0, 1))):
        raise ValueError("labels must be 0 (uncracked) or 1 (cracked)")
    if not np.all((p >= 0.0) & (p <= 1.0)):  # NaN fails too
        raise ValueError("probabilities must lie in [0, 1]")
    return y.astype(np.float64), p


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability diagram: probabilities in [lower, upper) (the last bin includes 1), how many
    samples fell in it, their mean predicted crack probability and the fraction of them that is cracked."""

    lower: float
    upper: float
    count: int
    mean_probability: float
    fraction_cracked: float


def reliability_bins(
    labels: np.ndarray, probabilities: np.ndarray, *, bins: int = DEFAULT_BINS
) -> tuple[ReliabilityBin, ...]:
    """The non-empty bins of ``bins`` equal-width bins of [0, 1] over the crack probabilities.

    Raises
    ------
    ValueError
        If ``bins`` is not a whole number >= 1, the lengths differ, there are no samples, a label is not 0 or
        1, or a probability is outside [0, 1] (or NaN).

    Examples
    --------
    >>> [(b.count, b.mean_probability, b.fraction_cracked)
    ...  for b in reliability_bins(np.array([0, 0, 1, 1]), np.array([0.25, 0.25, 0.75, 1.0]), bins=2)]
    [(2, 0.25, 0.0), (2, 0.875, 1.0)]
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins must be a whole number >= 1, got {bins!r}")
    y, p = _check_probabilities(labels, probabilities)
    index = np.minimum((p * bins).astype(np.int64), bins - 1)  # p == 1 goes to the last bin
    counts = np.bincount(index, minlength=bins)
    sums = np.bincount(index, weights=p, minlength=bins)
    cracked = np.bincount(index, weights=y, minlength=bins)
    return tuple(
        ReliabilityBin(
            lower=b / bins,
            upper=(b + 1) / bins,
            count=int(counts[b]),
            mean_probability=float(sums[b] / counts[b]),
            fraction_cracked=float(cracked[b] / counts[b]),
        )
        for b in range(bins)
        if counts[b]
    )


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, *, bins: int = DEFAULT_BINS) -> float:
    """Expected calibration error of crack probabilities, with ``bins`` equal-width bins of [0, 1].

    ``ECE = sum over bins of (n_b / N) * |mean probability in b - fraction cracked in b|``: 0 when, within
    each bin, the predicted probability matches how often the samples are cracked. Bin ``b`` holds the
    probabilities in [b / bins, (b + 1) / bins), the last bin also 1.0.

    Raises
    ------
    ValueError
        As ``reliability_bins``.

    Examples
    --------
    Two bins: [0, 0.5) holds 0.25 and 0.25 (mean 0.25, none cracked: gap 0.25), [0.5, 1] holds 0.75 and 1.0
    (mean 0.875, all cracked: gap 0.125); each bin has half the samples.

    >>> expected_calibration_error(np.array([0, 0, 1, 1]), np.array([0.25, 0.25, 0.75, 1.0]), bins=2)
    0.1875
    >>> expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0]))
    0.0
    """
    table = reliability_bins(labels, probabilities, bins=bins)
    total = sum(b.count for b in table)
    return float(sum(b.count * abs(b.mean_probability - b.fraction_cracked) for b in table) / total)


@dataclass(frozen=True)
class Scores:
    """Scores of one set of samples at one threshold: ``n`` samples, ``cracked`` of them cracked, accuracy,
    precision, recall, F1, ROC-AUC (None with one class) and expected calibration error."""

    n: int
    cracked: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float | None
    ece: float

    def to_dict(self) -> dict[str, float | int | None]:
        """The scores as a JSON-able dict."""
        return {
            "n": self.n,
            "cracked": self.cracked,
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "roc_auc": self.roc_auc,
            "ece": self.ece,
        }


def scores(labels: np.ndarray, probabilities: np.ndarray, *, threshold: float, bins: int = DEFAULT_BINS) -> Scores:
    """``Scores`` of crack probabilities against labels (cracked when probability >= ``threshold``).

    Raises
    ------
    ValueError
        As ``reliability_bins``.
    """
    y, p = _check_probabilities(labels, probabilities)
    m = binary_metrics(y, p, threshold=threshold)
    return Scores(
        n=int(m["n"]),
        cracked=int(y.sum()),
        accuracy=float(m["accuracy"]),
        precision=float(m["precision"]),
        recall=float(m["recall"]),
        f1=float(m["f1"]),
        roc_auc=m["roc_auc"],
        ece=expected_calibration_error(y, p, bins=bins),
    )


@dataclass(frozen=True)
class PerSourceMetrics:
    """Scores of every data source and of all samples together, at one ``threshold``; ``sources`` in the
    order the sources first appear."""

    threshold: float
    overall: Scores
    sources: tuple[tuple[str, Scores], ...]

    def of(self, source: str) -> Scores:
        """The scores of ``source``.

        Raises
        ------
        KeyError
            If no sample comes from ``source``.
        """
        for name, value in self.sources:
            if name == source:
                return value
        raise KeyError(f"no samples from source {source!r}; sources: {', '.join(n for n, _ in self.sources)}")

    def to_dict(self) -> dict[str, object]:
        """``{"threshold": t, "overall": {...}, "sources": {name: {...}}}`` for metrics.json and reports."""
        return {
            "threshold": self.threshold,
            "overall": self.overall.to_dict(),
            "sources": {name: value.to_dict() for name, value in self.sources},
        }


def per_source_metrics(
    labels: np.ndarray,
    probabilities: np.ndarray,
    sources: Sequence[str],
    *,
    threshold: float = 0.5,
    bins: int = DEFAULT_BINS,
) -> PerSourceMetrics:
    """Accuracy, precision, recall, F1, ROC-AUC and ECE of each data source and of all samples together.

    ``sources[i]`` names the source of sample ``i``; a sample counts as cracked when its probability is
    >= ``threshold``.

    Raises
    ------
    ValueError
        If the three lengths differ, there are no samples, a label is not 0 or 1, or a probability is outside
        [0, 1].

    Examples
    --------
    >>> m = per_source_metrics(np.array([1, 0, 1, 0]), np.array([0.9, 0.2, 0.4, 0.6]), ["a", "a", "b", "b"])
    >>> m.of("a").accuracy, m.of("b").accuracy, m.overall.accuracy, m.overall.recall
    (1.0, 0.0, 0.5, 0.5)
    """
    y, p = _check_probabilities(labels, probabilities)
    names = np.asarray([str(s) for s in sources], dtype=object)
    if names.size != y.size:
        raise ValueError(f"labels ({y.size}) and sources ({names.size}) differ in length")
    order = list(dict.fromkeys(names.tolist()))
    parts = []
    for name in order:
        chosen = names == name
        parts.append((name, scores(y[chosen], p[chosen], threshold=threshold, bins=bins)))
    return PerSourceMetrics(
        threshold=float(threshold), overall=scores(y, p, threshold=threshold, bins=bins), sources=tuple(parts)
    )
