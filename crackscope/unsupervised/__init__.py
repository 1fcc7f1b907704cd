"""UP-CrackNet: unsupervised crack maps by adversarial restoration of crack-free surfaces.

Ma, Fan, Xie, "UP-CrackNet: Unsupervised Pixel-Wise Road Crack Detection via Adversarial Image
Restoration", IEEE T-ITS 2024. A pix2pix-style generator learns to restore checkerboard-corrupted
crack-free images; at test time a crack is what it cannot restore.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RestorerMapper", "load_restorer_run", "train_restorer"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing crackscope.unsupervised does not import torch until it is needed.
    if name == "train_restorer":
        from crackscope.unsupervised.train import train_restorer

        return train_restorer
    if name == "load_restorer_run":
        from crackscope.unsupervised.run import load_restorer_run

        return load_restorer_run
    if name == "RestorerMapper":
        from crackscope.unsupervised.mapper import RestorerMapper

        return RestorerMapper
    raise AttributeError(f"module 'crackscope.unsupervised' has no attribute {name!r}")
