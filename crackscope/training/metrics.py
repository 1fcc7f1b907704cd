"""Binary classification metrics from labels and crack probabilities (no scikit-learn needed)."""

from __future__ import annotations

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
