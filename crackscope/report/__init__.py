"""Self-contained HTML reports about a run: data, training, metrics, threshold, gallery, measurements, scores."""

from __future__ import annotations

from typing import Any

__all__ = ["build_report"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing crackscope.report.render stays light.
    if name == "build_report":
        from crackscope.report.html import build_report

        return build_report
    raise AttributeError(f"module 'crackscope.report' has no attribute {name!r}")
