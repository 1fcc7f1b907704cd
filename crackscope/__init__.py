"""crackscope: find, map and measure cracks in photos with explainable CNNs."""

__version__ = "0.1.0"

from crackscope.errors import BadInputError, CrackscopeError

__all__ = ["BadInputError", "CrackscopeError", "__version__"]
