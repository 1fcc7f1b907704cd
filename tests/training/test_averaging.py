"""The power-function weight average: its exponent, its exact steps, batch-norm buffers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from crackscope.training.averaging import MAX_SIGMA_REL, averaged_copy, power_ema_gamma


@pytest.mark.parametrize("gamma", [0.0, 1.0, 6.94, 16.97, 300.0])
def test_gamma_gives_back_its_width(gamma: float) -> None:
    sigma = math.sqrt((gamma + 1) / ((gamma + 2) ** 2 * (gamma + 3)))
    assert power_ema_gamma(sigma) == pytest.approx(gamma, abs=1e-6)


@pytest.mark.parametrize("sigma", [0.0, -0.1, MAX_SIGMA_REL + 0.01])
def test_width_out_of_range_is_refused(sigma: float) -> None:
    with pytest.raises(ValueError, match="sigma_rel"):
        power_ema_gamma(sigma)


def test_steps_move_by_the_power_profile() -> None:
    layer = nn.Linear(1, 1, bias=False)
    average = averaged_copy(layer, sigma_rel=math.sqrt(1 / 18))  # gamma 1: beta_t = (1 - 1/t) ** 2
    for value in (1.0, 2.0, 3.0):
        layer.weight.data.fill_(value)
        average.update_parameters(layer)
    # t=1 copies 1; t=2: 1/4 * 1 + 3/4 * 2 = 1.75; t=3: 4/9 * 1.75 + 5/9 * 3 = 22/9
    assert average.module.weight.item() == pytest.approx(22 / 9)
    assert layer.weight.item() == 3.0  # the trained network is untouched


def test_batch_norm_statistics_are_averaged_and_counters_copied() -> None:
    norm = nn.BatchNorm1d(1)
    average = averaged_copy(norm, sigma_rel=MAX_SIGMA_REL)  # the plain mean
    for mean, count in ((2.0, 5), (4.0, 9)):
        norm.running_mean.fill_(mean)
        norm.num_batches_tracked.fill_(count)
        average.update_parameters(norm)
    assert average.module.running_mean.item() == pytest.approx(3.0)
    assert int(average.module.num_batches_tracked) == 9
    assert average.module.num_batches_tracked.dtype == torch.long
