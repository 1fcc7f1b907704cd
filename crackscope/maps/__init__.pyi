"""The names ``crackscope.maps`` exports: read by ``lazy_loader.attach_stub`` and by type checkers."""

from .base import Mapper as Mapper
from .base import MapResult as MapResult
from .base import Tile as Tile
from .baseline import blackhat_otsu as blackhat_otsu
from .classifier import ClassifierMapper as ClassifierMapper
from .factory import make_mapper as make_mapper
from .fit import FitOptions as FitOptions
from .fit import fit as fit
from .measure import measure_cracks as measure_cracks
from .overlay import draw_overlay as draw_overlay
from .pipeline import map_images as map_images
from .recipe import MapRecipe as MapRecipe
from .recipe import get_preset as get_preset
from .recipe import list_presets as list_presets
from .recipe import register_preset as register_preset
from .refine import RefineOptions as RefineOptions
from .refine import refine_map as refine_map
