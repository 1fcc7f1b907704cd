"""The names ``crackscope.training`` exports: read by ``lazy_loader.attach_stub`` and by type checkers."""

from .classifier_scores import evaluate as evaluate
from .options import TrainOptions as TrainOptions
from .options import TrainSettings as TrainSettings
from .prediction import predict as predict
from .trainer import train as train
