"""Training, evaluation and prediction for crack classifiers.

``train(data, out=..., options=TrainOptions(model=...))`` writes a run folder; ``evaluate(run, data)``
measures it on any dataset; ``predict(run, inputs, csv=...)`` classifies images.
``crackscope.training.run.load_run`` opens a run for other areas (CAM, maps, the web app).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:  # the names, for type checkers (lazy_loader resolves them at run time)
    from crackscope.training.classifier_scores import (
        evaluate as evaluate,
    )
    from crackscope.training.options import (
        TrainOptions as TrainOptions,
    )
    from crackscope.training.options import (
        TrainSettings as TrainSettings,
    )
    from crackscope.training.prediction import (
        predict as predict,
    )
    from crackscope.training.trainer import (
        train as train,
    )


# names are imported on first use (scikit-image's lazy_loader), so importing crackscope.training (or the CLI)
# does not import torch until it is needed; the options are light and checked where they are made
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "options": ["TrainOptions", "TrainSettings"],
        "trainer": ["train"],
        "classifier_scores": ["evaluate"],
        "prediction": ["predict"],
    },
)
