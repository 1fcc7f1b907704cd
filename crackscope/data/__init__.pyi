"""The names ``crackscope.data`` exports: read by ``lazy_loader.attach_stub`` and by type checkers."""

from .augment import PRESETS as PRESETS
from .augment import augment_pair as augment_pair
from .augment import expand_rot90_flip as expand_rot90_flip
from .inspect import inspect_dataset as inspect_dataset
from .items import LabelledItem as LabelledItem
from .items import PhotoCache as PhotoCache
from .items import dataset_items as dataset_items
from .layouts import LAYOUTS as LAYOUTS
from .layouts import Dataset as Dataset
from .layouts import Sample as Sample
from .layouts import detect_layout as detect_layout
from .layouts import load_dataset as load_dataset
from .patches import Patch as Patch
from .patches import cut_patches as cut_patches
from .patches import label_patch as label_patch
from .splits import read_split_csv as read_split_csv
from .splits import split_items as split_items
from .splits import write_split_csv as write_split_csv
from .synth import generate_pair as generate_pair
from .synth import synthesize as synthesize
