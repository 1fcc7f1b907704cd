"""An average of a network's weights over its training steps: the power-function EMA of Karras et al. (EDM2, 2024).

After step ``t`` the average moves towards the network's weights by ``1 - beta_t`` with
``beta_t = (1 - 1/t) ** (gamma + 1)``: every step's weights count in proportion to ``t ** gamma``, so the average
follows the run's length instead of a fixed number of steps (a time-limited run of any speed gets the same
profile). The width is given as ``sigma_rel``, the standard deviation of that profile relative to the run's length:
0.10 averages about the last fifth of the run, 1/sqrt(12) (``gamma`` 0) every step alike.

The averaging itself is torch's :class:`torch.optim.swa_utils.AveragedModel` (buffers averaged too, so batch
normalisation's running statistics follow the averaged weights; whole-number buffers are copied).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from crackscope.training.options import MAX_WEIGHT_AVERAGE

MAX_SIGMA_REL = MAX_WEIGHT_AVERAGE  # gamma = 0: every step's weights alike


def power_ema_gamma(sigma_rel: float) -> float:
    """The exponent ``gamma`` of the power-function EMA whose relative width is ``sigma_rel``.

    Solves ``sigma_rel**2 = (gamma + 1) / ((gamma + 2)**2 * (gamma + 3))`` (EDM2, eq. 3) for ``gamma >= 0``.

    Parameters
    ----------
    sigma_rel : float
        Relative standard deviation of the averaging profile, in (0, 1/sqrt(12)].

    Returns
    -------
    float
        ``gamma``.

    Raises
    ------
    ValueError
        If ``sigma_rel`` is outside (0, 1/sqrt(12)].

    Examples
    --------
    >>> round(power_ema_gamma(0.10), 2)
    6.94
    >>> power_ema_gamma(1 / 12**0.5)
    0.0
    """
    from scipy.optimize import brentq

    if not 0.0 < sigma_rel <= MAX_SIGMA_REL + 1e-12:
        raise ValueError(f"sigma_rel must be in (0, {MAX_SIGMA_REL:.4f}], got {sigma_rel!r}")

    def excess(gamma: float) -> float:
        return (gamma + 1.0) / ((gamma + 2.0) ** 2 * (gamma + 3.0)) - sigma_rel**2

    if excess(0.0) <= 0.0:
        return 0.0
    return float(brentq(excess, 0.0, 4.0 / sigma_rel**2))  # excess < 0 there: (g+1)/(g+2)**2/(g+3) < 1/g**2


def averaged_copy(net: nn.Module, *, sigma_rel: float) -> AveragedModel:
    """A copy of ``net`` that :meth:`~torch.optim.swa_utils.AveragedModel.update_parameters` moves by the
    power-function EMA of relative width ``sigma_rel`` (call it after every optimiser step; the first call copies).

    Parameters
    ----------
    net : nn.Module
        The network being trained (not a DistributedDataParallel wrapper).
    sigma_rel : float
        Relative width of the average, in (0, 1/sqrt(12)].

    Returns
    -------
    AveragedModel
        Its ``module`` is the averaged network; its state dict (``module.*`` and ``n_averaged``) resumes it.

    Raises
    ------
    ValueError
        If ``sigma_rel`` is outside (0, 1/sqrt(12)].

    Examples
    --------
    >>> layer = nn.Linear(1, 1, bias=False)
    >>> average = averaged_copy(layer, sigma_rel=1 / 12**0.5)  # gamma 0: the plain mean
    >>> for value in (1.0, 2.0, 6.0):
    ...     _ = layer.weight.data.fill_(value)
    ...     average.update_parameters(layer)
    >>> average.module.weight.item()
    3.0
    """
    gamma = power_ema_gamma(sigma_rel)

    @torch.no_grad()
    def move(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        step = float(n_averaged) + 1.0  # the update after ``n_averaged`` earlier ones (the first copied)
        beta = (1.0 - 1.0 / step) ** (gamma + 1.0)
        if torch.is_floating_point(averaged[0]):
            torch._foreach_lerp_(averaged, current, 1.0 - beta)
        else:  # counters such as batch norm's num_batches_tracked
            for mine, theirs in zip(averaged, current, strict=True):
                mine.copy_(theirs)

    return AveragedModel(net, multi_avg_fn=move, use_buffers=True)  # type: ignore[arg-type]
