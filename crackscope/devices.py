"""Torch devices: which one a command runs on, and what runs well there.

``resolve_device("auto")`` picks a CUDA GPU when one is visible, else Apple's GPU (MPS), else the CPU. A device that
is named but not there raises :class:`~crackscope.errors.DeviceError`, whose message is one line naming it, before
any work starts. The other helpers say what suits a device: the autocast dtype of a precision
(:func:`autocast_dtype`, bfloat16 on a CPU with native bfloat16 as ``crackscope.models.speed`` measured, bfloat16 or
float16 on a GPU), whether channels_last helps (:func:`channels_last_helps`), and how a DataLoader should feed it
(:func:`loader_settings`: worker processes and pinned memory for a GPU). :func:`describe_device` is what a run
records about the device it trained on.

Torch is imported inside the functions, so options can check a device name (:func:`check_device_name`) without it.
"""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from crackscope.errors import DeviceError

if TYPE_CHECKING:
    import torch

#: what a ``device`` keyword takes: a name (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``) or a ``torch.device``
DeviceSpec: TypeAlias = "str | torch.device"

#: the device names a caller may give (``cuda:N`` names one GPU of several)
DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")
#: the precisions of :func:`autocast_dtype` (``auto``: what runs natively on the device)
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
_HINT = "use auto, cpu, cuda, cuda:N or mps"


def check_device_name(spec: object) -> str:
    """``spec`` as a normalised device name, checked for its form only (no hardware is looked at).

    Parameters
    ----------
    spec : str or torch.device
        ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (any case), or a ``torch.device``.

    Returns
    -------
    str
        The lower-case name (``cuda:0`` stays ``cuda:0``; ``mps:0`` becomes ``mps``).

    Raises
    ------
    DeviceError
        If ``spec`` is not a device name.

    Examples
    --------
    >>> check_device_name("CUDA:1")
    'cuda:1'
    """
    if isinstance(spec, str):
        name = spec.strip().lower()
    elif type(spec).__module__ == "torch" and type(spec).__name__ == "device":  # torch.device, torch not imported
        name = str(spec)
    else:
        raise DeviceError(repr(spec), f"is not a device; {_HINT}")
    kind, _, index = name.partition(":")
    if kind in ("auto", "cpu") and not index:
        return kind
    if kind == "mps" and index in ("", "0"):
        return "mps"
    if kind == "cuda" and (not index or (index.isdigit() and index == str(int(index)))):
        return name
    raise DeviceError(str(spec), f"is not a device; {_HINT}")


def _cuda_problem(index: int | None) -> str | None:
    import torch

    if torch.version.cuda is None and torch.version.hip is None:  # a CPU-only build
        return "torch was built without CUDA"
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible"
    count = torch.cuda.device_count()
    if index is not None and index >= count:
        return f"it has {count} CUDA GPU{'s' if count != 1 else ''}: cuda:0 to cuda:{count - 1}"
    return None


def _mps_problem() -> str | None:
    import torch

    if not torch.backends.mps.is_built():
        return "torch was built without MPS"
    if not torch.backends.mps.is_available():
        return "no Apple GPU, or macOS older than 12.3"
    return None


def resolve_device(spec: DeviceSpec = "auto") -> torch.device:
    """The torch device ``spec`` names, checked to be on this machine.

    Parameters
    ----------
    spec : str or torch.device
        ``auto`` (a CUDA GPU when one is visible, else MPS when available, else the CPU), ``cpu``, ``cuda`` (the
        current CUDA GPU), ``cuda:N`` or ``mps``.

    Returns
    -------
    torch.device
        ``cpu``, ``cuda:N`` (``cuda`` is given its index, the current GPU's) or ``mps``.

    Raises
    ------
    DeviceError
        If ``spec`` is not a device name, or names a device this machine does not have (one line naming it, for
        example ``device 'cuda' is not available on this machine (torch was built without CUDA)``).

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    import torch

    name = check_device_name(spec)
    if name == "auto":
        if _cuda_problem(None) is None:
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_problem() is None:
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        problem = _mps_problem()
    else:
        _, _, index = name.partition(":")
        problem = _cuda_problem(int(index) if index else None)
    if problem is not None:
        raise DeviceError(name, f"is not available on this machine ({problem})")
    if name == "cuda":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device(name)


def _device_type(device: DeviceSpec) -> str:
    return str(device).split(":")[0] if isinstance(device, str) else device.type


def resolve_precision(device: DeviceSpec, precision: str = "auto", *, fp16: bool = True) -> str:
    """The precision ``precision`` stands for on ``device``: ``bf16``, ``fp16`` or ``fp32``.

    Parameters
    ----------
    device : str or torch.device
        The device (or its type, ``cpu``, ``cuda``, ``mps``).
    precision : str
        ``auto``, ``bf16``, ``fp16`` or ``fp32``. ``auto``: bfloat16 where the device runs it natively (a CPU
        with AVX-512 BF16 or AMX, a CUDA GPU from Ampere on), else float16 on a GPU, else float32.
    fp16 : bool
        Whether float16 may be chosen for ``auto`` (training code without a gradient scaler says no; it then
        gets ``fp32`` where bfloat16 is not native).

    Returns
    -------
    str
        ``bf16``, ``fp16`` or ``fp32``.

    Raises
    ------
    ValueError
        If ``precision`` is unknown, or ``fp16`` is asked of the CPU (emulated there, slower than float32).

    Examples
    --------
    >>> resolve_precision("cpu", "fp32")
    'fp32'
    """
    from crackscope.models.speed import bf16_supported

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    kind = _device_type(device)
    if precision == "fp16" and kind == "cpu":
        raise ValueError("precision fp16 needs a GPU; on the CPU use bf16 or fp32")
    if precision != "auto":
        return precision
    if bf16_supported(kind):
        return "bf16"
    return "fp16" if fp16 and kind in ("cuda", "mps") else "fp32"


def autocast_dtype(device: DeviceSpec, precision: str = "auto") -> torch.dtype | None:
    """The dtype autocast runs ``precision`` in on ``device``, or None for float32 (no autocast).

    Raises
    ------
    ValueError
        As :func:`resolve_precision`.

    Examples
    --------
    >>> autocast_dtype("cpu", "bf16")
    torch.bfloat16
    """
    import torch

    chosen = resolve_precision(device, precision)
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(chosen)


def autocast(device: DeviceSpec, precision: str = "auto") -> contextlib.AbstractContextManager[object]:
    """``torch.autocast`` on ``device`` in the dtype of ``precision``; a no-op for float32.

    Raises
    ------
    ValueError
        As :func:`resolve_precision`.
    """
    import torch

    dtype = autocast_dtype(device, precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(_device_type(device), dtype=dtype)


def channels_last_helps(device: DeviceSpec) -> bool:
    """True where convolutions run faster on channels_last tensors: the CPU (oneDNN, measured in
    ``benchmarks/results/inference.md``) and CUDA (tensor cores under autocast); not MPS, whose kernels convert
    such tensors back."""
    return _device_type(device) in ("cpu", "cuda")


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter (or buffer); the CPU for a module without either."""
    import torch

    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def suggested_num_workers(device: DeviceSpec) -> int:
    """DataLoader worker processes for ``device``: 0 on the CPU (training images are decoded once into memory,
    and a worker would take a core from the compute threads); on a GPU the cores of this process's share of the
    machine (``LOCAL_WORLD_SIZE`` processes under ``torchrun``) less one for the main process, at most 8.

    Examples
    --------
    >>> suggested_num_workers("cpu")
    0
    """
    if _device_type(device) == "cpu":
        return 0
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return max(0, min(8, _cpu_count() // local - 1))


@dataclass(frozen=True)
class LoaderSettings:
    """How a DataLoader feeds one device.

    Attributes
    ----------
    num_workers : int
        Worker processes (0: batches are made in the training process).
    pin_memory : bool
        Batches in page-locked memory, so copies to a CUDA GPU overlap the computation.
    """

    num_workers: int = 0
    pin_memory: bool = False


def loader_settings(device: DeviceSpec, *, num_workers: int | None = None) -> LoaderSettings:
    """The DataLoader settings for ``device``: pinned memory on CUDA and ``num_workers`` workers (None:
    :func:`suggested_num_workers`).

    Raises
    ------
    ValueError
        If ``num_workers`` is negative.

    Examples
    --------
    >>> loader_settings("cpu")
    LoaderSettings(num_workers=0, pin_memory=False)
    """
    workers = suggested_num_workers(device) if num_workers is None else num_workers
    if workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    return LoaderSettings(num_workers=workers, pin_memory=_device_type(device) == "cuda")


def describe_device(device: DeviceSpec) -> dict[str, object]:
    """What a run records about the device it ran on: ``device`` (``cuda:0``), ``name`` (the GPU's or the CPU's
    model), and for CUDA the CUDA version torch was built with.

    Examples
    --------
    >>> describe_device("cpu")["device"]
    'cpu'
    """
    import torch

    dev = torch.device(device) if isinstance(device, str) else device
    info: dict[str, object] = {"device": str(dev)}
    if dev.type == "cuda":
        info["name"] = torch.cuda.get_device_name(dev)
        info["cuda"] = torch.version.cuda
    elif dev.type == "mps":
        info["name"] = f"Apple GPU (MPS, {platform.machine()})"
    else:
        info["name"] = _cpu_name()
        info["threads"] = torch.get_num_threads()
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"
