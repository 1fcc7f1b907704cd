"""The web page and JSON API (FastAPI): upload photos, see probability, heatmap, mask and measurements."""

import lazy_loader

# names are imported on first use (scikit-image's lazy_loader; the names are in __init__.pyi),
# so importing crackscope.serve starts no FastAPI
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
