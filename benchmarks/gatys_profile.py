"""Where an optimisation iteration spends its time: torch.profiler over iterations of `painterly transfer`.

    .venv/bin/python benchmarks/gatys_profile.py [--size 512] [--iterations 8] [--runs bf16,bf16/autograd,fp32]

One level at --size (tubingen + starry_night, or scikit-image's pair), L-BFGS from the content with no early stop; the
profiler records only iterations 3 to 2 + --iterations (set-up and the first iterations' allocations excluded). Each
operator's self CPU time is put in a category — convolution forward and backward, pooling, ReLU and its backward,
casts/copies/fills, element-wise arithmetic, Gram matrices and other products, losses, L-BFGS, the rest — and the
table prints each category's milliseconds per iteration and share, with the CPU's name and whether it has AMX. Each
run is a precision, optionally with ``/autograd`` (the reference backward instead of the hand-written one).
`benchmarks/gatys.py --profile` prints the same table after its own.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("convolution backward", ("convolution_backward", "mkldnn_convolution_backward")),
    ("convolution forward", ("convolution", "mkldnn_convolution", "_convolution", "conv2d", "_convolution_pointwise")),
    ("pooling (fwd+bwd)", ("max_pool2d", "avg_pool2d", "max_pool2d_with_indices", "max_pool2d_with_indices_backward")),
    ("ReLU backward", ("threshold_backward",)),
    ("ReLU forward", ("relu", "relu_", "clamp_min", "clamp_min_")),
    ("casts, copies, fills", ("copy_", "to", "_to_copy", "contiguous", "clone", "empty_like", "fill_", "zero_")),
    ("Gram matrices and products", ("bmm", "mm", "matmul", "addmm", "addmm_", "baddbmm")),
    ("element-wise arithmetic", ("add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "neg", "pow", "sqrt")),
    ("losses (fwd+bwd)", ("mse_loss", "mse_loss_backward", "sum", "mean", "norm", "linalg_vector_norm")),
    ("L-BFGS bookkeeping", ("dot", "Optimizer.step#LBFGS.step", "Optimizer.zero_grad#LBFGS.zero_grad")),
)
"""Operators by name: under autograd ``add`` and ``add_`` are mostly autograd summing the gradients of features that
feed several terms, and ``copy_`` autocast's casts and layout changes; ``_convolution_pointwise`` is a convolution with
its ReLU fused (the hand-written path), ``addmm_`` a Gram gradient added in place."""


def category_of(name: str) -> str:
    """The category of an operator (``aten::``/``mkldnn::`` prefixes ignored)."""
    base = name.removeprefix("aten::").removeprefix("mkldnn::")
    for category, names in CATEGORIES:
        if base in names:
            return category
    return "other"


def cpu_summary() -> str:
    """The CPU's model name and whether it has AMX tiles (Linux /proc/cpuinfo)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    amx = "with AMX bf16" if "amx_bf16" in flags else ("AVX-512 BF16, no AMX" if "avx512_bf16" in flags else "no bf16")
    return f"{model or 'unknown CPU'} ({amx}, {torch.get_num_threads()} threads)"


def profile_iterations(size: int, run: str, iterations: int) -> tuple[dict[str, float], float]:
    """Self CPU milliseconds per iteration by category, and the wall milliseconds per profiled iteration."""
    import time

    from torch.profiler import ProfilerActivity, profile

    from gatys import load_pair
    from painterly.config import GatysConfig
    from painterly.methods.gatys import GatysTransfer, Progress

    content, style, _ = load_pair(size)
    warm = 2
    precision, _, backward = run.partition("/")
    config = GatysConfig(
        size=size,
        iterations=(warm + iterations,),
        tolerance=0.0,
        precision=precision,
        backward=backward or "fused",
    )
    profiler = profile(activities=[ProfilerActivity.CPU])
    clock: dict[str, float] = {}

    def on_progress(progress: Progress) -> None:
        if progress.step == warm:
            profiler.start()
            clock["start"] = time.perf_counter()
        elif progress.step == warm + iterations:
            clock["stop"] = time.perf_counter()
            profiler.stop()

    GatysTransfer(config).run(content, [style], progress=on_progress)
    totals: dict[str, float] = defaultdict(float)
    for event in profiler.key_averages():
        totals[category_of(event.key)] += event.self_cpu_time_total / 1000.0 / iterations
    return dict(totals), (clock["stop"] - clock["start"]) * 1000.0 / iterations


def breakdown_table(size: int, precisions: list[str], iterations: int) -> str:
    """The table, one column pair (ms per iteration, share) per run (``bf16``, ``bf16/autograd``, ``fp32``...)."""
    results: dict[str, tuple[dict[str, float], float]] = {
        precision: profile_iterations(size, precision, iterations) for precision in precisions
    }
    names = [category for category, _ in CATEGORIES] + ["other"]
    lines = [f"where an iteration's time goes, {size} px, {iterations} iterations profiled; {cpu_summary()}"]
    header = f"{'category':<28}" + "".join(f" {precision + ' ms':>16} {'share':>6}" for precision in precisions)
    lines += [header, "-" * len(header)]
    for name in sorted(names, key=lambda n: -results[precisions[0]][0].get(n, 0.0)):
        row = f"{name:<28}"
        for precision in precisions:
            totals = results[precision][0]
            value, whole = totals.get(name, 0.0), sum(totals.values())
            row += f" {value:16.1f} {100 * value / whole:5.1f}%"
        lines.append(row)
    lines.append(
        f"{'profiled self time':<28}" + "".join(f" {sum(results[p][0].values()):16.1f} {'':>6}" for p in precisions)
    )
    lines.append(f"{'wall time per iteration':<28}" + "".join(f" {results[p][1]:16.1f} {'':>6}" for p in precisions))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--runs", default="bf16,bf16/autograd,fp32", help="precision[/autograd], comma-separated")
    args: Any = parser.parse_args(argv)
    print(breakdown_table(args.size, args.runs.split(","), args.iterations))


if __name__ == "__main__":
    main()
