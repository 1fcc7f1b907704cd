"""UP-CrackNet's restoration losses: L1, SSIM, multi-scale gradient-magnitude similarity, Gram style.

All work on Nx3xHxW tensors in the generator's [-1, 1] range, as in the paper's code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    xs = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(xs**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] @ g[None, :])[None, None]


def ssim(a: torch.Tensor, b: torch.Tensor, *, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM with an 11x11 Gaussian window (sigma 1.5), C1 = 0.01^2, C2 = 0.03^2, zero padding."""
    c = a.shape[1]
    w = _gaussian_window(window, sigma).to(a).expand(c, 1, window, window)
    pad = window // 2

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, w, padding=pad, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return (num / den).mean()


_PREWITT_X = torch.tensor([[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]]) / 3.0


def gms_map(a: torch.Tensor, b: torch.Tensor, *, c: float = 0.0026) -> torch.Tensor:
    """Gradient-magnitude similarity (Prewitt, on the channel mean) between ``a`` and ``b``: Nx1xHxW."""
    kx = _PREWITT_X.to(a)[None, None]
    ky = kx.transpose(-1, -2)

    def magnitude(x: torch.Tensor) -> torch.Tensor:
        g = x.mean(dim=1, keepdim=True)
        gx = F.conv2d(g, kx, padding=1)
        gy = F.conv2d(g, ky, padding=1)
        return torch.sqrt(gx**2 + gy**2 + 1e-12)

    ga, gb = magnitude(a), magnitude(b)
    return (2 * ga * gb + c) / (ga**2 + gb**2 + c)


def msgms_loss(a: torch.Tensor, b: torch.Tensor, *, scales: int = 4) -> torch.Tensor:
    """Multi-scale GMS loss: mean(1 - GMS) at full size and 3 halvings (2x2 average pooling), averaged."""
    total = a.new_zeros(())
    used = 0
    for s in range(scales):
        if s:
            if min(a.shape[-2:]) < 4:
                break
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        total = total + (1.0 - gms_map(a, b)).mean()
        used += 1
    return total / used


def gram(x: torch.Tensor) -> torch.Tensor:
    """Gram matrix of features, normalised by C*H*W (as the paper's StyleLoss)."""
    n, c, h, w = x.shape
    f = x.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_loss(features: nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sum over the feature extractor's layers of L1(Gram(a), Gram(b))."""
    fa, fb = features(a), features(b)
    total = a.new_zeros(())
    for name in fa:
        total = total + F.l1_loss(gram(fa[name]), gram(fb[name].detach()))
    return total


class RestorationLoss(nn.Module):
    """L1 + (1 - SSIM) + MSGMS + style_weight x style; ``forward`` returns the parts and their sum.

    ``features`` is a VGG-19 feature extractor (ImageNet or a fixed random substitute) or None
    (style term off). The generator loss is ``adversarial + lambda_rec x total`` (lambda 100).
    """

    def __init__(self, features: nn.Module | None, *, style_weight: float = 10.0) -> None:
        super().__init__()
        self.features = features
        self.style_weight = float(style_weight)

    def forward(self, restored: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = {
            "l1": F.l1_loss(restored, target),
            "ssim": 1.0 - ssim(restored, target),
            "msgms": msgms_loss(restored, target),
        }
        if self.features is not None and self.style_weight:
            parts["style"] = style_loss(self.features, restored, target)
        else:
            parts["style"] = restored.new_zeros(())
        parts["total"] = parts["l1"] + parts["ssim"] + parts["msgms"] + self.style_weight * parts["style"]
        return parts


__all__ = ["RestorationLoss", "gms_map", "gram", "msgms_loss", "ssim", "style_loss"]
