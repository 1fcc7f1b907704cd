"""The web page and JSON API (FastAPI): upload photos, see probability, heatmap, mask and measurements."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:  # the names, for type checkers (lazy_loader resolves them at run time)
    from crackscope.serve.app import (
        create_app as create_app,
    )


# names are imported on first use (scikit-image's lazy_loader): importing crackscope.serve starts no FastAPI
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={"app": ["create_app"]})
