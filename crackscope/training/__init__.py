"""Training, evaluation and prediction for crack classifiers.

``train(data, out=..., options=TrainOptions(model=...))`` writes a run folder; ``evaluate(run, data)``
measures it on any dataset; ``predict(run, inputs, csv=...)`` classifies images.
``crackscope.training.run.load_run`` opens a run for other areas (CAM, maps, the web app).
"""

import lazy_loader

# names are imported on first use (scikit-image's lazy_loader; the names are in __init__.pyi),
# so importing crackscope.training (or the CLI) imports no torch
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
