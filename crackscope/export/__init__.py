"""Exporting runs for other runtimes: ONNX files checked against torch, and an onnxruntime runtime for them.

``export_onnx(run, out)`` writes the classifier (and its pixel models) as ONNX; ``load_onnx_classifier(out)`` and
``load_onnx_pixel_models(out, names)`` run them with onnxruntime (the optional extra ``crackscope[onnx]``).
Names are imported on first use (scikit-image's ``lazy_loader``; the names are in ``__init__.pyi``), so importing
``crackscope.export`` imports neither torch nor onnxruntime.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
