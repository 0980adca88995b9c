"""The shipped presets pair, quality against fast, timed interleaved in one process (robust to a noisy machine).

    .venv/bin/python benchmarks/preset_pair_speed.py [--rounds 25]

PyTorch rows: alternating `NetworkStylizer.stylize` calls on tubingen (a warm-up each first), bf16 where the CPU has
it, all threads. onnxruntime rows: both networks exported as the studio's webcam gets them, one thread, fp32 (as the
page's WASM runs them), on a random picture of the size. Medians; the ratio is quality over fast. Needs
../shared/data (the photo).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import PRECISIONS, SHARED, photo  # noqa: E402

NETWORKS = ("quality", "fast")


def interleaved(calls: Mapping[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds of each call, the calls alternating round by round after one warm-up each."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def torch_rows(rounds: int) -> list[tuple[str, dict[str, float]]]:
    from painterly.methods.stylizer import NetworkStylizer
    from painterly.presets import load_presets

    precision = PRECISIONS[-1]
    stylizers = {
        name: NetworkStylizer(*load_presets(network=name), device="cpu", precision=precision) for name in NETWORKS
    }
    rows = []
    for size in (512, 1024):
        image = photo("tubingen", size)
        calls = {name: partial(stylizer.stylize, image, {"udnie": 1.0}) for name, stylizer in stylizers.items()}
        height, width = image.shape[-2:]
        rows.append(
            (f"torch {precision} {width}x{height}, {torch.get_num_threads()} threads", interleaved(calls, rounds))
        )
    return rows


def onnx_rows(rounds: int) -> list[tuple[str, dict[str, float]]]:
    import onnxruntime

    from painterly.export import export_network
    from painterly.presets import load_presets

    folder = Path(tempfile.mkdtemp(prefix="painterly-pair-"))
    sessions = {}
    for name in NETWORKS:
        network, names = load_presets(network=name)
        export_network(network, folder / f"{name}.onnx", format="onnx", style_names=names)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        sessions[name] = onnxruntime.InferenceSession(
            str(folder / f"{name}.onnx"), options, providers=["CPUExecutionProvider"]
        )
    weights = np.zeros((1, 10), np.float32)
    weights[0, 8] = 1.0
    rows = []
    for height, width in ((240, 320), (768, 1024)):
        image = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
        feeds = {"image": image, "weights": weights}
        calls = {name: partial(session.run, None, feeds) for name, session in sessions.items()}
        rows.append((f"onnxruntime fp32 {width}x{height}, 1 thread", interleaved(calls, rounds)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs {SHARED} (the test photo)")
    rows = torch_rows(args.rounds) + onnx_rows(max(5, args.rounds // 3))
    header = f"{'run':<40} {'quality s':>10} {'fast s':>10} {'quality/fast':>13}"
    print(header)
    print("-" * len(header))
    for label, medians in rows:
        ratio = medians["quality"] / medians["fast"]
        print(f"{label:<40} {medians['quality']:>10.3f} {medians['fast']:>10.3f} {ratio:>13.2f}")


if __name__ == "__main__":
    main()
