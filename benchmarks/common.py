"""What the benchmarks share: the data folder, test photos, cached Gatys references, child processes."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
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


Stylize = Callable[[torch.Tensor, str, str], torch.Tensor]
"""(content, painting name, precision) -> the method's result."""


def quality_rows(
    method: str, stylize: Stylize, sizes: list[int], pairs: list[str], workdir: Path
) -> list[dict[str, Any]]:
    """For each photo:painting pair, the Gatys reference at 512 px and ``method`` at every size and precision,
    scored by the fp32 evaluator of benchmarks/gatys.py; images are saved into ``workdir``."""
    from gatys import evaluate
    from painterly.image.io import resize_long_side, save_image

    rows = []
    for pair in pairs:
        content_name, style_name = pair.split(":")
        style_full = painting(style_name)
        gatys = gatys_reference(content_name, style_name, workdir)
        losses = evaluate(gatys["image"], photo(content_name, 512), resize_long_side(style_full, 512))
        rows.append({"pair": pair, "method": "gatys (defaults)", "size": 512, "precision": "auto", **losses})
        save_image(gatys["image"], workdir / f"gatys_{content_name}_{style_name}_512.png")
        for size in sizes:
            content = photo(content_name, size)
            for precision in PRECISIONS:
                started = time.perf_counter()
                image = stylize(content, style_name, precision)
                seconds = time.perf_counter() - started
                save_image(image, workdir / f"{method}_{content_name}_{style_name}_{size}_{precision}.png")
                losses = evaluate(image, content, resize_long_side(style_full, size))
                row = {"pair": pair, "method": method, "size": size, "precision": precision, "seconds": seconds}
                rows.append(row | losses | {"image": image})
    return rows


def print_quality(method: str, rows: list[dict[str, Any]], pairs: list[str], sizes: list[int]) -> None:
    """The quality table, the loss ratios to Gatys at 512 px, and the bf16-vs-fp32 pixel difference."""
    header = f"{'pair':<26} {'method':<17} {'size':>5} {'prec':<5} {'seconds':>8} {'content':>8} {'style':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['pair']:<26} {row['method']:<17} {row['size']:>5} {row['precision']:<5} "
            f"{row.get('seconds', float('nan')):>8.2f} {row['content']:>8.4g} {row['style']:>8.4g}"
        )
    for pair in pairs:
        gatys = next(r for r in rows if r["pair"] == pair and r["method"] != method)
        ours = [r for r in rows if r["pair"] == pair and r["method"] == method]
        for row in (r for r in ours if r["size"] == 512):
            print(
                f"{pair} 512 px {row['precision']}: {method} style loss = {row['style'] / gatys['style']:.2f}x "
                f"Gatys, content loss = {row['content'] / gatys['content']:.2f}x Gatys"
            )
        by_precision = {r["precision"]: r for r in ours if r["size"] == max(sizes)}
        if "bf16" in by_precision:
            difference = float((by_precision["bf16"]["image"] - by_precision["fp32"]["image"]).abs().mean())
            print(f"{pair} {max(sizes)} px bf16 vs fp32: mean |pixel difference| {difference:.4f} (of 1)")
