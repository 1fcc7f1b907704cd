"""Training, evaluation and prediction for crack classifiers.

``train(data, model=..., out=...)`` writes a run folder; ``evaluate(run, data)`` measures it on any
dataset; ``predict(run, inputs, csv=...)`` classifies images. ``crackscope.training.run.load_run`` opens
a run for other areas (CAM, maps, the web app).
"""

from __future__ import annotations

from typing import Any

__all__ = ["evaluate", "predict", "train"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing crackscope.training (or the CLI) does not import torch until it is needed.
    if name == "train":
        from crackscope.training.trainer import train

        return train
    if name == "evaluate":
        from crackscope.training.evaluation import evaluate

        return evaluate
    if name == "predict":
        from crackscope.training.prediction import predict

        return predict
    raise AttributeError(f"module 'crackscope.training' has no attribute {name!r}")
