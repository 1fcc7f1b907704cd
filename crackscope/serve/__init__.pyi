"""The names ``crackscope.serve`` exports: read by ``lazy_loader.attach_stub`` and by type checkers."""

from .app import create_app as create_app
