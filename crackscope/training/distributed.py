"""Training in several processes (``torchrun``): the process group, each process's device, and agreement.

``torchrun --nproc_per_node N`` starts N copies of a training command with ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` (and the rendezvous address) in their environment. :func:`distributed_training` sees them, joins
the process group (NCCL between CUDA GPUs, Gloo otherwise), gives each process its device (the GPU of its
``LOCAL_RANK``) and leaves the group when training ends. Without those variables, or with ``WORLD_SIZE`` 1, it is
a plain single-process run.

Only the first process (rank 0) writes files and draws progress; the others train their share of every epoch
and follow the first's decisions (:func:`broadcast`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, cast

from crackscope.errors import DeviceError

if TYPE_CHECKING:
    import torch

    from crackscope.devices import DeviceSpec

T = TypeVar("T")


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in a multi-process run.

    Attributes
    ----------
    rank : int
        The process's number among all (0: the one that writes).
    local_rank : int
        Its number on this machine (its GPU's index).
    world_size : int
        How many processes train together.
    backend : str
        ``nccl`` (CUDA) or ``gloo`` (CPU).
    """

    rank: int
    local_rank: int
    world_size: int
    backend: str

    @property
    def is_main(self) -> bool:
        """True for the process that writes files and draws progress (rank 0)."""
        return self.rank == 0

    def as_dict(self) -> dict[str, object]:
        """What ``config.json["distributed"]`` records."""
        return {"world_size": self.world_size, "backend": self.backend}


def torchrun_environment(env: Mapping[str, str] | None = None) -> tuple[int, int, int] | None:
    """``(rank, local_rank, world_size)`` when this process was started by ``torchrun`` with more than one
    process; None otherwise.

    Raises
    ------
    ValueError
        If the variables are set but are not whole numbers.

    Examples
    --------
    >>> torchrun_environment({"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"})
    (1, 1, 2)
    >>> torchrun_environment({}) is None
    True
    """
    env = os.environ if env is None else env
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK", env["RANK"]))
    except ValueError:
        raise ValueError("RANK, LOCAL_RANK and WORLD_SIZE must be whole numbers (as torchrun sets them)") from None
    return None if world <= 1 else (rank, local, world)


def _rank_device(spec: DeviceSpec, local_rank: int) -> torch.device:
    """The device of the process with ``local_rank``: the GPU of that index for ``auto`` and ``cuda``."""
    import torch

    from crackscope.devices import check_device_name, resolve_device

    name = check_device_name(spec)
    if name in ("auto", "cuda") and torch.cuda.is_available() and local_rank < torch.cuda.device_count():
        torch.cuda.set_device(local_rank)
    device = resolve_device(name)
    if device.type == "cuda" and device.index != local_rank:
        raise DeviceError(
            name, f"names one GPU, but torchrun started several processes; use cuda (process {local_rank} on cuda:N)"
        )
    if device.type == "mps":
        raise DeviceError(name, "cannot train in several processes (torchrun); use one process or the CPU")
    return device


@contextlib.contextmanager
def distributed_training(spec: DeviceSpec = "auto") -> Iterator[tuple[torch.device, ProcessGroup | None]]:
    """This process's training device and, under ``torchrun``, its place in the process group.

    Without ``torchrun`` the block gets ``(resolve_device(spec), None)``. Under it the process group is joined
    (``nccl`` when the device is a CUDA GPU, ``gloo`` otherwise) and left when the block ends, whatever happens
    in it; each process trains on the GPU of its ``LOCAL_RANK`` (for ``auto`` and ``cuda``) or the CPU. A group
    made by the caller (``torch.distributed`` already initialised) is used as it is and left open.

    Raises
    ------
    DeviceError
        If the device is not on this machine, or names one GPU (``cuda:1``) or MPS for several processes.
    ValueError
        If the ``torchrun`` variables are not whole numbers.
    """
    import torch
    import torch.distributed as dist

    from crackscope.devices import resolve_device

    if dist.is_available() and dist.is_initialized():  # the caller's own group
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", rank))
        device = _rank_device(spec, local) if world > 1 else resolve_device(spec)
        group = ProcessGroup(rank, local, world, str(dist.get_backend())) if world > 1 else None
        yield device, group
        return
    place = torchrun_environment()
    if place is None:
        yield resolve_device(spec), None
        return
    rank, local, world = place
    previous = torch.cuda.current_device() if torch.cuda.is_available() else None
    device = _rank_device(spec, local)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=rank, world_size=world)
    try:
        yield device, ProcessGroup(rank, local, world, backend)
    finally:
        dist.destroy_process_group()
        if previous is not None:
            torch.cuda.set_device(previous)


def broadcast(value: T, group: ProcessGroup | None) -> T:
    """Rank 0's ``value`` in every process (any picklable value; ``value`` itself without a group)."""
    if group is None:
        return value
    import torch.distributed as dist

    box: list[object] = [value]
    dist.broadcast_object_list(box, src=0)
    return cast("T", box[0])  # rank 0 sent a value of the same type


def _all_reduce(values: list[float], group: ProcessGroup | None, device: torch.device, op: str) -> list[float]:
    if group is None:
        return list(values)
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return [float(v) for v in tensor.cpu()]


def agree_max(value: float, group: ProcessGroup | None, device: torch.device) -> float:
    """The largest of every process's ``value`` (``value`` itself without a group; all processes must call it)."""
    return _all_reduce([value], group, device, "max")[0]


def agree_mean(values: list[float], group: ProcessGroup | None, device: torch.device) -> list[float]:
    """The mean over all processes of each of ``values`` (``values`` without a group; all processes must call it)."""
    if group is None:
        return list(values)
    return [v / group.world_size for v in _all_reduce(values, group, device, "sum")]


def barrier(group: ProcessGroup | None) -> None:
    """Wait until every process gets here (nothing without a group)."""
    if group is not None:
        import torch.distributed as dist

        dist.barrier()
