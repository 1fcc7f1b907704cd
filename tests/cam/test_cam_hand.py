"""Hand-computed maps: a network whose activation is a known pattern P (4x4), head GAP + Linear(w=2, b=0.5).

Then dS/dA = w / (h*w) = 2/16 everywhere, and every method's answer is known in closed form.
"""

from __future__ import annotations

import math

import pytest
import torch

from crackscope.cam import explain
from tests.cam.handnets import PATTERN, HandNet, pattern_batch

P = PATTERN
C = 2.0 / 16.0  # the constant gradient of the logit w.r.t. each activation


def layer_map(model, method, target="crack"):
    e = explain(model, pattern_batch(P), method=method, layer="features", target=target, normalise="none")
    return torch.from_numpy(e.layer_maps[0]), e


@pytest.mark.parametrize("method", ["gradcam", "hirescam", "xgradcam", "layercam"])
def test_gradient_methods_on_a_gap_linear_head(method):
    got, _ = layer_map(HandNet(), method)
    torch.testing.assert_close(got, C * P, atol=1e-6, rtol=1e-6)


def test_hirescam_is_elementwise_gradient_times_activation():
    # Two channels with opposite head weights: HiResCAM = relu(sum_k g_k * A_k) position by position.
    model = HandNet(multiples=(1.0, 2.0), w=(3.0, -1.0))
    got, _ = layer_map(model, "hirescam")
    expected = torch.relu(3.0 / 16 * P - 1.0 / 16 * 2.0 * P)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)


def test_gradcampp_closed_form():
    got, _ = layer_map(HandNet(), "gradcam++")
    alpha = 1.0 / (2.0 + P.sum() * C)  # g^2 / (2 g^2 + sum(A) g^3) with g = C
    weight = alpha * C * 16  # summed over the 16 positions
    torch.testing.assert_close(got, weight * P, atol=1e-6, rtol=1e-6)


def test_classic_cam_uses_the_linear_weight():
    got, _ = layer_map(HandNet(), "cam")
    torch.testing.assert_close(got, 2.0 * P, atol=1e-6, rtol=1e-6)


def test_scorecam_single_channel_weight_is_one():
    got, _ = layer_map(HandNet(), "scorecam")  # softmax over one channel = 1
    torch.testing.assert_close(got, P, atol=1e-6, rtol=1e-6)


def test_eigencam_one_channel():
    got, _ = layer_map(HandNet(), "eigencam")
    torch.testing.assert_close(got, torch.relu(P - P.mean()), atol=1e-5, rtol=1e-5)


def test_eigencam_two_correlated_channels_and_sign():
    # A = (P, 3P): first principal direction (1, 3)/sqrt(10), projection sqrt(10) (P - mean P), oriented
    # towards more activation (never a random sign flip).
    got, _ = layer_map(HandNet(multiples=(1.0, 3.0), w=(1.0, 1.0)), "eigencam")
    torch.testing.assert_close(got, math.sqrt(10.0) * torch.relu(P - P.mean()), atol=1e-4, rtol=1e-4)


def test_no_crack_target_negates_the_logit_and_is_flagged_when_empty():
    # Every activation pushes the crack logit up, so there is no evidence for "no-crack": an all-zero map,
    # flagged instead of being drawn black.
    got, e = layer_map(HandNet(), "gradcam", target="no-crack")
    assert torch.count_nonzero(got) == 0
    assert e.flags == (("all-zero",),)
    assert float(e.logits[0]) == pytest.approx(2.0 * P.mean().item() + 0.5, rel=1e-6)  # still the crack logit
    got, e = layer_map(HandNet(w=(-2.0,)), "gradcam", target="no-crack")
    torch.testing.assert_close(got, C * P, atol=1e-6, rtol=1e-6)
    assert e.flags == ((),)
