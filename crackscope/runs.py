"""Open a run folder of either kind (classifier or restorer) by its ``config.json``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from crackscope.errors import BadInputError
from crackscope.io import read_json_object

if TYPE_CHECKING:
    from crackscope.devices import DeviceSpec

#: the run argument that names the model shipped with the package (``crackscope map builtin PHOTOS``)
BUILTIN = "builtin"


def builtin_run_dir() -> Path:
    """The folder of the bundled run, inside the installed package (never downloaded)."""
    from importlib.resources import files

    return Path(str(files("crackscope.builtin")))


def resolve_run_dir(run_dir: str | Path) -> Path:
    """``run_dir`` as a folder: the name ``builtin`` is the bundled run unless a run folder of that name
    exists here (write ``./builtin/`` with a config.json to use your own)."""
    path = Path(run_dir)
    if str(run_dir) == BUILTIN and not (path / "config.json").is_file():
        return builtin_run_dir()
    return path


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """A run folder's ``config.json``.

    Raises
    ------
    BadInputError
        If the folder holds no config.json or it is not valid JSON.
    """
    run_dir = resolve_run_dir(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise BadInputError(run_dir, "not a crackscope run folder (no config.json); train one with `crackscope train`")
    return read_json_object(cfg_path)


def run_kind(run_dir: str | Path) -> str:
    """'classifier' or 'restorer'."""
    return str(read_run_config(run_dir).get("kind", "classifier"))


def open_run(run_dir: str | Path, *, device: DeviceSpec = "auto") -> Any:
    """Load a classifier run or a restorer (UP-CrackNet) run, whichever the folder holds, on ``device``.

    Raises
    ------
    BadInputError
        If the folder is no run of a known kind, or its model cannot be loaded.
    DeviceError
        If ``device`` is not on this machine.
    """
    kind = run_kind(run_dir)
    if kind == "classifier":
        from crackscope.training.run import load_run

        return load_run(run_dir, device=device)
    if kind == "restorer":
        from crackscope.unsupervised.run import load_restorer_run

        return load_restorer_run(run_dir, device=device)
    raise BadInputError(Path(run_dir) / "config.json", f"unknown run kind {kind!r}")
