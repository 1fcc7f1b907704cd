"""Crack maps: whole photos -> soft maps, masks, measurements; tiling, refinement, overlays, baseline.

Names are imported on first use (scikit-image's ``lazy_loader``), so ``import crackscope.maps`` stays light: ``from
crackscope.maps import fit, make_mapper, map_images, get_preset``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:  # the names, for type checkers (lazy_loader resolves them at run time)
    from crackscope.maps.base import (
        Mapper as Mapper,
    )
    from crackscope.maps.base import (
        MapResult as MapResult,
    )
    from crackscope.maps.base import (
        Tile as Tile,
    )
    from crackscope.maps.baseline import (
        blackhat_otsu as blackhat_otsu,
    )
    from crackscope.maps.classifier import (
        ClassifierMapper as ClassifierMapper,
    )
    from crackscope.maps.factory import (
        make_mapper as make_mapper,
    )
    from crackscope.maps.fit import (
        FitOptions as FitOptions,
    )
    from crackscope.maps.fit import (
        fit as fit,
    )
    from crackscope.maps.measure import (
        measure_cracks as measure_cracks,
    )
    from crackscope.maps.overlay import (
        draw_overlay as draw_overlay,
    )
    from crackscope.maps.pipeline import (
        map_images as map_images,
    )
    from crackscope.maps.recipe import (
        MapRecipe as MapRecipe,
    )
    from crackscope.maps.recipe import (
        get_preset as get_preset,
    )
    from crackscope.maps.recipe import (
        list_presets as list_presets,
    )
    from crackscope.maps.recipe import (
        register_preset as register_preset,
    )
    from crackscope.maps.refine import (
        RefineOptions as RefineOptions,
    )
    from crackscope.maps.refine import (
        refine_map as refine_map,
    )


__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "base": ["Mapper", "MapResult", "Tile"],
        "recipe": ["MapRecipe", "get_preset", "list_presets", "register_preset"],
        "classifier": ["ClassifierMapper"],
        "factory": ["make_mapper"],
        "fit": ["fit", "FitOptions"],
        "pipeline": ["map_images"],
        "refine": ["refine_map", "RefineOptions"],
        "baseline": ["blackhat_otsu"],
        "overlay": ["draw_overlay"],
        "measure": ["measure_cracks"],
    },
)
