"""Self-contained HTML reports about a run: data, training, metrics, threshold, gallery, measurements, scores."""

import lazy_loader

# names are imported on first use (scikit-image's lazy_loader; the names are in __init__.pyi),
# so importing crackscope.report.render stays light
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
