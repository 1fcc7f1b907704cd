"""Crack maps: whole photos -> soft maps, masks, measurements; tiling, refinement, overlays, baseline.

Names are imported on first use (scikit-image's ``lazy_loader``), so ``import crackscope.maps`` stays light: ``from
crackscope.maps import fit, make_mapper, map_images, get_preset``.
"""

import lazy_loader

# names are imported on first use (scikit-image's lazy_loader; the names are in __init__.pyi),
# so ``import crackscope.maps`` stays light
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
