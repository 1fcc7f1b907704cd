"""One training epoch and one evaluation pass; the loss with Keras-style label smoothing.

Both run on the device of the model's parameters: batches are moved there (without blocking when they come from
pinned memory). Under DistributedDataParallel the model is the wrapper; its L2 term is read from the wrapped
network, and the time limit is agreed by all processes after every step (no process stops alone).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from crackscope.training.options import PRECISIONS


def autocast(precision: str, device_type: str = "cpu") -> contextlib.AbstractContextManager[object]:
    """bfloat16 autocast on ``device_type`` (``cpu``, ``cuda``, ``mps``) for ``bf16``, nothing for ``fp32``.

    Raises
    ------
    ValueError
        If ``precision`` is not ``bf16`` or ``fp32``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "bf16":
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper (``model`` itself otherwise)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device``; the copy does not block when the tensor is in pinned memory."""
    if tensor.device == device:
        return tensor
    return tensor.to(device, non_blocking=tensor.is_pinned())


def past_deadline(deadline: float, device: torch.device) -> bool:
    """True once ``time.perf_counter()`` passes ``deadline``; in a process group, once it has passed for any
    process (every process must call this at the same step)."""
    import torch.distributed as dist

    passed = time.perf_counter() >= deadline
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return passed
    flag = torch.tensor([1 if passed else 0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def smoothed_bce(logits: torch.Tensor, labels: torch.Tensor, *, label_smoothing: float = 0.0) -> torch.Tensor:
    """Binary cross-entropy on logits with Keras label smoothing: targets y * (1 - s) + 0.5 * s."""
    targets = labels.float()
    if label_smoothing:
        targets = targets * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return F.binary_cross_entropy_with_logits(logits.float().reshape(-1), targets.reshape(-1))


def l2_penalty_of(model: nn.Module) -> Callable[[], torch.Tensor] | None:
    """The model's Keras-style kernel L2 term, or None when it has none.

    Contract (``crackscope.models.seed``): ``model.l2_penalty`` maps parameter names to coefficients c;
    the loss gains ``sum(c * ||w||^2)`` over them exactly (never as optimiser weight decay).
    """
    penalty = getattr(model, "l2_penalty", None)
    if callable(penalty):
        return cast("Callable[[], torch.Tensor]", penalty)
    if not penalty:
        return None
    params = dict(model.named_parameters())
    missing = [name for name in penalty if name not in params]
    if missing:
        raise ValueError(f"l2_penalty names unknown parameters: {', '.join(missing)}")
    terms = [(params[name], float(coef)) for name, coef in penalty.items()]
    device = terms[0][0].device if terms else torch.device("cpu")

    def l2() -> torch.Tensor:
        return sum((coef * p.float().pow(2).sum() for p, coef in terms), torch.zeros((), device=device))

    return l2


@dataclass(frozen=True)
class EpochOptions:
    """How every epoch of a run trains.

    Attributes
    ----------
    label_smoothing : float
        Keras-style label smoothing of the loss, in [0, 1).
    precision : str
        ``bf16`` (autocast on the model's device) or ``fp32``.
    max_steps : int or None
        Batches per epoch at most (None: all).
    """

    label_smoothing: float = 0.0
    precision: str = "fp32"
    max_steps: int | None = None


@dataclass
class EpochResult:
    """Mean loss and accuracy of one training epoch, and the number of batches it took."""

    loss: float
    accuracy: float
    steps: int


def train_epoch(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    *,
    options: EpochOptions = EpochOptions(),
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    deadline: float | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> EpochResult:
    """Train for one pass over ``batches``; the scheduler (if any) steps after every batch.

    Parameters
    ----------
    model, batches, optimizer
        The network (trained in place, on its device; or its DistributedDataParallel wrapper), (images, labels)
        batches (moved to the network's device) and its optimiser.
    options : EpochOptions
        Label smoothing, precision and the step cap.
    scheduler : LRScheduler or None
        Stepped after every batch.
    deadline : float or None
        A ``time.perf_counter()`` value: the epoch ends after the step that passes it (in a process group: after
        the step that passes it in any process, see :func:`past_deadline`).
    on_step : callable or None
        Called with (batch size, loss) after every step.

    Returns
    -------
    EpochResult
        Mean loss (with the L2 term) and accuracy over the samples seen, and the steps taken.

    Raises
    ------
    ValueError
        If ``options.precision`` is not a known precision.
    """
    from crackscope.devices import module_device

    model.train()
    l2 = l2_penalty_of(unwrap(model))
    device = module_device(model)
    total_loss, correct, seen, steps = 0.0, 0, 0, 0
    for x, y in batches:
        if options.max_steps is not None and steps >= options.max_steps:
            break
        if deadline is not None and steps and past_deadline(deadline, device):
            break
        x = to_device(x, device).contiguous(memory_format=torch.channels_last)
        y = to_device(y, device)
        with autocast(options.precision, device.type):
            logits = model(x)
        loss = smoothed_bce(logits, y, label_smoothing=options.label_smoothing)
        objective = loss + l2() if l2 is not None else loss
        optimizer.zero_grad(set_to_none=True)
        objective.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        n = y.numel()
        total_loss += float(objective.detach()) * n
        correct += int(((logits.detach().float().reshape(-1) >= 0) == (y.reshape(-1) >= 0.5)).sum())
        seen += n
        steps += 1
        if on_step is not None:
            on_step(n, float(objective.detach()))
    return EpochResult(loss=total_loss / max(seen, 1), accuracy=correct / max(seen, 1), steps=steps)


@torch.inference_mode()
def predict_logits(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    precision: str = "fp32",
    on_step: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels over ``batches`` in eval mode, on the model's device (returned on the CPU)."""
    from crackscope.devices import module_device

    model.eval()
    device = module_device(model)
    all_logits, all_labels = [], []
    for x, y in batches:
        x = to_device(x, device).contiguous(memory_format=torch.channels_last)
        with autocast(precision, device.type):
            logits = model(x)
        all_logits.append(logits.float().reshape(-1).cpu().numpy())
        all_labels.append(y.reshape(-1).cpu().numpy())
        if on_step is not None:
            on_step(int(y.numel()))
    if not all_logits:
        return np.empty(0, np.float32), np.empty(0, np.float32)
    return np.concatenate(all_logits), np.concatenate(all_labels)


def loss_from_logits(
    logits: np.ndarray, labels: np.ndarray, *, label_smoothing: float = 0.0, extra: float = 0.0
) -> float:
    """The validation loss (same smoothed BCE as training, plus ``extra`` regularisation as Keras does)."""
    if logits.size == 0:
        return float("nan")
    loss = smoothed_bce(torch.from_numpy(logits), torch.from_numpy(labels), label_smoothing=label_smoothing)
    return float(loss) + extra


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
