"""A name registry of crack classifiers, in the manner of timm: ``create_model(name, **options)``.

Every registered model takes a float tensor N x 3 x H x W of RGB pixel values in 0..255 (each model does
its own rescaling or normalisation inside) and returns crack logits of shape N x 1. Probabilities come
from a sigmoid outside the network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn


@dataclass(frozen=True)
class Recipe:
    """A model's default training recipe; every field can be overridden on the command line."""

    optimizer: str = "adam"  # "adam", "adamw" or "sgd"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    epochs: int = 20
    patience: int = 5
    batch_size: int = 32
    image_size: int = 128
    augment: str = "none"
    monitor: str = "val_loss"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    builder: Callable[..., nn.Module]
    description: str
    recipe: Recipe = field(default_factory=Recipe)
    tags: tuple[str, ...] = ()


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str, *, description: str, recipe: Recipe | None = None, tags: tuple[str, ...] = ()
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a model builder under ``name``."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = ModelInfo(name, builder, description, recipe or Recipe(), tags)
        return builder

    return decorate


def _ensure_loaded() -> None:
    # Importing the definition modules fills the registry.
    from crackscope.models import classic, fast, seed, tiny  # noqa: F401


def list_models() -> list[ModelInfo]:
    _ensure_loaded()
    return sorted(_REGISTRY.values(), key=lambda m: m.name)


def get_model_info(name: str) -> ModelInfo:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown model {name!r}; known models: {known}") from None


def create_model(name: str, **options: Any) -> nn.Module:
    """Build the registered model ``name`` with its options (for example ``width=16``)."""
    return get_model_info(name).builder(**options)
