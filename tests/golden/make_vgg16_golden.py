"""Regenerate tests/golden/vgg16_features.json from the cached real VGG16 weights.

    .venv/bin/python -m tests.golden.make_vgg16_golden

Only rerun this when the weights or the reference image deliberately change; the test compares against the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from painterly.encoders.vgg import vgg16

GOLDEN = Path(__file__).with_name("vgg16_features.json")
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1")


def reference_image() -> torch.Tensor:
    """A fixed 64x64 picture computed from formulas (no file, no resampling library involved)."""
    y = torch.arange(64, dtype=torch.float64).reshape(64, 1) / 63
    x = torch.arange(64, dtype=torch.float64).reshape(1, 64) / 63
    red = 0.5 + 0.4 * torch.sin(2 * math.pi * (3 * x + y))
    green = 0.5 + 0.4 * torch.cos(2 * math.pi * (x * y * 4))
    blue = (x + y) / 2
    return torch.stack([red, green, blue]).unsqueeze(0).float()


def summarise(features: dict[str, torch.Tensor]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for layer in LAYERS:
        f = features[layer].double()
        flat = f.flatten()
        picks = [0, flat.numel() // 7, flat.numel() // 3, flat.numel() - 1]
        out[layer] = {
            "shape": list(f.shape),
            "mean": float(f.mean()),
            "std": float(f.std()),
            "channel_means_first8": [float(v) for v in f.mean(dim=(0, 2, 3))[:8]],
            "values": {str(i): float(flat[i]) for i in picks},
        }
    return out


def compute() -> dict[str, dict[str, object]]:
    encoder = vgg16(layers=list(LAYERS))
    with torch.no_grad():
        return summarise(encoder(reference_image()))


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(compute(), indent=1) + "\n")
    print(f"wrote {GOLDEN}")
