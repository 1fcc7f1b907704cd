"""crackscope: find, map and measure cracks in photos with explainable CNNs."""

__version__ = "0.1.0"

from crackscope.errors import BadInputError, CrackscopeError  # noqa: E402

__all__ = ["__version__", "BadInputError", "CrackscopeError"]
