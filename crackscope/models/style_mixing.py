"""Feature-statistics mixing during training (MixStyle; Zhou et al., "Domain Generalization with MixStyle", ICLR 2021).

A surface's "style" (its colour, grain and contrast) shows in early feature maps as each channel's mean and spread.
Mixing those statistics between the photos of a batch, while the normalised content stays, shows a network trained on
a few sources new surface styles, so that a source it never saw looks less foreign. The layer is the identity outside
training and holds no parameters or buffers: a network trained with it loads into the same network without it.

Written here rather than taken from a library: none of this project's dependencies ships it, and it is a few lines.
"""

from __future__ import annotations

import torch
from torch import nn


class MixStyle(nn.Module):
    """Mix each channel's mean and standard deviation with another photo's of the batch, in training only.

    Parameters
    ----------
    p : float, keyword-only
        Probability that a training batch is mixed at all (the paper's 0.5).
    alpha : float, keyword-only
        Both parameters of the Beta distribution the mixing weight is drawn from, per photo (the paper's 0.1:
        weights near 0 or 1, so most photos keep most of their own style).
    eps : float, keyword-only
        Added to the variance before its square root.

    Raises
    ------
    ValueError
        If ``p`` is outside [0, 1] or ``alpha`` or ``eps`` is not positive.

    Notes
    -----
    Random draws come from torch's global generator, so a seeded run repeats its mixing. The statistics are taken
    in float32 (also under bf16 autocast) and without gradient, as in the paper. A batch of one photo, or feature
    maps of one pixel (no spread to take), pass unchanged.
    """

    def __init__(self, *, p: float = 0.5, alpha: float = 0.1, eps: float = 1e-6) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        if alpha <= 0.0 or eps <= 0.0:
            raise ValueError(f"alpha and eps must be positive, got alpha={alpha}, eps={eps}")
        self.p = float(p)
        self.alpha = float(alpha)
        self.eps = float(eps)

    def extra_repr(self) -> str:
        return f"p={self.p}, alpha={self.alpha}, eps={self.eps}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or x.shape[0] < 2 or x.shape[2] * x.shape[3] < 2 or float(torch.rand(())) >= self.p:
            return x
        n = x.shape[0]
        xf = x.float()
        with torch.no_grad():
            mean = xf.mean(dim=(2, 3), keepdim=True)
            std = (xf.var(dim=(2, 3), keepdim=True) + self.eps).sqrt()
            concentration = torch.tensor(self.alpha, device=x.device)  # draws on the batch's device (a GPU too)
            weight = torch.distributions.Beta(concentration, concentration).sample((n, 1, 1, 1))
            other = torch.randperm(n, device=x.device)
            mixed_mean = weight * mean + (1 - weight) * mean[other]
            mixed_std = weight * std + (1 - weight) * std[other]
        out = (xf - mean) / std * mixed_std + mixed_mean
        return out.to(x.dtype)
