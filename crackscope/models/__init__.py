"""Crack classifiers: the seed study's CNNs, classic backbones and fast defaults of our own."""

from crackscope.models.registry import ModelInfo, Recipe, create_model, get_model_info, list_models, register_model

DEFAULT_MODEL = "crackfast"

__all__ = ["DEFAULT_MODEL", "ModelInfo", "Recipe", "create_model", "get_model_info", "list_models", "register_model"]
