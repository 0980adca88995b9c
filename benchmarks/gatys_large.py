"""Large outputs: a 2048 px and a 4096 px result (tiled where memory requires), with time, peak RSS and seams.

    .venv/bin/python benchmarks/gatys_large.py [--sizes 2048,4096]

Each size runs in its own process. The pictures are written to out/large/ to be looked at. The seam figure is the
mean absolute pixel difference across every 16-pixel boundary (where any tile border can fall) divided by the mean
across all other neighbouring pixels: 1.0 means borders are invisible in the statistics.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
SCHEDULES = {2048: (200, 100, 40, 15), 4096: (200, 100, 40, 10, 4)}


def seam_ratio(image: torch.Tensor, align: int = 16) -> float:
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(dim=(0, 1, 2))  # per column boundary
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(dim=(0, 1, 3))  # per row boundary
    on_x = torch.zeros_like(dx, dtype=torch.bool)
    on_x[align - 1 :: align] = True  # boundary between column 16k-1 and 16k
    on_y = torch.zeros_like(dy, dtype=torch.bool)
    on_y[align - 1 :: align] = True
    on_border = torch.cat([dx[on_x], dy[on_y]]).mean()
    elsewhere = torch.cat([dx[~on_x], dy[~on_y]]).mean()
    return float(on_border / elsewhere)


def border_ratio(image: torch.Tensor, tile: int) -> float:
    """Mean |difference| across the tile borders of the last level's grid divided by the mean across the other
    16-pixel boundaries (the lattice VGG's stride-16 pooling marks even without tiles)."""
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(dim=(0, 1, 2))
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(dim=(0, 1, 3))
    borders = torch.cat([dx[tile - 1 :: tile], dy[tile - 1 :: tile]]).mean()
    lattice = torch.cat([dx[15::16], dy[15::16]]).mean()
    return float(borders / lattice)


def measure_seams(path: Path, tile: int) -> None:
    from painterly.image.io import load_image

    image = load_image(path, max_pixels=None)
    print(
        f"{path}: 16-px lattice / elsewhere {seam_ratio(image):.3f}; tile borders ({tile} px) / lattice "
        f"{border_ratio(image, tile):.3f}"
    )


def run(size: int) -> dict[str, Any]:
    from gatys import load_pair
    from painterly.config import GatysConfig
    from painterly.image.io import save_image
    from painterly.methods.gatys import GatysTransfer

    content, style, pair = load_pair(size)
    config = GatysConfig(size=size, iterations=SCHEDULES[size])
    started = time.perf_counter()
    result = GatysTransfer(config).run(content, [style])
    seconds = time.perf_counter() - started
    out = ROOT / "out" / "large" / f"large_{size}.png"
    save_image(result.image, out)
    return {
        "size": size,
        "pair": pair,
        "seconds": seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "levels": [list(s) for s in result.level_sizes],
        "iterations": result.iterations_run,
        "tiles": result.tiles,
        "seam_ratio": seam_ratio(result.image),
        "level_seconds": {k: v for k, v in result.timings.items() if k.startswith("level") and "_" not in k},
        "image": str(out),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2048,4096")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seams", nargs=2, metavar=("IMAGE", "TILE"), help="only measure seams of a saved result")
    args = parser.parse_args()
    if args.seams:
        measure_seams(Path(args.seams[0]), int(args.seams[1]))
        return
    if args.child:
        print(json.dumps(run(args.child)))
        return
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(size)], capture_output=True, text=True, check=True
        )
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"  done: {size} px in {rows[-1]['seconds']:.0f} s", file=sys.stderr)
    print(f"\npair: {rows[0]['pair']}")
    print(f"{'size':>5} {'seconds':>8} {'peak MB':>8} {'seam ratio':>10}  levels (iterations, tile)")
    for row in rows:
        levels = ", ".join(
            f"{w}x{h}:{n}it{'' if t is None else f' tile {t}'}"
            for (h, w), n, t in zip(row["levels"], row["iterations"], row["tiles"], strict=True)
        )
        print(f"{row['size']:>5} {row['seconds']:>8.0f} {row['peak_mb']:>8.0f} {row['seam_ratio']:>10.3f}  {levels}")
        print(f"      -> {row['image']}")


if __name__ == "__main__":
    main()
