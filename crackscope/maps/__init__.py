"""Crack maps: whole photos -> soft maps, masks, measurements; tiling, refinement, overlays, baseline.

Heavy pieces are imported lazily: ``from crackscope.maps import ClassifierMapper, MapResult, map_images``.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "MapResult": "crackscope.maps.mapper",
    "ClassifierMapper": "crackscope.maps.mapper",
    "map_images": "crackscope.maps.pipeline",
    "make_mapper": "crackscope.maps.pipeline",
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
