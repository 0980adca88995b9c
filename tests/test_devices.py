"""Device and precision selection, with the hardware mocked."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from painterly import devices
from painterly.errors import DeviceError


def _hardware(monkeypatch: pytest.MonkeyPatch, *, cuda: bool, mps: bool, bf16: bool) -> None:
    monkeypatch.setattr(devices, "cuda_available", lambda: cuda)
    monkeypatch.setattr(devices, "mps_available", lambda: mps)
    monkeypatch.setattr(devices, "cpu_supports_bf16", lambda: bf16)


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")]
)
def test_auto_prefers_cuda_then_mps_then_cpu(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, expected: str
) -> None:
    _hardware(monkeypatch, cuda=cuda, mps=mps, bf16=False)
    assert devices.resolve_device("auto").type == expected


def test_unavailable_devices_explain_themselves(monkeypatch: pytest.MonkeyPatch) -> None:
    _hardware(monkeypatch, cuda=False, mps=False, bf16=False)
    with pytest.raises(DeviceError, match="no CUDA device is available"):
        devices.resolve_device("cuda")
    with pytest.raises(DeviceError, match="MPS backend is not available"):
        devices.resolve_device("mps")
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        devices.resolve_device("tpu")


def test_cpu_precision_uses_bf16_only_where_supported(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    _hardware(monkeypatch, cuda=False, mps=False, bf16=True)
    assert devices.resolve_precision("auto", cpu) == torch.bfloat16
    _hardware(monkeypatch, cuda=False, mps=False, bf16=False)
    assert devices.resolve_precision("auto", cpu) == torch.float32  # clean fallback
    with pytest.raises(DeviceError, match="no native bf16 support"):
        devices.resolve_precision("bf16", cpu)
    with pytest.raises(DeviceError, match="fp16 is not supported on the CPU"):
        devices.resolve_precision("fp16", cpu)
    assert devices.resolve_precision("fp32", cpu) == torch.float32


def test_gpu_precisions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert devices.resolve_precision("auto", torch.device("cuda")) == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert devices.resolve_precision("auto", torch.device("cuda")) == torch.bfloat16
    assert devices.resolve_precision("auto", torch.device("mps")) == torch.float16


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    with_bf16 = tmp_path / "a"
    with_bf16.write_text("processor : 0\nflags : fpu sse avx512f avx512_bf16 amx_tile\n")
    without = tmp_path / "b"
    without.write_text("processor : 0\nflags : fpu sse avx2\n")
    assert devices.cpu_supports_bf16(with_bf16) is True
    assert devices.cpu_supports_bf16(without) is False
    assert devices.cpu_supports_bf16(tmp_path / "missing") is False
