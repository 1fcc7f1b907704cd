"""crackscope.devices: device names, what is on this machine, and what suits each device. The GPU paths are
exercised by pretending torch sees GPUs (this machine has none); every real tensor here is on the CPU."""

from __future__ import annotations

import pytest
import torch

from crackscope import devices
from crackscope.devices import (
    LoaderSettings,
    autocast,
    autocast_dtype,
    channels_last_helps,
    check_device_name,
    describe_device,
    loader_settings,
    module_device,
    resolve_device,
    resolve_precision,
    suggested_num_workers,
)
from crackscope.errors import CrackscopeError, DeviceError


@pytest.mark.parametrize(
    ("spec", "name"),
    [("auto", "auto"), (" CPU ", "cpu"), ("cuda", "cuda"), ("Cuda:1", "cuda:1"), ("mps", "mps"), ("mps:0", "mps")],
)
def test_device_names_are_normalised(spec: str, name: str) -> None:
    assert check_device_name(spec) == name


def test_a_torch_device_is_a_name_too() -> None:
    assert check_device_name(torch.device("cuda", 2)) == "cuda:2"
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cuda:01", "cpu:0", "mps:1", "", 0, None])
def test_what_is_no_device_is_refused_naming_it(spec: object) -> None:
    with pytest.raises(DeviceError, match=r"^device .* is not a device; use auto, cpu, cuda, cuda:N or mps$"):
        check_device_name(spec)


def test_cpu_and_auto_on_this_machine() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert resolve_device("auto") == resolve_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("spec", ["cuda", "cuda:1"])
def test_a_missing_gpu_is_one_line_naming_it(spec: str) -> None:
    with pytest.raises(DeviceError) as caught:
        resolve_device(spec)
    message = str(caught.value)
    assert message.startswith(f"device '{spec}' is not available on this machine (")
    assert "\n" not in message and caught.value.device == spec
    assert isinstance(caught.value, CrackscopeError) and isinstance(caught.value, ValueError)  # a usage error


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_missing_mps_is_named() -> None:
    with pytest.raises(DeviceError, match=r"^device 'mps' is not available on this machine \("):
        resolve_device("mps")


@pytest.fixture()
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make torch say two CUDA GPUs are there (nothing is ever run on them)."""
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


@pytest.mark.usefixtures("two_gpus")
def test_auto_and_cuda_take_a_visible_gpu() -> None:
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match=r"^device 'cuda:2' is not available on this machine \(it has 2 CUDA GPUs"):
        resolve_device("cuda:2")


def test_a_cuda_build_without_a_visible_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match=r"\(no CUDA GPU is visible\)$"):
        resolve_device("cuda")


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_precision_on_the_cpu_follows_native_bfloat16(
    monkeypatch: pytest.MonkeyPatch, native: bool, expected: str
) -> None:
    monkeypatch.setattr("crackscope.models.speed.bf16_supported", lambda device_type="cpu": native)
    assert resolve_precision("cpu") == expected
    assert autocast_dtype("cpu") == (torch.bfloat16 if native else None)


@pytest.mark.parametrize(
    ("native", "fp16", "expected"), [(True, True, "bf16"), (False, True, "fp16"), (False, False, "fp32")]
)
def test_auto_precision_on_a_gpu(monkeypatch: pytest.MonkeyPatch, native: bool, fp16: bool, expected: str) -> None:
    monkeypatch.setattr("crackscope.models.speed.bf16_supported", lambda device_type="cpu": native)
    assert resolve_precision("cuda", "auto", fp16=fp16) == expected
    assert resolve_precision(torch.device("cuda", 0), "fp32") == "fp32"


def test_explicit_precisions_and_refusals() -> None:
    assert resolve_precision("cpu", "bf16") == "bf16" and autocast_dtype("cpu", "fp32") is None
    assert autocast_dtype("cuda", "fp16") == torch.float16
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        resolve_precision("cpu", "fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("cpu", "int8")


def test_autocast_runs_the_forward_in_the_dtype_on_the_cpu() -> None:
    layer = torch.nn.Linear(4, 2)
    x = torch.ones(3, 4)
    with autocast("cpu", "bf16"):
        assert layer(x).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), "fp32"):
        assert layer(x).dtype == torch.float32


def test_channels_last_where_it_helps() -> None:
    assert channels_last_helps("cpu") and channels_last_helps(torch.device("cuda", 0))
    assert not channels_last_helps("mps")


def test_loader_settings_pin_memory_for_cuda_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert loader_settings("cpu") == LoaderSettings(num_workers=0, pin_memory=False)
    assert suggested_num_workers(torch.device("cpu")) == 0
    monkeypatch.setattr(devices, "_cpu_count", lambda: 16)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert suggested_num_workers("cuda") == 3  # 16 cores shared by 4 processes, one for each main process
    assert loader_settings("cuda:1") == LoaderSettings(num_workers=3, pin_memory=True)
    assert loader_settings("cuda", num_workers=0) == LoaderSettings(num_workers=0, pin_memory=True)
    with pytest.raises(ValueError, match="num_workers must be >= 0"):
        loader_settings("cpu", num_workers=-1)


def test_describe_and_find_the_device() -> None:
    info = describe_device("cpu")
    assert info["device"] == "cpu" and isinstance(info["name"], str) and info["name"]
    assert module_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(torch.nn.ReLU()) == torch.device("cpu")  # no parameters: the CPU
