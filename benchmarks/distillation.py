"""Distillation against the plain perceptual-loss recipe at equal compute, in one run.

    .venv/bin/python benchmarks/distillation.py [--minutes 10] [--per-style 12] [--iterations 100] [--workdir DIR]
        [--arms perceptual,distill,hybrid,perceptual-short]

Every arm trains the new preset recipe (8/5/4/9 network, the optimisation's loss, per-style balance) on the paintings
of benchmarks/preset_recipes.py for the same wall-clock budget on this machine, making its targets included; its
learning-rate schedule (warm-up, cosine decay) is planned to end with its budget from a 30 s probe of its step cost:

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
PROBE_SECONDS = 30.0
"""A short run measures each arm's step cost, so its schedule can be planned to end with its budget."""


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


def train_arm(
    name: str, seconds: float, workdir: Path, targets: Path | None, perceptual_scale: float, *, steps: int | None = None
) -> tuple[Path, int]:
    """Train one arm for ``seconds``; its learning-rate schedule (warm-up, cosine decay to 0.1x) is planned to end
    with the budget: ``steps`` from the arm's own step cost, measured on a short probe run first."""
    from painterly.methods.feedforward import NetworkSpec
    from painterly.training.distillation import DistillationWeights
    from painterly.training.feedforward import PerceptualWeights, train_feedforward
    from painterly.training.loop import TrainingOptions

    if steps is None:
        _, probe_steps = train_arm(f"{name}-probe", PROBE_SECONDS, workdir, targets, perceptual_scale, steps=10**6)
        steps = max(1, int(seconds * probe_steps / PROBE_SECONDS))
    spec = NetworkSpec(width=8, residual_blocks=5, downsamplings=4, edge_kernel=9, styles=len(STYLES), input_skip=True)
    options = TrainingOptions(
        steps=steps, batch_size=6, seed=0, budget_seconds=seconds, checkpoint_every=50, preview_every=10**9
    )
    run_dir = workdir / name
    shutil.rmtree(run_dir, ignore_errors=True)  # from scratch: a resumed folder would get a second budget
    _, model_path = train_feedforward(
        [painting_path(style) for style in STYLES],
        SHARED / "photos" / "train",
        run_dir,
        spec=spec,
        options=options,
        weights=PerceptualWeights(style_size=512, balance_styles=True),
        crop=128,
        preview_photo=SHARED / "photos" / "test" / "tubingen.jpg",
        targets=targets,
        distillation=DistillationWeights(perceptual_scale=perceptual_scale),
    )
    return model_path, steps_of(run_dir)


def steps_of(run_dir: Path) -> int:
    log = json.loads((run_dir / "log.json").read_text())
    return int(log[-1]["step"]) if log else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="Compute budget of every arm.")
    parser.add_argument("--per-style", type=int, default=12)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "distillation")
    parser.add_argument("--arms", default=",".join(ARMS))
    args = parser.parse_args()
    unknown = sorted(set(args.arms.split(",")) - set(ARMS))
    if unknown:
        sys.exit(f"unknown arms {', '.join(unknown)}; known: {', '.join(ARMS)}")
    if not SHARED.is_dir():
        sys.exit(f"needs {SHARED} (training photos, test photos and paintings)")
    budget = args.minutes * 60
    targets, target_seconds = make_targets_once(args.workdir, args.per_style, args.iterations)
    left = budget - target_seconds
    if left <= 0:
        sys.exit(f"the targets took {target_seconds:.0f} s, more than the {budget:.0f} s budget: raise --minutes")
    rows: list[tuple[str, float, int, dict[str, dict[str, float]]]] = []
    plans: dict[str, tuple[float, Path | None, float, float]] = {
        # name: (training seconds, targets, perceptual scale, compute charged)
        "perceptual-short": (left, None, 1.0, left),
        "perceptual": (budget, None, 1.0, budget),
        "distill": (left, targets, 0.0, budget),
        "hybrid": (left, targets, 1.0, budget),
    }
    for name in args.arms.split(","):
        seconds, arm_targets, scale, charged = plans[name]
        model_path, steps = train_arm(name, seconds, args.workdir, arm_targets, scale)
        scores = score_recipe(model_path)
        rows.append((name, charged, steps, scores))
        share = statistics.mean(s["style_share"] for s in scores.values())
        print(f"{name:<17} {charged:6.0f} s  {steps:5d} steps  style/untouched {share:.3f}", flush=True)
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
