"""The public API's shape: no function takes more than eight parameters outside an options object."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator

import crackscope

MAX_PARAMETERS = 8


def _public_callables() -> Iterator[tuple[str, Callable[..., object]]]:
    """Public functions and methods defined in crackscope, except the command line (typer's commands take one
    parameter per option by design) and the generated ``__init__`` of dataclasses (they are the options)."""
    for info in pkgutil.walk_packages(crackscope.__path__, "crackscope."):
        if ".cli" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != info.name:
                continue
            if inspect.isfunction(obj):
                yield f"{info.name}.{name}", obj
            elif inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not inspect.isfunction(member) or (attr.startswith("_") and attr != "__init__"):
                        continue
                    if attr == "__init__" and dataclasses.is_dataclass(obj):
                        continue
                    yield f"{info.name}.{name}.{attr}", member


def _parameters(fn: Callable[..., object]) -> list[str]:
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    params = inspect.signature(fn).parameters.values()
    return [p.name for p in params if p.kind not in skip and p.name not in ("self", "cls")]


def test_no_public_function_takes_more_than_eight_parameters() -> None:
    names = dict(_public_callables())
    assert "crackscope.maps.pipeline.map_images" in names and "crackscope.training.trainer.train" in names
    too_many = {name: len(_parameters(fn)) for name, fn in names.items() if len(_parameters(fn)) > MAX_PARAMETERS}
    assert too_many == {}
