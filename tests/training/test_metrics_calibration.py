"""Calibration (reliability bins, ECE), scores per data source, the threshold on pooled trained sources."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import crackscope.data.sources
import crackscope.data.splits
import crackscope.training.metrics
import crackscope.training.threshold
import crackscope.training.torchdata
from crackscope.training.metrics import (
    PerSourceMetrics,
    Scores,
    expected_calibration_error,
    per_source_metrics,
    reliability_bins,
    scores,
)
from crackscope.training.threshold import threshold_for_recall, threshold_for_sources


@pytest.mark.parametrize(
    "module",
    [
        crackscope.training.metrics,
        crackscope.training.threshold,
        crackscope.training.torchdata,
        crackscope.data.sources,
        crackscope.data.splits,
    ],
)
def test_doctests(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert result.failed == 0 and result.attempted > 0


# --- reliability and ECE ----------------------------------------------------------------------------


def test_ece_by_hand_with_four_bins() -> None:
    labels = np.array([0, 0, 1, 0, 1, 1, 1, 1])
    probs = np.array([0.0, 0.125, 0.375, 0.375, 0.5, 0.625, 0.875, 1.0])
    # bins of 0.25: [0, .25) {0, .125} mean .0625, 0 cracked: gap .0625, n 2
    #               [.25, .5) {.375, .375} mean .375, 1/2 cracked: gap .125, n 2
    #               [.5, .75) {.5, .625} mean .5625, all cracked: gap .4375, n 2
    #               [.75, 1] {.875, 1.0} mean .9375, all cracked: gap .0625, n 2
    expected = (0.0625 + 0.125 + 0.4375 + 0.0625) * 2 / 8
    assert expected_calibration_error(labels, probs, bins=4) == pytest.approx(expected, abs=1e-15)
    table = reliability_bins(labels, probs, bins=4)
    assert [(b.lower, b.upper, b.count, b.mean_probability, b.fraction_cracked) for b in table] == [
        (0.0, 0.25, 2, 0.0625, 0.0),
        (0.25, 0.5, 2, 0.375, 0.5),
        (0.5, 0.75, 2, 0.5625, 1.0),
        (0.75, 1.0, 2, 0.9375, 1.0),
    ]


def test_ece_edge_cases() -> None:
    # perfectly calibrated bins give 0; one bin gives |mean - base rate|; empty bins are left out
    assert expected_calibration_error(np.array([0, 1, 0, 1]), np.array([0.5] * 4)) == 0.0
    assert expected_calibration_error(np.array([1, 1, 1, 0]), np.array([0.5] * 4), bins=1) == 0.25
    assert len(reliability_bins(np.array([0, 1]), np.array([0.01, 0.99]), bins=10)) == 2
    assert reliability_bins(np.array([1]), np.array([1.0]), bins=10)[0].lower == 0.9  # 1.0 in the last bin
    # confident and wrong: the worst
    assert expected_calibration_error(np.array([0, 1]), np.array([1.0, 0.0])) == 1.0


@pytest.mark.parametrize(
    ("labels", "probs", "bins", "message"),
    [
        ([0, 1], [0.5], 10, "differ in length"),
        ([], [], 10, "no samples"),
        ([0, 2], [0.1, 0.2], 10, "labels must be 0"),
        ([0, 1], [0.1, 1.2], 10, r"probabilities must lie in \[0, 1\]"),
        ([0, 1], [0.1, float("nan")], 10, r"probabilities must lie in \[0, 1\]"),
        ([0, 1], [0.1, 0.2], 0, "bins must be a whole number"),
        ([0, 1], [0.1, 0.2], 2.5, "bins must be a whole number"),
    ],
)
def test_ece_refuses_bad_input(labels: list[int], probs: list[float], bins: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(np.array(labels), np.array(probs), bins=bins)


# --- per-source scores ------------------------------------------------------------------------------


def test_per_source_scores_exact() -> None:
    labels = np.array([1, 1, 0, 0, 1, 0, 0])
    probs = np.array([0.9, 0.4, 0.2, 0.7, 0.8, 0.1, 0.3])
    sources = ["ozgenel", "ozgenel", "ozgenel", "ozgenel", "deepcrack", "deepcrack", "deepcrack"]
    m = per_source_metrics(labels, probs, sources, threshold=0.5, bins=2)
    assert isinstance(m, PerSourceMetrics) and m.threshold == 0.5
    assert [name for name, _ in m.sources] == ["ozgenel", "deepcrack"]  # order of first appearance
    # ozgenel: tp (0.9), fn (0.4), tn (0.2), fp (0.7); bins [0, .5): {.4 (1), .2 (0)} gap |.3 - .5| = .2,
    # [.5, 1]: {.9 (1), .7 (0)} gap |.8 - .5| = .3 -> ece (2 * .2 + 2 * .3) / 4 = .25
    assert m.of("ozgenel") == Scores(
        n=4, cracked=2, accuracy=0.5, precision=0.5, recall=0.5, f1=0.5, roc_auc=0.75, ece=pytest.approx(0.25)
    )
    # deepcrack: all right; bins {.1, .3} (0 cracked) gap .2, {.8} (1) gap .2 -> ece .2
    assert m.of("deepcrack") == Scores(
        n=3, cracked=1, accuracy=1.0, precision=1.0, recall=1.0, f1=1.0, roc_auc=1.0, ece=pytest.approx(0.2)
    )
    overall = m.overall
    assert (overall.n, overall.cracked, overall.accuracy) == (7, 3, 5 / 7)
    assert (overall.precision, overall.recall) == (2 / 3, 2 / 3)
    assert overall.ece == pytest.approx(expected_calibration_error(labels, probs, bins=2))
    as_dict = m.to_dict()
    assert set(as_dict) == {"threshold", "overall", "sources"} and list(as_dict["sources"]) == ["ozgenel", "deepcrack"]
    assert as_dict["sources"]["deepcrack"]["recall"] == 1.0 and as_dict["overall"]["n"] == 7
    with pytest.raises(KeyError, match="no samples from source 'crack500'"):
        m.of("crack500")


def test_per_source_scores_of_one_class_and_bad_lengths() -> None:
    s = scores(np.array([1, 1]), np.array([0.9, 0.2]), threshold=0.5)
    assert s.roc_auc is None and s.recall == 0.5 and s.precision == 1.0 and s.to_dict()["roc_auc"] is None
    with pytest.raises(ValueError, match=r"sources .* differ in length"):
        per_source_metrics(np.array([1, 0]), np.array([0.9, 0.2]), ["a"])
    with pytest.raises(ValueError, match="no samples"):
        per_source_metrics(np.array([]), np.array([]), [])


# --- the threshold on the pooled validation data of the trained sources -----------------------------


def test_threshold_pooled_over_trained_sources_only() -> None:
    labels = np.array([1, 1, 1, 1, 0, 1, 1])
    probs = np.array([0.9, 0.7, 0.5, 0.3, 0.8, 0.05, 0.02])
    sources = ["a", "a", "b", "b", "b", "held", "held"]
    # pooled positives of a and b: .9 .7 .5 .3; recall 0.75 needs the three highest -> 0.5
    assert threshold_for_sources(labels, probs, sources, target_recall=0.75, trained=["a", "b"]) == 0.5
    # held out never counts: with it the 0.75 target would need 5 of 6 positives -> 0.05
    assert threshold_for_sources(labels, probs, sources, target_recall=0.75) == 0.05
    assert threshold_for_sources(labels, probs, sources, target_recall=1.0, trained={"a"}) == 0.7
    assert threshold_for_sources(labels, probs, sources, target_recall=None, trained={"a"}) == 0.5
    pooled = threshold_for_recall(labels[:5], probs[:5], 0.75)
    assert threshold_for_sources(labels, probs, sources, target_recall=0.75, trained=("b", "a")) == pooled
    with pytest.raises(ValueError, match="no validation samples of the trained source"):
        threshold_for_sources(labels, probs, sources, target_recall=0.9, trained=["a", "c"])
    with pytest.raises(ValueError, match="differ in length"):
        threshold_for_sources(labels, probs, sources[:-1], target_recall=0.9)
    with pytest.raises(ValueError, match="no cracked samples"):
        threshold_for_sources(np.array([0, 1]), np.array([0.1, 0.9]), ["a", "b"], target_recall=0.9, trained=["a"])
