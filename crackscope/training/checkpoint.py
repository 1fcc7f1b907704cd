"""Resumable training state: ``last.safetensors`` (weights) + ``state.pt`` (optimiser, schedule, RNG, history)."""

from __future__ import annotations

import math
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from crackscope.errors import BadInputError
from crackscope.io import atomic_path
from crackscope.runs import read_run_config
from crackscope.training.options import TrainSettings

if TYPE_CHECKING:
    from crackscope.data.sources import DataSource

STATE_FILE = "state.pt"


@dataclass
class TrainState:
    """Where training stands after the last finished epoch."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped: bool = False
    train_seconds: float = 0.0


def has_state(out: Path) -> bool:
    """True when ``out`` holds an interrupted (or finished) run that training can continue."""
    from crackscope.training.run import LAST_WEIGHTS_FILE

    return (out / STATE_FILE).is_file() and (out / LAST_WEIGHTS_FILE).is_file() and (out / "config.json").is_file()


def read_settings(out: Path) -> tuple[TrainSettings, Path | tuple[DataSource, ...] | None]:
    """The settings an interrupted run was started with, and the data it read (from its config.json): the data
    sources it recorded (``config.json["data"]["sources"]``), else its one data folder, else None.

    Raises
    ------
    BadInputError
        If the config holds no usable training settings or its recorded data sources are not sources.
    """
    from crackscope.training.splitting import recorded_sources

    config = read_run_config(out)
    if not isinstance(config.get("options"), dict):
        raise BadInputError(out / "config.json", "no stored training options to resume from")
    try:
        settings = TrainSettings.from_dict(config["options"])
    except ValueError as exc:
        raise BadInputError(out / "config.json", str(exc)) from None
    data = config.get("data") or config["options"].get("data") or {}
    if not isinstance(data, dict):
        return settings, None
    try:
        sources = recorded_sources(data)
    except ValueError as exc:
        raise BadInputError(out / "config.json", str(exc)) from None
    if sources is not None:
        return settings, sources
    root = data.get("root")
    return settings, None if root is None else Path(root)


def save_state(
    out: Path,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    state: TrainState,
) -> Path:
    payload = {
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "state": asdict(state),
    }
    path = out / STATE_FILE
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_state(
    out: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
) -> TrainState:
    """Put the model, optimiser, schedule and RNG back where the last finished epoch left them."""
    from crackscope.training.run import LAST_WEIGHTS_FILE, load_weights

    load_weights(model, out / LAST_WEIGHTS_FILE)
    try:
        payload = torch.load(out / STATE_FILE, map_location="cpu", weights_only=True)
    except (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError) as exc:
        raise BadInputError(out / STATE_FILE, f"unreadable training state ({exc})") from None
    optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None and payload.get("scheduler") is not None:
        scheduler.load_state_dict(payload["scheduler"])
    torch.set_rng_state(payload["torch_rng"])
    return TrainState(**payload["state"])
