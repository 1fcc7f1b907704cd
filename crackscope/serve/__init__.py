"""The web page and JSON API (FastAPI): upload photos, see probability, heatmap, mask and measurements."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing crackscope.serve does not start FastAPI or torch.
    if name == "create_app":
        from crackscope.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'crackscope.serve' has no attribute {name!r}")
