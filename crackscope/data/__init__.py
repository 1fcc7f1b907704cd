"""Data: layouts people have, labelled patches, splits, augmentation, synthetic cracks and inspection.

The usual path from a folder to training data::

    from crackscope.data import dataset_items, split_items, write_split_csv, augment_pair

    items = dataset_items("photos/")            # any layout; image+mask sets become labelled patches
    splits = split_items(items, seed=0)          # train/val/test, stratified, grouped by source photo
    write_split_csv("split.csv", splits)         # reused later with read_split_csv("split.csv", items=items)
    image, mask = augment_pair(item.load(), item.load_mask(), preset="keras-v3", rng=rng)

Modules: ``layouts`` (detect and read folders), ``patches`` (labelling rule), ``items`` (training items),
``splits``, ``augment``, ``inspect`` (summary, sample grid, histograms, shortcut warning), ``synth``.
Names below are imported on first use, so ``import crackscope.data`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Sample": "layouts",
    "Dataset": "layouts",
    "LAYOUTS": "layouts",
    "detect_layout": "layouts",
    "load_dataset": "layouts",
    "Patch": "patches",
    "label_patch": "patches",
    "cut_patches": "patches",
    "LabelledItem": "items",
    "dataset_items": "items",
    "split_items": "splits",
    "write_split_csv": "splits",
    "read_split_csv": "splits",
    "PRESETS": "augment",
    "augment_pair": "augment",
    "expand_rot90_flip": "augment",
    "inspect_dataset": "inspect",
    "synthesize": "synth",
    "generate_pair": "synth",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"crackscope.data.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'crackscope.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
