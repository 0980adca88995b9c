"""Where the presets' mildness comes from: short training runs of recipe variants, scored in one run.

    .venv/bin/python benchmarks/preset_recipes.py [--steps 300] [--recipes a,b,...] [--workdir out/recipes]

Every recipe trains the same few paintings for the same number of steps (same seed, same batches) with
`painterly train feedforward`'s code, changing one thing at a time from the recipe before it; then each network
styles held-out test photos at 512 px, scored by the fp32 evaluator of benchmarks/gatys.py (the Gatys defaults'
layers and weights, the painting at the photo's size). Printed per recipe: the style loss as a share of the untouched
photo's (lower: more of the painting) and the content loss, averaged over photos and paintings, and per painting.
Short runs favour recipes that learn fast; the ranking is a guide for the long run, not its result. Needs
../shared/data.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import SHARED, painting, photo  # noqa: E402

STYLES = ("starry_night", "mondrian", "udnie")
PHOTOS = ("stata", "dog")
DEEPER = {"residual_blocks": 5, "downsamplings": 4}
GATYS_LOSS = {"style_size": 512, "loss_set": "gatys", "style_weight": 1e5}
BALANCED = {**GATYS_LOSS, "balance_styles": True}
# name: (what changes, spec overrides, loss overrides, crop, batch); each builds on the shipped recipe
RECIPES: dict[str, tuple[str, dict[str, Any], dict[str, Any], int, int]] = {
    "shipped": ("the shipped presets' recipe", {}, {}, 128, 6),
    "style-512": ("paintings seen at 512 px instead of 320", {}, {"style_size": 512}, 128, 6),
    "gatys-loss": (
        "+ the optimisation's loss (style relu1_1..5_1, content relu4_2, weight 1e5)",
        {},
        GATYS_LOSS,
        128,
        6,
    ),
    "deeper": (
        "+ 4 downsamplings, 5 blocks (radius 198 px)",
        DEEPER,
        GATYS_LOSS,
        128,
        6,
    ),
    "no-skip": (
        "deeper without the input skip (plain start)",
        {**DEEPER, "input_skip": False},
        GATYS_LOSS,
        128,
        6,
    ),
    "balanced": (
        "deeper + per-style loss balance",
        DEEPER,
        BALANCED,
        128,
        6,
    ),
    "weight-3e5": (
        "balanced with style weight 3e5",
        DEEPER,
        {**BALANCED, "style_weight": 3e5},
        128,
        6,
    ),
    "crop-256": (
        "balanced on 256 px crops (batch 2: about the same pixels per step)",
        DEEPER,
        BALANCED,
        256,
        2,
    ),
}
SHIPPED_SPEC = {"width": 8, "residual_blocks": 3, "downsamplings": 3, "edge_kernel": 9, "input_skip": True}
SHIPPED_LOSSES = {"style_size": 320, "loss_set": "johnson", "style_weight": 1e6}


def painting_path(name: str) -> Path:
    path = SHARED / "styles" / f"{name}.jpg"
    return path if path.is_file() else SHARED / "styles" / f"{name.replace('_', '-')}.jpg"


def train_recipe(name: str, steps: int, workdir: Path) -> tuple[Any, float]:
    from painterly.methods.feedforward import NetworkSpec
    from painterly.training.feedforward import LOSS_SETS, PerceptualWeights, train_feedforward
    from painterly.training.loop import TrainingOptions

    _, spec_changes, loss_changes, crop, batch = RECIPES[name]
    spec = NetworkSpec(**{**SHIPPED_SPEC, **spec_changes, "styles": len(STYLES)})
    losses = {**SHIPPED_LOSSES, **loss_changes}
    content_layers, style_layers = LOSS_SETS[losses.pop("loss_set")]
    weights = PerceptualWeights(content_layers=content_layers, style_layers=style_layers, **losses)
    options = TrainingOptions(steps=steps, batch_size=batch, seed=0, preview_every=steps, checkpoint_every=steps)
    started = time.perf_counter()
    result, model_path = train_feedforward(
        [painting_path(style) for style in STYLES],
        SHARED / "photos" / "train",
        workdir / name,
        spec=spec,
        options=options,
        weights=weights,
        crop=crop,
        preview_photo=SHARED / "photos" / "test" / "tubingen.jpg",
        resume=True,
    )
    del result
    return model_path, time.perf_counter() - started


def score_recipe(model_path: Path) -> dict[str, dict[str, float]]:
    """{painting: {"style_share", "content"}} averaged over the photos."""
    from gatys import evaluate
    from painterly.image.io import resize_long_side
    from painterly.methods.model_files import load_style_network
    from painterly.methods.stylizer import NetworkStylizer

    network, names, _ = load_style_network(model_path)
    stylizer = NetworkStylizer(network, names, device="cpu", precision="auto")
    scores: dict[str, dict[str, float]] = {}
    for style in STYLES:
        shares, contents = [], []
        for photo_name in PHOTOS:
            content = photo(photo_name, 512)
            style_image = resize_long_side(painting(painting_path(style).stem), 512)
            untouched = evaluate(content, content, style_image)["style"]
            losses = evaluate(stylizer.stylize(content, {style: 1.0}), content, style_image)
            shares.append(losses["style"] / untouched)
            contents.append(losses["content"])
        scores[style] = {"style_share": statistics.mean(shares), "content": statistics.mean(contents)}
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "recipes")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs {SHARED} (training photos, test photos and paintings)")
    names = args.recipes.split(",")
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        sys.exit(f"unknown recipes {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    rows = []
    for name in names:
        model_path, seconds = train_recipe(name, args.steps, args.workdir)
        scores = score_recipe(model_path)
        rows.append((name, seconds, scores))
        summary = {key: statistics.mean(s[key] for s in scores.values()) for key in ("style_share", "content")}
        print(
            f"{name:<11} {seconds:6.0f} s  style/untouched {summary['style_share']:.3f}  "
            f"content {summary['content']:.3f}  "
            + "  ".join(f"{style} {s['style_share']:.3f}/{s['content']:.2f}" for style, s in scores.items()),
            flush=True,
        )
    print(f"\n{args.steps} steps per recipe, paintings {', '.join(STYLES)}, photos {', '.join(PHOTOS)} at 512 px;")
    print(f"{torch.get_num_threads()} threads; style/untouched: evaluator style loss over the untouched photo's")
    header = f"{'recipe':<11} {'train s':>8} {'style/untouched':>16} {'content':>8}  what changes"
    print(header)
    print("-" * len(header))
    for name, seconds, scores in rows:
        share = statistics.mean(s["style_share"] for s in scores.values())
        content = statistics.mean(s["content"] for s in scores.values())
        print(f"{name:<11} {seconds:>8.0f} {share:>16.3f} {content:>8.3f}  {RECIPES[name][0]}")


if __name__ == "__main__":
    main()
