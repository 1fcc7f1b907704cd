"""The names ``crackscope.export`` exports: read by ``lazy_loader.attach_stub`` and by type checkers."""

from .onnx import ExportedModel as ExportedModel
from .onnx import ExportResult as ExportResult
from .onnx import OnnxClassifier as OnnxClassifier
from .onnx import OnnxPixelEnsemble as OnnxPixelEnsemble
from .onnx import OnnxPixelModel as OnnxPixelModel
from .onnx import export_onnx as export_onnx
from .onnx import load_onnx_classifier as load_onnx_classifier
from .onnx import load_onnx_pixel_models as load_onnx_pixel_models
