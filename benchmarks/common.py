"""What the benchmarks share: the data folder, test photos, cached Gatys references, child processes."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from painterly.devices import cpu_supports_bf16

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PRECISIONS = ("fp32", "bf16") if cpu_supports_bf16() else ("fp32",)


def photo(name: str, size: int) -> torch.Tensor:
    """A test photo of ../shared/data scaled to ``size`` long side."""
    from painterly.image.io import load_image, resize_long_side

    return resize_long_side(load_image(SHARED / "photos" / "test" / f"{name}.jpg", max_pixels=None), size)


def painting(name: str) -> torch.Tensor:
    from painterly.image.io import load_image

    return load_image(SHARED / "styles" / f"{name}.jpg", max_pixels=None)


def gatys_reference(content_name: str, style_name: str, workdir: Path) -> dict[str, Any]:
    """GatysConfig(size=512)'s result for the pair, computed once per workdir."""
    from painterly.config import GatysConfig
    from painterly.methods.gatys import GatysTransfer

    path = workdir / f"gatys_{content_name}_{style_name}_512.pt"
    if not path.is_file():
        started = time.perf_counter()
        result = GatysTransfer(GatysConfig(size=512)).run(photo(content_name, 512), [painting(style_name)])
        torch.save({"image": result.image, "seconds": time.perf_counter() - started}, path)
    return dict(torch.load(path))


def peak_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(script: str, command: list[str]) -> dict[str, Any]:
    """Run ``script`` with ``command`` in a fresh process (its own peak memory) and read the JSON it prints last."""
    done = subprocess.run([sys.executable, script, *command], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"child {' '.join(command)} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
