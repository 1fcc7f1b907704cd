"""Explanations: a batched class-activation-map engine (CAM, Grad-CAM, Grad-CAM++, XGrad-CAM, LayerCAM,
HiResCAM, Score-CAM, Eigen-CAM) for binary crack classifiers."""

from __future__ import annotations

from crackscope.cam.base import CamExtractor, CamInputs, CamMethod, capture, target_scores
from crackscope.cam.explanation import Explanation, OverlayStyle, normalise_maps
from crackscope.cam.layers import LayerInfo, auto_layer, layers
from crackscope.cam.methods import METHODS, create_cam, explain

__all__ = [
    "METHODS",
    "CamExtractor",
    "CamInputs",
    "CamMethod",
    "Explanation",
    "LayerInfo",
    "OverlayStyle",
    "auto_layer",
    "capture",
    "create_cam",
    "explain",
    "layers",
    "normalise_maps",
    "target_scores",
]
