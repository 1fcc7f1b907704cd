"""Crack maps: whole photos -> soft maps, masks, measurements; tiling, refinement, overlays, baseline.

Heavy pieces are imported lazily: ``from crackscope.maps import fit, make_mapper, map_images, get_preset``.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Mapper": "crackscope.maps.base",
    "MapResult": "crackscope.maps.base",
    "Tile": "crackscope.maps.base",
    "MapRecipe": "crackscope.maps.recipe",
    "get_preset": "crackscope.maps.recipe",
    "list_presets": "crackscope.maps.recipe",
    "register_preset": "crackscope.maps.recipe",
    "ClassifierMapper": "crackscope.maps.classifier",
    "make_mapper": "crackscope.maps.factory",
    "fit": "crackscope.maps.fit",
    "FitOptions": "crackscope.maps.fit",
    "map_images": "crackscope.maps.pipeline",
    "refine_map": "crackscope.maps.refine",
    "RefineOptions": "crackscope.maps.refine",
    "blackhat_otsu": "crackscope.maps.baseline",
    "draw_overlay": "crackscope.maps.overlay",
    "measure_cracks": "crackscope.maps.measure",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'crackscope.maps' has no attribute {name!r}")
