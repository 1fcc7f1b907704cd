"""Balanced sampling across data sources and classes: exact probabilities, seeded draws, the loader."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import numpy as np
import pytest

from crackscope.training.torchdata import (
    EpochShuffleSampler,
    SourceBalancedSampler,
    balanced_probabilities,
    balanced_sampler,
    make_loader,
)

# 7 items: source a has 3 cracked and 1 uncracked, source b 2 cracked and no uncracked, source c 1 uncracked
SOURCES = ["a", "a", "a", "a", "b", "b", "c"]
LABELS = [1, 1, 1, 0, 1, 1, 0]


def test_probabilities_are_exact_with_equal_weights() -> None:
    # each source 1/3; a's two cells 1/6 each, split over 3 and 1 items; b's one cell over 2; c's one cell
    third = Fraction(1, 3)
    expected = [third / 2 / 3] * 3 + [third / 2] + [third / 2] * 2 + [third]
    got = balanced_probabilities(SOURCES, LABELS)
    assert got.tolist() == pytest.approx([float(f) for f in expected], abs=1e-15)
    assert got.sum() == pytest.approx(1.0, abs=1e-15)


def test_probabilities_are_exact_with_weights() -> None:
    # weights 2, 1, 1: source a 1/2, b 1/4, c 1/4
    got = balanced_probabilities(SOURCES, LABELS, weights={"a": 2.0, "b": 1.0, "c": 1.0, "unused": 5.0})
    expected = [Fraction(1, 12)] * 3 + [Fraction(1, 4)] + [Fraction(1, 8)] * 2 + [Fraction(1, 4)]
    assert got.tolist() == pytest.approx([float(f) for f in expected], abs=1e-15)
    # one source: the two classes weigh alike, whatever their sizes
    assert balanced_probabilities([""] * 4, [1, 0, 0, 0]).tolist() == pytest.approx([0.5, 1 / 6, 1 / 6, 1 / 6])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        balanced_probabilities(["a"], [1, 0])
    with pytest.raises(ValueError, match="no items"):
        balanced_probabilities([], [])
    with pytest.raises(ValueError, match="source 'b' has no weight"):
        balanced_probabilities(["a", "b"], [1, 0], weights={"a": 1.0})
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="weight of source 'a' must be a finite number > 0"):
            balanced_probabilities(["a"], [1], weights={"a": bad})
    with pytest.raises(ValueError, match="num_samples must be positive"):
        SourceBalancedSampler(["a"], [1], num_samples=0)


def test_draws_follow_the_probabilities_and_the_seed() -> None:
    sampler = SourceBalancedSampler(SOURCES, LABELS, weights={"a": 2, "b": 1, "c": 1}, num_samples=40_000, seed=3)
    assert len(sampler) == 40_000
    first = list(sampler)
    assert list(sampler) == first  # same epoch, same draws
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first
    counts = Counter(first)
    freq = np.array([counts[i] / len(first) for i in range(len(SOURCES))])
    # binomial standard error <= sqrt(0.25 / 40000) = 0.0025; allow four of them
    assert np.abs(freq - sampler.probabilities).max() < 0.01
    assert len(SourceBalancedSampler(SOURCES, LABELS)) == len(SOURCES)  # an epoch: as many draws as items


class _Item:
    def __init__(self, key: str, label: int, source: str) -> None:
        self.key, self.label, self.source = key, label, source

    def load(self) -> np.ndarray:
        return np.full((8, 8, 3), 10 * self.label, np.uint8)


def test_dataset_sources_and_a_loader_with_the_balanced_sampler() -> None:
    from crackscope.training.torchdata import ItemDataset

    items = [_Item(f"k{i}", y, s) for i, (s, y) in enumerate(zip(SOURCES, LABELS, strict=True))]
    dataset = ItemDataset(items, image_size=8)
    assert dataset.sources == tuple(SOURCES)
    sampler = balanced_sampler(dataset, weights={"a": 1, "b": 1, "c": 1}, seed=0, num_samples=12)
    assert sampler.probabilities.tolist() == balanced_probabilities(SOURCES, LABELS).tolist()
    loader = make_loader(dataset, batch_size=4, shuffle=False, sampler=sampler)
    batches = list(loader)
    assert [tuple(x.shape) for x, _ in batches] == [(4, 3, 8, 8)] * 3
    labels = [int(v) for _, y in batches for v in y.tolist()]
    assert labels == [LABELS[i] for i in sampler]
    with pytest.raises(ValueError, match="either shuffle=True or a sampler"):
        make_loader(dataset, batch_size=4, shuffle=True, sampler=sampler)
    assert isinstance(make_loader(dataset, batch_size=4, shuffle=True).sampler, EpochShuffleSampler)
    assert ItemDataset([_Item("x", 1, "")], image_size=8).sources == ("",)  # an item of no named source


def test_make_loader_takes_workers_and_pinned_memory() -> None:
    from crackscope.training.torchdata import ItemDataset

    dataset = ItemDataset([_Item(f"k{i}", i % 2, "a") for i in range(6)], image_size=8)
    loader = make_loader(dataset, batch_size=4, shuffle=False, num_workers=2, pin_memory=True)
    assert loader.num_workers == 2 and loader.pin_memory and not loader.persistent_workers
    assert loader.sampler is not None and list(loader.sampler) == list(range(6))  # no sampler: in order
    with pytest.raises(ValueError, match="num_workers must be a whole number >= 0"):
        make_loader(dataset, batch_size=4, shuffle=False, num_workers=-1)
