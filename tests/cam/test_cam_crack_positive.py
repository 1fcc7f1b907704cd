"""Cracked images get crack-positive maps without any flip (the Keras study's 0.27 hack, fixed at its root).

The study explained *the predicted class* through a *sigmoid* output, then min-max normalised each map and flipped
it whenever its mean was below 0.27. Root cause: for a cracked image predicted below 0.5 the explained class was
the no-crack side, whose positive evidence is the background, so the crack looked "cold"; the sigmoid's gradient
p(1-p) also vanishes for confident predictions. crackscope always explains the crack logit (target="crack"),
keeps its positive evidence (ReLU) and normalises without flipping.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crackscope.cam import explain
from tests.cam.helpers import SIZE, synthetic_batch


def inside_outside(maps: np.ndarray, masks: np.ndarray) -> list[tuple[float, float]]:
    return [(float(m[k].mean()), float(m[~k].mean())) for m, k in zip(maps, masks, strict=False)]


@pytest.fixture(scope="module")
def cracked(trained_tiny):
    x, masks, labels = synthetic_batch(24, SIZE, seed=3)
    keep = labels == 1
    return x[torch.from_numpy(keep)], masks[keep]


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_cracked_images_get_crack_positive_maps_without_flip(trained_tiny, cracked, method):
    x, masks = cracked
    e = explain(trained_tiny, x, method=method, target="crack", normalise="image")
    assert e.flags == ((),) * len(x)
    pairs = inside_outside(e.normalised, masks)
    assert all(inside > outside for inside, outside in pairs), pairs
    # "no flip": normalised is the raw map scaled by a positive factor, never 1 - map
    for raw, norm in zip(e.maps, e.normalised, strict=False):
        np.testing.assert_allclose(norm, raw / raw.max(), rtol=1e-5, atol=1e-6)


def test_the_root_cause_explaining_the_no_crack_side(trained_tiny, cracked):
    """What the study drew for every cracked image the model scored below 0.5 ("explain the predicted class"):
    the no-crack side, whose positive evidence lies outside the crack (or is empty), so the crack looked cold and
    the map "needed" a flip. Explaining the crack logit gives crack-positive maps for the same images."""
    x, masks = cracked
    crack = explain(trained_tiny, x, method="gradcam", target="crack")
    other = explain(trained_tiny, x, method="gradcam", target="no-crack")
    crack_pairs = inside_outside(crack.normalised, masks)
    other_pairs = inside_outside(other.normalised, masks)
    for (ci, co), (oi, oo), flags in zip(crack_pairs, other_pairs, other.flags, strict=False):
        assert ci > co
        assert oi < ci
        assert "all-zero" in flags or oi < oo
    np.testing.assert_allclose(other.logits, crack.logits)  # same prediction, only the explained side differs
