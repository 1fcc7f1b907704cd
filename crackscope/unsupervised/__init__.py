"""UP-CrackNet: unsupervised crack maps by adversarial restoration of crack-free surfaces.

Ma, Fan, Xie, "UP-CrackNet: Unsupervised Pixel-Wise Road Crack Detection via Adversarial Image
Restoration", IEEE T-ITS 2024. A pix2pix-style generator learns to restore checkerboard-corrupted
crack-free images; at test time a crack is what it cannot restore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:  # the names, for type checkers (lazy_loader resolves them at run time)
    from crackscope.unsupervised.mapper import (
        RestorerMapper as RestorerMapper,
    )
    from crackscope.unsupervised.run import (
        load_restorer_run as load_restorer_run,
    )
    from crackscope.unsupervised.train import (
        RestorerTrainOptions as RestorerTrainOptions,
    )
    from crackscope.unsupervised.train import (
        train_restorer as train_restorer,
    )


# names are imported on first use, so importing crackscope.unsupervised does not import torch
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "train": ["RestorerTrainOptions", "train_restorer"],
        "run": ["load_restorer_run"],
        "mapper": ["RestorerMapper"],
    },
)
