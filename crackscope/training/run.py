"""A trained classifier run folder: saving weights, loading it back (on any device), and predicting with it.

Weights are stored on the CPU (safetensors) whatever device trained them, and a run loads on the device asked for
(``load_run(path, device="cuda")``); ``config.json["device"]`` records where it was trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from crackscope.errors import BadInputError
from crackscope.runs import read_run_config, resolve_run_dir
from crackscope.training.loop import autocast, sigmoid
from crackscope.training.torchdata import photo_input, resize_square, to_batch_tensor

if TYPE_CHECKING:
    from crackscope.devices import DeviceSpec

WEIGHTS_FILE = "model.safetensors"
LAST_WEIGHTS_FILE = "last.safetensors"
AVERAGE_FILE = "average.safetensors"  # the averaged weights at the last finished epoch (resume), when the run averages


def save_weights(model: nn.Module, path: str | Path) -> Path:
    """Write the model's state dict as safetensors, atomically."""
    from safetensors.torch import save_file

    from crackscope.io import atomic_path

    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))
    return Path(path)


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load safetensors weights into ``model`` (strict: every tensor must match)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "weights file not found")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:  # damaged or unreadable file
        raise BadInputError(path, f"unreadable safetensors file ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BadInputError(path, f"weights do not fit the model ({str(exc).splitlines()[0]})") from None
    return model


def build_model(config: dict[str, Any]) -> nn.Module:
    """The untrained network a run config describes."""
    from crackscope.models import create_model

    return create_model(config["model"], **dict(config.get("model_options") or {}))


@dataclass
class ClassifierRun:
    """A loaded classifier run: the network in eval mode (on :attr:`device`) and its settings.

    Predictions run an inference copy of ``model`` (:meth:`inference_model`), made on the first prediction and
    kept until :meth:`to` moves the run: change ``model``'s weights and load the run again to predict with them."""

    path: Path
    config: dict[str, Any]
    model: nn.Module
    _inference: nn.Module | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        """The registered model name."""
        return str(self.config["model"])

    @property
    def image_size(self) -> int:
        return int(self.config["image_size"])

    @property
    def threshold(self) -> float:
        return float(self.config.get("threshold", 0.5))

    @property
    def precision(self) -> str:
        return str(self.config.get("precision", "fp32"))

    @property
    def device(self) -> torch.device:
        """Where the network is (``load_run``'s ``device``)."""
        from crackscope.devices import module_device

        return module_device(self.model)

    def to(self, device: DeviceSpec) -> ClassifierRun:
        """Move the network to ``device`` (a name, checked as :func:`crackscope.devices.resolve_device` does, or a
        ``torch.device``); returns this run.

        Raises
        ------
        DeviceError
            If the device is not on this machine.
        """
        from crackscope.devices import resolve_device

        self.model.to(resolve_device(device))
        self._inference = None
        return self

    def inference_model(self) -> nn.Module:
        """The network as predictions run it (:func:`~crackscope.models.speed.inference_copy`): a copy with its
        batch norms folded into their convolutions and each convolution run with the ReLU after it as one call where
        the device allows, channels_last, eval mode; the same function up to float rounding
        (``benchmarks/bench_conv_relu.py --classifier``). Made once, on the network's device."""
        from crackscope.models.speed import inference_copy

        if self._inference is None:
            self._inference = inference_copy(self.model)
        return self._inference

    def _precision_here(self) -> str:
        """The run's precision where the network is now: bf16 only where this device can autocast to it."""
        from crackscope.models.speed import bf16_supported

        device = self.device.type
        if self.precision == "bf16" and device != "cpu" and not bf16_supported(device):
            return "fp32"
        return self.precision

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        """HxWx3 uint8 RGB photo -> float tensor 3 x S x S in 0..255: its fill without image data painted over and
        area-resized to the run's image size (:func:`~crackscope.training.torchdata.photo_input`)."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")
        if image.dtype != np.uint8:
            raise ValueError(f"expected a uint8 image, got {image.dtype}")
        return to_batch_tensor(photo_input(image, self.image_size)[None])[0].contiguous()

    def predict_logits(self, images: Sequence[np.ndarray], *, batch_size: int = 64) -> np.ndarray:
        """Crack logits for a list of RGB images, in batches (channels_last, the run's precision, on the run's
        device).

        Raises
        ------
        ValueError
            If ``batch_size`` is not positive.
        """
        if batch_size < 1:
            raise ValueError(f"batch size must be positive, got {batch_size}")
        out = []
        net = self.inference_model()
        device, precision = self.device, self._precision_here()
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                chunk = images[start : start + batch_size]
                pixels = np.stack([resize_square(np.asarray(im), self.image_size) for im in chunk])
                x = to_batch_tensor(pixels).to(device).contiguous(memory_format=torch.channels_last)
                with autocast(precision, device.type):
                    logits = net(x)
                out.append(logits.float().reshape(-1).cpu().numpy())
        return np.concatenate(out) if out else np.empty(0, np.float32)

    def predict_proba(self, images: Sequence[np.ndarray], *, batch_size: int = 64) -> np.ndarray:
        """Crack probabilities (sigmoid of the logits) for a list of RGB images."""
        return sigmoid(self.predict_logits(images, batch_size=batch_size))

    def classify(self, images: Sequence[np.ndarray], *, batch_size: int = 64) -> np.ndarray:
        """True (cracked) where the probability reaches the run's threshold."""
        return self.predict_proba(images, batch_size=batch_size) >= self.threshold


def load_run(path: str | Path, *, weights: str = WEIGHTS_FILE, device: DeviceSpec = "auto") -> ClassifierRun:
    """Open a classifier run folder (its best weights by default) with the network on ``device``.

    Parameters
    ----------
    path : str or Path
        A run folder, or ``builtin`` (the bundled run).
    weights : str
        The weights file inside the folder.
    device : str or torch.device
        ``auto`` (a CUDA GPU when one is visible, else MPS, else the CPU), ``cpu``, ``cuda``, ``cuda:N`` or
        ``mps``: a run loads on any device, whichever it was trained on.

    Returns
    -------
    ClassifierRun
        The network in eval mode on ``device``.

    Raises
    ------
    BadInputError
        If the folder is no classifier run or its weights are missing or do not fit.
    DeviceError
        If ``device`` is not on this machine.
    """
    from crackscope.devices import resolve_device

    target = resolve_device(device)
    path = resolve_run_dir(path)
    config = read_run_config(path)
    if config.get("kind", "classifier") != "classifier":
        raise BadInputError(path, f"not a classifier run (kind {config.get('kind')!r})")
    for key in ("model", "image_size"):
        if key not in config:
            raise BadInputError(path / "config.json", f"missing {key!r}")
    weights_path = path / weights
    if not weights_path.is_file():
        problem = "no trained weights in this run (was training interrupted before an epoch ended?)"
        raise BadInputError(weights_path, problem)
    model = build_model(config)
    load_weights(model, weights_path)
    model.to(target).eval()
    return ClassifierRun(path=path, config=config, model=model)


def as_run(run: ClassifierRun | str | Path, *, device: DeviceSpec = "auto") -> ClassifierRun:
    """``run`` itself when loaded, else the run folder loaded on ``device`` (:func:`load_run`)."""
    return run if isinstance(run, ClassifierRun) else load_run(run, device=device)
