"""``painterly train feedforward`` and ``painterly train arbitrary``: networks trained by painterly's own loop."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..devices import DEVICE_NAMES, PRECISION_NAMES
from ..errors import ConfigError
from ..methods.decoders import LEVELS, level_of
from ..training.data import image_files
from ..training.loop import TrainingOptions, TrainingProgress
from . import Command

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def parse_duration(text: str) -> float:
    """``"90m"``, ``"2h"``, ``"45s"`` or plain seconds → seconds."""
    match = DURATION.match(text)
    if match is None:
        raise ConfigError(f"cannot read the duration '{text}': use e.g. 45s, 90m or 2h")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"s": 1, "m": 60, "h": 3600}[unit]


class TrainingBar:
    """tqdm progress with the loss terms; one line per checkpoint/preview when quiet."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def __call__(self, progress: TrainingProgress) -> None:
        if progress.event == "resumed":
            click.echo(f"resuming at step {progress.step} ({progress.elapsed / 60:.1f} min trained)", err=True)
            return
        if self.quiet:
            if progress.event != "step":
                click.echo(
                    f"step {progress.step}/{progress.steps} {progress.elapsed:.0f}s loss {progress.losses['total']:.4g}"
                    + (f" preview {progress.path}" if progress.path else ""),
                    err=True,
                )
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=progress.steps, initial=progress.step - 1, unit="step", dynamic_ncols=True)
        terms = {key: f"{value:.3g}" for key, value in progress.losses.items() if "/" not in key and key != "total"}
        self.bar.set_postfix(
            loss=f"{progress.losses['total']:.4g}", **terms, lr=f"{progress.learning_rate:.2g}", refresh=False
        )
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def train() -> None:
    """Train networks on your own paintings and photos: presets (feedforward, optionally distilled from targets),
    the AdaIN decoder (arbitrary), the WCT and photorealistic decoders (decoders)."""


def training_options(batch: int, learning_rate: float) -> Callable[[Command], Command]:
    """The options every `painterly train` command has: data, length, budget, checkpoints, previews, device."""
    options = [
        click.option("--photos", required=True, type=click.Path(path_type=Path), help="A folder of training photos."),
        click.option(
            "--run",
            "run_dir",
            required=True,
            type=click.Path(path_type=Path),
            help="Run folder: checkpoint, log.json, loss.png, previews/, the model file.",
        ),
        click.option("--steps", default=4000, show_default=True, type=click.IntRange(min=1)),
        click.option("--budget", default=None, help="Wall-clock limit for this invocation, e.g. 2h or 90m."),
        click.option(
            "--decay-over-budget",
            is_flag=True,
            help="End the learning-rate decay when the budget runs out, if that comes before --steps.",
        ),
        click.option("--batch", "batch_size", default=batch, show_default=True, type=click.IntRange(min=1)),
        click.option("--crop", default=128, show_default=True, type=click.IntRange(min=32)),
        click.option("--lr", "learning_rate", default=learning_rate, show_default=True, type=float),
        click.option(
            "--preview", "preview_photo", type=click.Path(path_type=Path), help="Photo for the preview sheets."
        ),
        click.option("--preview-every", default=250, show_default=True, type=click.IntRange(min=1)),
        click.option("--checkpoint-every", default=100, show_default=True, type=click.IntRange(min=1)),
        click.option("--seed", default=0, show_default=True, type=int),
        click.option("--device", default="auto", show_default=True, type=click.Choice(DEVICE_NAMES)),
        click.option("--precision", default="auto", show_default=True, type=click.Choice(PRECISION_NAMES)),
        click.option("--quiet", is_flag=True, help="No progress bar; a line per checkpoint."),
    ]

    def decorate(function: Command) -> Command:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def paintings_for_training(folder: Path | None, hold_out: str) -> tuple[list[Path], list[str]]:
    """The paintings of ``folder`` minus the comma-separated names of ``hold_out``, and those names."""
    from ..training.feedforward import style_names_of

    held_out = [name.strip() for name in hold_out.split(",") if name.strip()]
    if folder is None:
        if held_out:
            raise ConfigError("--hold-out needs a folder of paintings")
        return [], []
    files = image_files(folder)
    names = style_names_of([str(file) for file in files])
    unknown = sorted(set(held_out) - set(names))
    if unknown:
        raise ConfigError(f"--hold-out names {', '.join(unknown)} are not in {folder}: {', '.join(names)}")
    return [file for file, name in zip(files, names, strict=True) if name not in held_out], held_out


def loop_options(params: dict[str, Any]) -> TrainingOptions:
    budget = parse_duration(params["budget"]) if params["budget"] else None
    return TrainingOptions(
        steps=params["steps"],
        batch_size=params["batch_size"],
        learning_rate=params["learning_rate"],
        seed=params["seed"],
        budget_seconds=budget,
        decay_over_budget=params["decay_over_budget"],
        checkpoint_every=params["checkpoint_every"],
        preview_every=params["preview_every"],
    )


def run_training(
    train_function: Callable[..., tuple[Any, Path]], params: dict[str, Any], *args: Any, **kwargs: Any
) -> int:
    """Call a ``train_*`` function with the shared options and a progress bar, then report the result."""
    from .transfer import terminate_as_interrupt

    bar = TrainingBar(params["quiet"])
    try:
        with terminate_as_interrupt():  # a killed run checkpoints and saves its model, as Ctrl-C does
            result, model_path = train_function(
                *args,
                options=loop_options(params),
                crop=params["crop"],
                preview_photo=params["preview_photo"],
                device=params["device"],
                precision=params["precision"],
                on_progress=bar,
                **kwargs,
            )
    finally:
        bar.close()
    report(result, model_path)
    return 0


def report(result: Any, model_path: Path) -> None:
    losses = ", ".join(f"{key} {value:.4g}" for key, value in result.final_losses.items() if "/" not in key)
    click.echo(f"{result.steps_done} steps in {result.elapsed / 60:.1f} min (stopped by {result.stopped_by}); {losses}")
    click.echo(f"model: {model_path}")


@train.command("feedforward")
@click.option(
    "--styles",
    "styles",
    required=True,
    type=click.Path(path_type=Path),
    help="A folder of paintings, one style each (the file stem names the style).",
)
@training_options(batch=10, learning_rate=1e-3)
@click.option("--width", default=8, show_default=True, type=click.IntRange(min=1), help="Channels at full size.")
@click.option("--blocks", default=5, show_default=True, type=click.IntRange(min=0), help="Residual blocks.")
@click.option("--downsamplings", default=4, show_default=True, type=click.IntRange(min=1, max=4))
@click.option("--edge-kernel", default=9, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--input-skip/--no-input-skip",
    default=True,
    show_default=True,
    help="Add the photo to the network's output (learns the change; much faster to train).",
)
@click.option("--style-weight", default=3e5, show_default=True, type=float)
@click.option("--content-weight", default=1.0, show_default=True, type=float)
@click.option("--tv-weight", default=1.0, show_default=True, type=float)
@click.option(
    "--norm-lr-scale",
    default=5.0,
    show_default=True,
    type=float,
    help="Learning-rate multiplier of the per-style norm parameters.",
)
@click.option(
    "--style-size",
    default=512,
    show_default=True,
    type=click.IntRange(min=32),
    help="Long side the paintings are seen at (bigger: larger brush strokes).",
)
@click.option(
    "--losses",
    "loss_set",
    default="gatys",
    show_default=True,
    type=click.Choice(["gatys", "johnson"]),
    help="Loss layers: gatys (painterly transfer's own objective: style relu1_1..relu5_1, content relu4_2) or johnson "
    "(style relu1_2..relu4_3, content relu3_3).",
)
@click.option(
    "--balance-styles/--no-balance-styles",
    default=True,
    show_default=True,
    help="Scale each painting's loss by the inverse of its loss on the untouched photos (equal attention per style).",
)
@click.option(
    "--loss-network",
    type=click.Path(path_type=Path, dir_okay=False),
    help="VGG16 convolution weights (safetensors, conv1_1 ... conv5_1) instead of painterly's cache, e.g. the fp16 "
    "copy scripts/prepare_gpu_run.py carries to a GPU machine.",
)
@click.option(
    "--targets",
    type=click.Path(path_type=Path, file_okay=False),
    help="Distil: a folder made by `painterly train targets`; the network is also pulled towards the "
    "optimisation's results on its photos.",
)
@click.option("--pixel-weight", default=1000.0, show_default=True, type=click.FloatRange(min=0), help="With --targets.")
@click.option(
    "--feature-weight",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="With --targets: feature MSE at relu1_1..relu4_1.",
)
@click.option(
    "--perceptual-scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="With --targets: weight of the perceptual loss on fresh crops (0: learn from the targets alone).",
)
@click.option(
    "--init-from",
    "initial_model",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Start from this model file (same shape and paintings), e.g. to continue at another crop size; "
    "ignored when the run resumes.",
)
def feedforward(**params: Any) -> int:
    """Train one multi-style network (conditional instance norm) on every painting in --styles.

    Resumes from the run folder's checkpoint if there is one; writes model.safetensors whenever it stops.
    """
    from ..methods.feedforward import NetworkSpec
    from ..training.distillation import DistillationWeights
    from ..training.feedforward import LOSS_SETS, PerceptualWeights, train_feedforward

    distillation = DistillationWeights(
        pixel_weight=params["pixel_weight"],
        feature_weight=params["feature_weight"],
        perceptual_scale=params["perceptual_scale"],
    )
    if params["targets"] is None and distillation != DistillationWeights():
        raise ConfigError("--pixel-weight, --feature-weight and --perceptual-scale weigh the targets: add --targets")
    style_files = image_files(params["styles"])
    image_files(params["photos"])  # fail early, with the folder's name
    spec = NetworkSpec(
        width=params["width"],
        residual_blocks=params["blocks"],
        downsamplings=params["downsamplings"],
        edge_kernel=params["edge_kernel"],
        styles=len(style_files),
        input_skip=params["input_skip"],
    )
    content_layers, style_layers = LOSS_SETS[params["loss_set"]]
    weights = PerceptualWeights(
        content_layers=content_layers,
        style_layers=style_layers,
        balance_styles=params["balance_styles"],
        content_weight=params["content_weight"],
        style_weight=params["style_weight"],
        tv_weight=params["tv_weight"],
        style_size=params["style_size"],
        norm_learning_rate_scale=params["norm_lr_scale"],
    )
    return run_training(
        train_feedforward,
        params,
        style_files,
        params["photos"],
        params["run_dir"],
        spec=spec,
        weights=weights,
        encoder_weights=read_loss_network(params["loss_network"]) if params["loss_network"] else None,
        targets=params["targets"],
        distillation=distillation,
        initial_model=params["initial_model"],
    )


@train.command("targets")
@click.option(
    "--styles",
    required=True,
    type=click.Path(path_type=Path),
    help="A folder of paintings, one style each (as for `painterly train feedforward`).",
)
@click.option("--photos", required=True, type=click.Path(path_type=Path), help="A folder of photos to crop.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Target folder (resumes: finished targets are kept).",
)
@click.option("--per-style", default=16, show_default=True, type=click.IntRange(min=1), help="Crops per painting.")
@click.option("--crop", default=128, show_default=True, type=click.IntRange(min=64))
@click.option("--iterations", default=100, show_default=True, type=click.IntRange(min=1), help="L-BFGS iterations.")
@click.option("--strength", default=0.5, show_default=True, type=click.FloatRange(0, 1))
@click.option(
    "--style-size",
    default=512,
    show_default=True,
    type=click.IntRange(min=32),
    help="Long side the paintings are seen at (as in `painterly train feedforward`).",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True, type=click.Choice(DEVICE_NAMES))
@click.option("--precision", default="auto", show_default=True, type=click.Choice(PRECISION_NAMES))
@click.option("--quiet", is_flag=True, help="No progress bar.")
def targets(**params: Any) -> int:
    """Make distillation targets: random photo crops styled with every painting by the optimisation.

    Train on them with `painterly train feedforward --targets DIR`.
    """
    from tqdm import tqdm

    from ..training.distillation import TargetProgress, TargetSettings, make_targets

    style_files = image_files(params["styles"])
    image_files(params["photos"])
    settings = TargetSettings(
        per_style=params["per_style"],
        crop=params["crop"],
        iterations=params["iterations"],
        strength=params["strength"],
        style_size=params["style_size"],
        seed=params["seed"],
    )
    bar = tqdm(total=len(style_files) * settings.per_style, unit="target", disable=params["quiet"])

    def on_progress(progress: TargetProgress) -> None:
        bar.set_postfix(style=progress.style, refresh=False)
        bar.update(1)

    from .transfer import terminate_as_interrupt

    try:
        with terminate_as_interrupt():
            manifest = make_targets(
                style_files,
                params["photos"],
                params["out_dir"],
                settings,
                device=params["device"],
                precision=params["precision"],
                on_progress=on_progress,
            )
    finally:
        bar.close()
    click.echo(f"targets: {manifest.parent} ({len(style_files) * settings.per_style} pairs)")
    return 0


def read_loss_network(path: Path) -> dict[str, Any]:
    """A VGG16 state dict from a safetensors file, as float32; a missing or unreadable file is a WeightsError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..errors import WeightsError

    try:
        return {key: value.float() for key, value in load_file(str(path)).items()}
    except (OSError, SafetensorError) as error:
        raise WeightsError(f"cannot read the loss network {path}: {error}") from error


@train.command("arbitrary")
@click.option(
    "--styles",
    "styles",
    required=True,
    type=click.Path(path_type=Path),
    help="A folder of paintings to train on (any number; more variety generalises better).",
)
@click.option(
    "--hold-out",
    default="",
    help="Comma-separated painting names (file stems) in --styles to leave out of training, e.g. to judge "
    "generalisation on them.",
)
@training_options(batch=8, learning_rate=1e-3)
@click.option(
    "--width", default=32, show_default=True, type=click.IntRange(4, 256), help="Decoder channels at full size."
)
@click.option(
    "--quarter-convs", default=2, show_default=True, type=click.IntRange(0, 8), help="Convolutions at 1/4 size."
)
@click.option("--style-weight", default=10.0, show_default=True, type=float)
@click.option("--content-weight", default=1.0, show_default=True, type=float)
@click.option("--reconstruction-weight", default=10.0, show_default=True, type=float, help="Pixel loss, self-styled.")
@click.option("--self-style-share", default=0.25, show_default=True, type=click.FloatRange(0, 1))
@click.option("--photo-style-share", default=0.25, show_default=True, type=click.FloatRange(0, 1))
@click.option("--color-jitter", default=0.5, show_default=True, type=click.FloatRange(0, 1))
@click.option(
    "--preview-style",
    "preview_styles",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A style image for the preview sheets (repeatable; held-out paintings show generalisation).",
)
@click.option(
    "--init-from",
    "initial_decoder",
    type=click.Path(path_type=Path),
    help="Start from this decoder file (same shape), e.g. to fine-tune one; ignored when the run resumes.",
)
def arbitrary(**params: Any) -> int:
    """Train the AdaIN decoder of `painterly stylize --style` on paintings and photos.

    Resumes from the run folder's checkpoint if there is one; writes decoder.safetensors whenever it stops.
    """
    from ..methods.decoders import DecoderSpec
    from ..training.arbitrary import AdainLossWeights, train_arbitrary

    image_files(params["photos"])
    training_files, held_out = paintings_for_training(params["styles"], params["hold_out"])
    if not training_files:
        raise ConfigError("--hold-out leaves no painting to train on")
    for path in params["preview_styles"]:
        if not Path(path).is_file():
            raise ConfigError(f"--preview-style {path}: no such file")
    weights = AdainLossWeights(
        content_weight=params["content_weight"],
        style_weight=params["style_weight"],
        reconstruction_weight=params["reconstruction_weight"],
        self_style_share=params["self_style_share"],
        photo_style_share=params["photo_style_share"],
        color_jitter=params["color_jitter"],
    )
    return run_training(
        train_arbitrary,
        params,
        training_files,
        params["photos"],
        params["run_dir"],
        spec=DecoderSpec(width=params["width"], quarter_convs=params["quarter_convs"]),
        weights=weights,
        held_out=held_out,
        preview_styles=params["preview_styles"],
        initial_decoder=params["initial_decoder"],
    )


@train.command("decoders")
@click.option(
    "--paintings",
    type=click.Path(path_type=Path),
    help="A folder of paintings whose crops join the photos (optional: reconstruction needs no style).",
)
@click.option("--hold-out", default="", help="Comma-separated painting names (file stems) to leave out of training.")
@training_options(batch=8, learning_rate=1e-3)
@click.option(
    "--target",
    type=click.Choice(["wct", "photo"]),
    default="wct",
    show_default=True,
    help="wct: one decoder per level (--levels); photo: the wavelet decoder of --method photo.",
)
@click.option(
    "--levels",
    default=",".join(LEVELS),
    show_default=True,
    help="Comma-separated VGG16 levels to train a decoder for.",
)
@click.option(
    "--width", default=32, show_default=True, type=click.IntRange(4, 256), help="Decoder channels at full size."
)
@click.option(
    "--quarter-convs", default=2, show_default=True, type=click.IntRange(0, 8), help="Extra convolutions at 1/4 size."
)
@click.option("--pixel-weight", default=1.0, show_default=True, type=click.FloatRange(min=0))
@click.option(
    "--feature-weight", default=0.05, show_default=True, type=click.FloatRange(min=0), help="Relative feature MSE."
)
@click.option(
    "--transfer-weight",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="wct: relative feature MSE on whitened-and-coloured features (teaches the decoders WCT's inputs).",
)
@click.option("--painting-share", default=0.25, show_default=True, type=click.FloatRange(0, 1))
@click.option(
    "--zoom-out",
    default=2.0,
    show_default=True,
    type=click.FloatRange(1, 8),
    help="Crops cover up to this many times the crop size, scaled down.",
)
@click.option(
    "--eval-photos",
    type=click.Path(path_type=Path),
    help="Photos never trained on: the model card records each decoder's reconstruction PSNR on them.",
)
@click.option(
    "--init-from",
    "initial_decoders_file",
    type=click.Path(path_type=Path),
    help="Start from a decoder set, or from an AdaIN decoder for relu4_1; ignored when the run resumes.",
)
def decoders(**params: Any) -> int:
    """Train reconstruction decoders on photos (and painting crops): WCT's, one per VGG16 level, or the wavelet
    decoder of the photorealistic mode (--target photo).

    Resumes from the run folder's checkpoint if there is one; writes the model file whenever it stops.
    """
    from ..training.decoders import ReconstructionWeights, train_level_decoders

    image_files(params["photos"])
    levels = [name.strip() for name in params["levels"].split(",") if name.strip()]
    for layer in levels:
        level_of(layer)
    painting_files, held_out = paintings_for_training(params["paintings"], params["hold_out"])
    if params["eval_photos"] is not None:
        image_files(params["eval_photos"])
    weights = ReconstructionWeights(
        pixel_weight=params["pixel_weight"],
        feature_weight=params["feature_weight"],
        transfer_weight=params["transfer_weight"],
        painting_share=params["painting_share"] if painting_files else 0.0,
        max_zoom_out=params["zoom_out"],
    )
    if params["target"] == "photo":
        from ..training.photo_decoder import train_photo_decoder

        wct_only = {"levels": ",".join(LEVELS), "width": 32, "quarter_convs": 2, "transfer_weight": 0.0}
        given = [name for name, default in wct_only.items() if params[name] != default]
        if given:
            flags = ", ".join(f"--{name.replace('_', '-')}" for name in given)
            raise ConfigError(f"{flags} shape the WCT decoders; the photo decoder mirrors the encoder (drop them)")

        return run_training(
            train_photo_decoder,
            params,
            params["photos"],
            params["run_dir"],
            painting_files=painting_files,
            held_out=held_out,
            weights=weights,
            evaluation_folder=params["eval_photos"],
            initial_decoder_file=params["initial_decoders_file"],
        )
    return run_training(
        train_level_decoders,
        params,
        params["photos"],
        params["run_dir"],
        levels=levels,
        painting_files=painting_files,
        held_out=held_out,
        weights=weights,
        width=params["width"],
        quarter_convs=params["quarter_convs"],
        evaluation_folder=params["eval_photos"],
        initial_decoders_file=params["initial_decoders_file"],
    )
