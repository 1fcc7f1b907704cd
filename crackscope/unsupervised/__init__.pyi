"""The names ``crackscope.unsupervised`` exports: read by ``lazy_loader.attach_stub`` and by type checkers."""

from .mapper import RestorerMapper as RestorerMapper
from .run import load_restorer_run as load_restorer_run
from .train import RestorerTrainOptions as RestorerTrainOptions
from .train import train_restorer as train_restorer
