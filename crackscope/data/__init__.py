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

Several folders in one run (each in its own layout, named, weighted; split within each source)::

    sources = read_sources(["ozgenel-10k", "deepcrack-train"])   # or read_sources("sources.toml")
    items = source_items(sources)                # each item's ``source`` is its source's name
    splits = split_items(items, seed=0)          # each source split on its own, then combined

Modules: ``layouts`` (detect and read folders), ``patches`` (labelling rule), ``items`` (training items),
``sources`` (several data sources, leave-one-source-out), ``splits``, ``augment``, ``inspect`` (summary,
sample grid, histograms, shortcut warning), ``synth``.
Names below are imported on first use, so ``import crackscope.data`` stays light.
"""

import lazy_loader

# names are imported on first use (scikit-image's lazy_loader; the names are in __init__.pyi),
# so ``import crackscope.data`` stays light
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
