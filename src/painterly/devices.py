"""Choosing the compute device and the precision the encoder runs in.

``auto`` picks CUDA, then Apple's MPS, then the CPU. Mixed precision is used where the hardware has fast support:
bf16 on CUDA devices that support it and on CPUs with AVX-512 BF16 or AMX, fp16 on MPS; fp32 elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import torch

from .errors import DeviceError

DeviceName = Literal["auto", "cpu", "cuda", "mps"]
PrecisionName = Literal["auto", "fp32", "bf16", "fp16"]
DEVICE_NAMES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
PRECISION_NAMES: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")


def cuda_available() -> bool:
    return torch.cuda.is_available()


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


@functools.cache
def cpu_supports_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU has native bf16 arithmetic (AVX-512 BF16 or AMX), read from the kernel's CPU flags."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def resolve_device(name: str) -> torch.device:
    """Turn ``auto | cpu | cuda | cuda:N | mps`` into an available device, or raise :class:`DeviceError`."""
    if name == "auto":
        if cuda_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not cuda_available():
            raise DeviceError(f"device '{name}' requested but no CUDA device is available (use --device cpu or auto)")
        return torch.device(name)
    if name == "mps":
        if not mps_available():
            raise DeviceError(
                "device 'mps' requested but Apple's MPS backend is not available (use --device cpu or auto)"
            )
        return torch.device("mps")
    raise DeviceError(f"unknown device '{name}': choose one of {', '.join(DEVICE_NAMES)}")


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The dtype the encoder runs in on ``device``: ``auto`` picks the fastest one that keeps quality."""
    if name == "fp32":
        return torch.float32
    if name == "bf16":
        if device.type == "cpu" and not cpu_supports_bf16():
            raise DeviceError("bf16 requested but this CPU has no native bf16 support (use --precision fp32 or auto)")
        return torch.bfloat16
    if name == "fp16":
        if device.type == "cpu":
            raise DeviceError("fp16 is not supported on the CPU (use --precision bf16, fp32 or auto)")
        return torch.float16
    if name != "auto":
        raise DeviceError(f"unknown precision '{name}': choose one of {', '.join(PRECISION_NAMES)}")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16 if cpu_supports_bf16() else torch.float32


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """Mixed-precision region for the encoder; a no-op for fp32."""
    if dtype == torch.float32:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def prepare_for_inference(module: torch.nn.Module, device: torch.device) -> None:
    """Evaluation mode, on ``device``, channels-last memory (faster convolutions on CPUs), no gradients."""
    module.eval().to(device)
    module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    module.requires_grad_(False)


def run_inference(
    module: torch.nn.Module, tensor: torch.Tensor, device: torch.device, dtype: torch.dtype, *extra: torch.Tensor
) -> torch.Tensor:
    """``module(tensor, *extra)`` on ``device`` under ``dtype`` autocast, no autograd; the result fp32 on the CPU."""
    batch = tensor.to(device).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast(device, dtype):
        result: torch.Tensor = module(batch, *extra)
    return result.float().cpu().contiguous()
