"""The names ``crackscope.report`` exports: read by ``lazy_loader.attach_stub`` and by type checkers."""

from .html import build_report as build_report
