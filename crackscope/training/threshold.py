"""Choosing the decision threshold on validation data for a target recall."""

from __future__ import annotations

import math

import numpy as np

DEFAULT_THRESHOLD = 0.5


def threshold_for_recall(labels: np.ndarray, probabilities: np.ndarray, target_recall: float | None) -> float:
    """The highest threshold whose recall (cracked when probability >= threshold) reaches ``target_recall``.

    Without a target the default 0.5 is returned. Missing a crack costs more than a false alarm during
    inspection, so a high target trades precision for recall.
    """
    if target_recall is None:
        return DEFAULT_THRESHOLD
    if not 0.0 < target_recall <= 1.0:
        raise ValueError(f"target recall must be in (0, 1], got {target_recall}")
    labels = np.asarray(labels).astype(bool).ravel()
    probabilities = np.asarray(probabilities, dtype=np.float64).ravel()
    if labels.size != probabilities.size:
        raise ValueError(f"labels ({labels.size}) and probabilities ({probabilities.size}) differ in length")
    positives = np.sort(probabilities[labels])[::-1]
    if positives.size == 0:
        raise ValueError("cannot choose a threshold for a target recall: the validation set has no cracked samples")
    # Recall at threshold t is #(positive scores >= t) / n_pos; it reaches the target once the k
    # highest positive scores are included, so the k-th highest positive score is the answer.
    k = max(1, math.ceil(target_recall * positives.size - 1e-9))
    return float(positives[k - 1])
