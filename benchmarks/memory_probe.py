"""Bytes of memory per pixel of one encoder forward + backward, the figure painterly.tiling plans tiles with.

    .venv/bin/python benchmarks/memory_probe.py        # prints bf16 and fp32 at 512 and 1024 px

Each measurement runs in its own process: peak RSS after one pass minus RSS before it, divided by the pixels.
"""

from __future__ import annotations

import resource
import subprocess
import sys

import torch


def probe(side: int, precision: str) -> float:
    from painterly.config import GatysConfig
    from painterly.encoders.vgg import vgg16
    from painterly.ops import gram_matrix

    config = GatysConfig()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    encoder = vgg16(layers=[*config.content_layers, *config.style_layers]).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    pixels = torch.rand(1, 3, side, side, requires_grad=True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
        features = encoder(pixels.contiguous(memory_format=torch.channels_last))
    loss = sum(gram_matrix(value).float().pow(2).sum() for value in features.values())
    loss.backward()  # type: ignore[union-attr]
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float((after - before) * 1024 / side**2)


def main() -> None:
    if len(sys.argv) == 3:
        print(probe(int(sys.argv[1]), sys.argv[2]))
        return
    print(f"{'precision':<10} {'side':>5} {'bytes/pixel':>12}")
    for precision in ("bf16", "fp32"):
        for side in (512, 1024):
            done = subprocess.run(
                [sys.executable, __file__, str(side), precision], capture_output=True, text=True, check=True
            )
            print(f"{precision:<10} {side:>5} {float(done.stdout):>12.0f}")


if __name__ == "__main__":
    main()
