"""Distillation against the plain perceptual-loss recipe at equal compute, in one run.

    .venv/bin/python benchmarks/distillation.py [--minutes 10] [--per-style 12] [--iterations 100] [--workdir DIR]

Every arm trains the new preset recipe (8/5/4/9 network, the optimisation's loss, per-style balance) on the paintings
of benchmarks/preset_recipes.py for the same wall-clock budget on this machine, making its targets included:

- perceptual: the perceptual loss alone for the whole budget;
- distill: the optimisation's results on ``--per-style`` crops per painting (``painterly train targets``), then the
  pixel + feature loss to them alone for what is left of the budget;
- hybrid: the same targets, then the perceptual loss plus the loss to the targets for what is left;
- perceptual-short: the perceptual loss for only what the other two had left (the training signals compared at equal
  training time, the targets' cost set aside; a GPU or a long run makes the targets comparatively cheap).

Each network then styles the held-out photos at 512 px, scored like preset_recipes.py (evaluator style loss over
the untouched photo's; content loss). The targets are cached in --workdir with the seconds they took. Needs
../shared/data.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import SHARED  # noqa: E402
from preset_recipes import PHOTOS, STYLES, painting_path, score_recipe  # noqa: E402

ARMS = ("perceptual-short", "perceptual", "distill", "hybrid")
SCHEDULE_STEPS = 1_000_000
"""Budget-limited runs: a schedule this long keeps the learning rate flat, so a shorter run is a prefix of a longer."""


def make_targets_once(workdir: Path, per_style: int, iterations: int) -> tuple[Path, float]:
    """The target folder and the seconds it took to make (measured once, then read from its record)."""
    from painterly.training.distillation import TargetSettings, make_targets

    folder = workdir / f"targets_{per_style}x{iterations}"
    record = folder / "seconds.json"
    if record.exists():
        return folder, float(json.loads(record.read_text())["seconds"])
    shutil.rmtree(folder, ignore_errors=True)  # an interrupted start: its time is unknown, so it starts over
    started = time.perf_counter()
    settings = TargetSettings(per_style=per_style, iterations=iterations)
    make_targets([painting_path(style) for style in STYLES], SHARED / "photos" / "train", folder, settings)
    seconds = time.perf_counter() - started
    record.write_text(json.dumps({"seconds": seconds, "threads": torch.get_num_threads()}))
    return folder, seconds


def train_arm(name: str, seconds: float, workdir: Path, targets: Path | None, perceptual_scale: float) -> Path:
    from painterly.methods.feedforward import NetworkSpec
    from painterly.training.distillation import DistillationWeights
    from painterly.training.feedforward import PerceptualWeights, train_feedforward
    from painterly.training.loop import TrainingOptions

    spec = NetworkSpec(width=8, residual_blocks=5, downsamplings=4, edge_kernel=9, styles=len(STYLES))
    options = TrainingOptions(
        steps=SCHEDULE_STEPS, batch_size=6, seed=0, budget_seconds=seconds, checkpoint_every=50, preview_every=10**9
    )
    _, model_path = train_feedforward(
        [painting_path(style) for style in STYLES],
        SHARED / "photos" / "train",
        workdir / name,
        spec=spec,
        options=options,
        weights=PerceptualWeights(style_size=512, balance_styles=True),
        crop=128,
        preview_photo=SHARED / "photos" / "test" / "tubingen.jpg",
        targets=targets,
        distillation=DistillationWeights(perceptual_scale=perceptual_scale),
    )
    return model_path


def steps_of(run_dir: Path) -> int:
    log = json.loads((run_dir / "log.json").read_text())
    return int(log[-1]["step"]) if log else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="Compute budget of every arm.")
    parser.add_argument("--per-style", type=int, default=12)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "distillation")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs {SHARED} (training photos, test photos and paintings)")
    budget = args.minutes * 60
    targets, target_seconds = make_targets_once(args.workdir, args.per_style, args.iterations)
    left = budget - target_seconds
    if left <= 0:
        sys.exit(f"the targets took {target_seconds:.0f} s, more than the {budget:.0f} s budget: raise --minutes")
    rows: list[tuple[str, float, int, dict[str, dict[str, float]]]] = []
    plans: dict[str, tuple[float, Path | None, float, float]] = {
        # name: (training seconds of this call, targets, perceptual scale, compute charged); "perceptual" resumes a
        # copy of "perceptual-short" (exactly: the learning rate is flat and the batches depend on the step only)
        "perceptual-short": (left, None, 1.0, left),
        "perceptual": (target_seconds, None, 1.0, budget),
        "distill": (left, targets, 0.0, budget),
        "hybrid": (left, targets, 1.0, budget),
    }
    for name in ARMS:  # every arm from scratch: a resumed folder would get a second budget
        shutil.rmtree(args.workdir / name, ignore_errors=True)
    for name in ARMS:
        seconds, arm_targets, scale, charged = plans[name]
        run_dir = args.workdir / name
        if name == "perceptual":
            shutil.copytree(args.workdir / "perceptual-short", run_dir)
        model_path = train_arm(name, seconds, args.workdir, arm_targets, scale)
        scores = score_recipe(model_path)
        rows.append((name, charged, steps_of(run_dir), scores))
        share = statistics.mean(s["style_share"] for s in scores.values())
        print(f"{name:<17} {charged:6.0f} s  {steps_of(run_dir):5d} steps  style/untouched {share:.3f}", flush=True)
    print(
        f"\nbudget {budget:.0f} s per arm ({torch.get_num_threads()} threads); targets: {args.per_style} per "
        f"painting x {len(STYLES)} paintings, {args.iterations} iterations, made in {target_seconds:.0f} s; paintings "
        f"{', '.join(STYLES)}; photos {', '.join(PHOTOS)} at 512 px"
    )
    header = (
        f"{'arm':<17} {'compute s':>9} {'steps':>6} {'style/untouched':>16} {'content':>8}  "
        "per painting (style/content)"
    )
    print(header)
    print("-" * len(header))
    for name, charged, steps, scores in rows:
        share = statistics.mean(s["style_share"] for s in scores.values())
        content = statistics.mean(s["content"] for s in scores.values())
        detail = "  ".join(f"{style} {s['style_share']:.3f}/{s['content']:.2f}" for style, s in scores.items())
        print(f"{name:<17} {charged:>9.0f} {steps:>6} {share:>16.3f} {content:>8.3f}  {detail}")


if __name__ == "__main__":
    main()
