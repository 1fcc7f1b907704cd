"""Opening a restorer run folder and restoring whole photos with it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crackscope.errors import BadInputError
from crackscope.unsupervised.config import RestorerConfig


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


def load_restorer_run(path: str | Path) -> RestorerRun:
    """Load ``path`` (a folder made by ``crackscope train-restorer``) with its best generator."""
    from safetensors.torch import load_file

    from crackscope.runs import read_run_config, resolve_run_dir
    from crackscope.unsupervised.generator import UNetGenerator

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
    generator.eval()
    return RestorerRun(path=path, config=cfg, restorer=restorer, generator=generator)
