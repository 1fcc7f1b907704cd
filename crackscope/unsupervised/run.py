"""Opening a restorer run folder (on any device) and restoring whole photos with it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crackscope.errors import BadInputError
from crackscope.unsupervised.config import RestorerConfig

if TYPE_CHECKING:
    import torch

    from crackscope.devices import DeviceSpec


@dataclass
class RestorerRun:
    """A trained UP-CrackNet restorer: ``generator`` (eval mode), its ``restorer`` config and run ``config``."""

    path: Path
    config: dict[str, Any]
    restorer: RestorerConfig
    generator: Any
    kind: str = "restorer"

    @property
    def name(self) -> str:
        return str(self.config.get("name", "upcracknet"))

    @property
    def image_size(self) -> int:
        return self.restorer.image_size

    @property
    def device(self) -> torch.device:
        """Where the generator is (``load_restorer_run``'s ``device``)."""
        from crackscope.devices import module_device

        return module_device(self.generator)

    def to(self, device: DeviceSpec) -> RestorerRun:
        """Move the generator to ``device``; returns this run.

        Raises
        ------
        DeviceError
            If the device is not on this machine.
        """
        from crackscope.devices import resolve_device

        self.generator.to(resolve_device(device))
        return self

    def restore(self, image: np.ndarray, *, overlap: float | None = None, batch_size: int = 32) -> np.ndarray:
        """The restored (unmasked) photo, HxWx3 uint8, by overlapping tiles of the training size."""
        from crackscope.unsupervised.inference import restore_image

        ov = self.restorer.tile_overlap if overlap is None else overlap
        return restore_image(
            self.generator,
            image,
            tile=self.image_size,
            overlap=ov,
            batch_size=batch_size,
            normalization=self.restorer.normalization,
        )


def load_restorer_run(path: str | Path, *, device: DeviceSpec = "auto") -> RestorerRun:
    """Load ``path`` (a folder made by ``crackscope train-restorer``) with its best generator on ``device``.

    Parameters
    ----------
    path : str or Path
        The run folder.
    device : str or torch.device
        ``auto`` (a CUDA GPU when one is visible, else MPS, else the CPU), ``cpu``, ``cuda``, ``cuda:N`` or
        ``mps``: a run loads on any device, whichever it was trained on.

    Returns
    -------
    RestorerRun
        The generator in eval mode on ``device``.

    Raises
    ------
    BadInputError
        If the folder is no restorer run or its generator cannot be loaded.
    DeviceError
        If ``device`` is not on this machine.
    """
    from safetensors.torch import load_file

    from crackscope.devices import resolve_device
    from crackscope.runs import read_run_config, resolve_run_dir
    from crackscope.unsupervised.generator import UNetGenerator

    target = resolve_device(device)
    path = resolve_run_dir(path)
    cfg = read_run_config(path)
    if cfg.get("kind") != "restorer":
        raise BadInputError(path / "config.json", f"not a restorer run (kind {cfg.get('kind')!r})")
    try:
        restorer = RestorerConfig.from_dict(cfg["restorer"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInputError(path / "config.json", f"invalid restorer settings ({exc})") from None
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise BadInputError(path, "restorer run has no model.safetensors (training not finished?)")
    generator = UNetGenerator(ngf=restorer.ngf, n_downs=restorer.n_downs)
    try:
        generator.load_state_dict(load_file(str(weights)))
    except Exception as exc:  # noqa: BLE001 - a corrupt or mismatched file is bad input
        raise BadInputError(weights, f"cannot load the generator ({str(exc).splitlines()[0]})") from None
    generator.to(target).eval()
    return RestorerRun(path=path, config=cfg, restorer=restorer, generator=generator)
