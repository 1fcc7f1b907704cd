"""Choosing the decision threshold on validation data for a target recall.

With several data sources the threshold is chosen on the pooled validation samples of the sources trained
on (``threshold_for_sources``), never on a source held out for the report.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

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


def threshold_for_sources(
    labels: np.ndarray,
    probabilities: np.ndarray,
    sources: Sequence[str],
    *,
    target_recall: float | None,
    trained: Collection[str] | None = None,
) -> float:
    """``threshold_for_recall`` on the pooled validation samples of the sources trained on.

    ``sources[i]`` names the source of sample ``i``; only the samples of a source in ``trained`` (None: every
    source present) are pooled, so a held-out source never chooses the threshold that is reported on it.

    Raises
    ------
    ValueError
        If the lengths differ, a source of ``trained`` has no sample here, the pooled samples hold no cracked
        one (with a target), or the target is not in (0, 1].

    Examples
    --------
    >>> labels = np.array([1, 1, 0, 1, 1])
    >>> probs = np.array([0.9, 0.6, 0.3, 0.2, 0.1])
    >>> threshold_for_sources(labels, probs, ["a", "a", "a", "held", "held"], target_recall=1.0, trained={"a"})
    0.6
    """
    labels = np.asarray(labels).ravel()
    probabilities = np.asarray(probabilities, dtype=np.float64).ravel()
    names = np.asarray([str(s) for s in sources], dtype=object)
    if not labels.size == probabilities.size == names.size:
        raise ValueError(
            f"labels ({labels.size}), probabilities ({probabilities.size}) and sources ({names.size}) differ in length"
        )
    if trained is None:
        chosen = np.ones(labels.size, dtype=bool)
    else:
        missing = sorted(set(trained) - set(names.tolist()))
        if missing:
            raise ValueError(f"no validation samples of the trained source(s) {', '.join(missing)}")
        chosen = np.isin(names, list(trained))
    return threshold_for_recall(labels[chosen], probabilities[chosen], target_recall)
