"""Data: layouts people have, labelled patches, splits, augmentation, synthetic cracks and inspection.

The usual path from a folder to training data::

    from crackscope.data import (
        dataset_items as dataset_items,
        split_items as split_items,
        write_split_csv as write_split_csv,
        augment_pair as augment_pair,
    )

    items = dataset_items("photos/")            # any layout; image+mask sets become labelled patches
    splits = split_items(items, seed=0)          # train/val/test, stratified, grouped by source photo
    write_split_csv("split.csv", splits)         # reused later with read_split_csv("split.csv", items=items)
    image, mask = augment_pair(item.load(), item.load_mask(), preset="keras-v3", rng=rng)

Modules: ``layouts`` (detect and read folders), ``patches`` (labelling rule), ``items`` (training items),
``splits``, ``augment``, ``inspect`` (summary, sample grid, histograms, shortcut warning), ``synth``.
Names below are imported on first use, so ``import crackscope.data`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:  # the names, for type checkers (lazy_loader resolves them at run time)
    from crackscope.data.augment import (
        PRESETS as PRESETS,
    )
    from crackscope.data.augment import (
        augment_pair as augment_pair,
    )
    from crackscope.data.augment import (
        expand_rot90_flip as expand_rot90_flip,
    )
    from crackscope.data.inspect import (
        inspect_dataset as inspect_dataset,
    )
    from crackscope.data.items import (
        LabelledItem as LabelledItem,
    )
    from crackscope.data.items import (
        PhotoCache as PhotoCache,
    )
    from crackscope.data.items import (
        dataset_items as dataset_items,
    )
    from crackscope.data.layouts import (
        LAYOUTS as LAYOUTS,
    )
    from crackscope.data.layouts import (
        Dataset as Dataset,
    )
    from crackscope.data.layouts import (
        Sample as Sample,
    )
    from crackscope.data.layouts import (
        detect_layout as detect_layout,
    )
    from crackscope.data.layouts import (
        load_dataset as load_dataset,
    )
    from crackscope.data.patches import (
        Patch as Patch,
    )
    from crackscope.data.patches import (
        cut_patches as cut_patches,
    )
    from crackscope.data.patches import (
        label_patch as label_patch,
    )
    from crackscope.data.splits import (
        read_split_csv as read_split_csv,
    )
    from crackscope.data.splits import (
        split_items as split_items,
    )
    from crackscope.data.splits import (
        write_split_csv as write_split_csv,
    )
    from crackscope.data.synth import (
        generate_pair as generate_pair,
    )
    from crackscope.data.synth import (
        synthesize as synthesize,
    )


__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "layouts": ["Sample", "Dataset", "LAYOUTS", "detect_layout", "load_dataset"],
        "patches": ["Patch", "label_patch", "cut_patches"],
        "items": ["LabelledItem", "PhotoCache", "dataset_items"],
        "splits": ["split_items", "write_split_csv", "read_split_csv"],
        "augment": ["PRESETS", "augment_pair", "expand_rot90_flip"],
        "inspect": ["inspect_dataset"],
        "synth": ["synthesize", "generate_pair"],
    },
)
