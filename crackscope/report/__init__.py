"""Self-contained HTML reports about a run: data, training, metrics, threshold, gallery, measurements, scores."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:  # the names, for type checkers (lazy_loader resolves them at run time)
    from crackscope.report.html import (
        build_report as build_report,
    )


# names are imported on first use (scikit-image's lazy_loader), so importing crackscope.report.render stays light
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={"html": ["build_report"]})
