"""``painterly transfer`` and ``painterly demo``: optimisation-based style transfer from the command line."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import click
import numpy as np
from PIL import Image

from ..api import TransferInputs, load_inputs, output_alpha, run_transfer
from ..config import BACKWARDS, ENCODERS, INIT_KINDS, MIN_SIZE, OPTIMIZERS, POOLINGS, GatysConfig
from ..devices import DEVICE_NAMES, PRECISION_NAMES
from ..errors import ConfigError, OutputError
from ..history import plot_history, save_history_json
from ..image.color import COLOR_MODES
from ..image.io import DEFAULT_MAX_PIXELS, LoadedImage, as_loaded_image, check_output_path, save_image, to_pil
from ..methods.gatys import GatysResult, Progress
from ..methods.one_pass_start import ONE_PASS_INITS
from ..postprocess import FinishOptions
from ..record import build_run_record, record_path_for, write_run_record

ANIMATION_LONG_SIDE = 384
ANIMATION_FRAMES = 60
DEFAULTS = GatysConfig()
FINISH_FIELDS = ("denoise", "sharpen", "contrast", "saturation")
# CLI option name → config field, for the options that map one to one.
CONFIG_OPTIONS = {
    "size": "size",
    "iterations": "iterations",
    "level_ratio": "level_ratio",
    "encoder": "encoder",
    "pooling": "pooling",
    "content_layers": "content_layers",
    "style_layers": "style_layers",
    "strength": "strength",
    "content_weight": "content_weight",
    "style_weight": "style_weight",
    "tv_weight": "tv_weight",
    "style_blend": "style_blend",
    "style_scale": "style_scale",
    "color": "color",
    "optimizer": "optimizer",
    "lr": "learning_rate",
    "tolerance": "tolerance",
    "init": "init",
    "init_noise": "init_noise",
    "tileable": "tileable",
    "tile_size": "tile_size",
    "seed": "seed",
    "device": "device",
    "precision": "precision",
    "backward": "backward",
}


def _layers_text(layers: dict[str, float] | Any) -> str:
    return ",".join(f"{name}:{weight:g}" for name, weight in dict(layers).items())


def gatys_options(function: Any) -> Any:
    """The options shared by ``transfer`` and ``demo``, each mapping to a :class:`GatysConfig` field."""
    options = [
        click.option(
            "--size", type=click.IntRange(MIN_SIZE, 65536), help=f"Output long side in pixels [{DEFAULTS.size}]."
        ),
        click.option(
            "--iterations",
            help="Iterations per pyramid level, coarse to fine, e.g. 300,200; one number "
            f"= a single full-size level [{','.join(map(str, DEFAULTS.iterations))}].",
        ),
        click.option("--level-ratio", type=float, help=f"Size ratio between pyramid levels [{DEFAULTS.level_ratio}]."),
        click.option(
            "--strength",
            type=click.FloatRange(0, 1),
            help=f"Style strength 0 (content) .. 1 (all style) [{DEFAULTS.strength}].",
        ),
        click.option("--style-weight", type=float, help="Raw style weight (overrides --strength)."),
        click.option("--content-weight", type=float, help=f"Raw content weight [{DEFAULTS.content_weight}]."),
        click.option("--tv-weight", type=float, help=f"Total-variation (smoothness) weight [{DEFAULTS.tv_weight}]."),
        click.option("--style-blend", help="Weights of the style images, e.g. 0.7,0.3 [equal]."),
        click.option(
            "--style-scale",
            type=float,
            help=f"Style image size relative to the output (bigger = larger brush strokes) [{DEFAULTS.style_scale}].",
        ),
        click.option(
            "--color",
            type=click.Choice(COLOR_MODES),
            help="Colour handling: keep the photo's colours (luminance), or match the style's colours to "
            "the photo first (histogram, meancov) [none].",
        ),
        click.option(
            "--mask",
            "masks",
            multiple=True,
            type=click.Path(path_type=Path),
            help="A grey mask per style image (white = that style), in style order.",
        ),
        click.option(
            "--init",
            help="Start image: auto (wct where it can, else content), content, noise, mix, wct or adain (that "
            "method's result), or an image file "
            f"(a file named like a keyword: ./wct) [{DEFAULTS.init}].",
        ),
        click.option(
            "--tile-size",
            type=click.IntRange(0),
            help="Evaluate in tiles of N px (a multiple of 16); 0 = never; default: only when memory requires.",
        ),
        click.option(
            "--tileable/--no-tileable",
            default=None,
            help="Make the output wrap seamlessly, for textures and games [no].",
        ),
        click.option("--init-noise", type=click.FloatRange(0, 1), help="Noise share for --init mix [0.5]."),
        click.option("--optimizer", type=click.Choice(OPTIMIZERS), help="Optimiser [lbfgs]."),
        click.option("--lr", type=float, help="Step size [1.0 for lbfgs, 0.02 for adam]."),
        click.option(
            "--tolerance",
            type=float,
            help=f"Stop a level when the loss improves by less than this per iteration [{DEFAULTS.tolerance}].",
        ),
        click.option("--seed", type=int, help=f"Random seed [{DEFAULTS.seed}]."),
        click.option("--encoder", type=click.Choice(ENCODERS), help="Encoder network [vgg16]."),
        click.option("--pooling", type=click.Choice(POOLINGS), help="Pooling in the encoder [max]."),
        click.option(
            "--content-layers", help=f"Content layers with weights [{_layers_text(DEFAULTS.content_layers)}]."
        ),
        click.option("--style-layers", help=f"Style layers with weights [{_layers_text(DEFAULTS.style_layers)}]."),
        click.option("--device", type=click.Choice(DEVICE_NAMES), help="Compute device [auto]."),
        click.option(
            "--precision",
            type=click.Choice(PRECISION_NAMES),
            help="Encoder precision; auto = bf16 where the hardware has it [auto].",
        ),
        click.option(
            "--backward",
            type=click.Choice(BACKWARDS),
            help="Encoder gradient: fused = hand-written backward (fast), autograd = the reference [fused].",
        ),
        click.option("--denoise", type=click.FloatRange(0, 1), help="Finishing: light denoise strength [0]."),
        click.option("--sharpen", type=click.FloatRange(0, 2), help="Finishing: unsharp-mask amount [0]."),
        click.option("--contrast", type=float, help="Finishing: contrast factor [1]."),
        click.option("--saturation", type=float, help="Finishing: saturation factor [1]."),
        click.option(
            "--config",
            "config_file",
            type=click.Path(path_type=Path),
            help="TOML file of options (flags given on the command line win).",
        ),
        click.option("--save-every", type=click.IntRange(1), help="Also save the image every N iterations."),
        click.option("--animate", type=click.Path(path_type=Path), help="Write a GIF of the optimisation here."),
        click.option(
            "--history",
            "write_history",
            is_flag=True,
            help="Write the loss history as OUT.history.json and a plot OUT.history.png.",
        ),
        click.option(
            "--bit-depth",
            type=click.Choice(["8", "16"]),
            default="8",
            show_default=True,
            help="Bits per channel of the output (16 for PNG/TIFF).",
        ),
        click.option(
            "--max-pixels",
            type=click.IntRange(1),
            default=DEFAULT_MAX_PIXELS,
            show_default=True,
            help="Refuse input images with more pixels than this (decompression-bomb guard).",
        ),
        click.option("--overwrite", is_flag=True, help="Replace an existing output file."),
        click.option("--no-record", is_flag=True, help="Do not write the OUT.run.json run record."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def build_config(params: dict[str, Any]) -> GatysConfig:
    """Config from the TOML file (if any) with the flags that were given on top."""
    base = GatysConfig.from_toml(params["config_file"]) if params.get("config_file") else GatysConfig()
    changes = {
        field_name: params[option] for option, field_name in CONFIG_OPTIONS.items() if params.get(option) is not None
    }
    finish = {name: params[name] for name in FINISH_FIELDS if params.get(name) is not None}
    if finish:
        try:
            changes["finish"] = FinishOptions(**{**base.finish.__dict__, **finish})
        except TypeError as error:
            raise ConfigError(str(error)) from error
    return GatysConfig.from_mapping(changes, base=base)


@dataclass
class RunWatcher:
    """The CLI's progress callback: a tqdm bar, intermediate saves, animation frames, and the latest state."""

    output: Path
    content: LoadedImage
    bit_depth: int
    total_steps: int
    save_every: int | None = None
    animate_every: int | None = None
    quiet: bool = False
    latest: Progress | None = None
    frames: list[Image.Image] = field(default_factory=list)
    bar: Any = None

    def __call__(self, progress: Progress) -> None:
        self.latest = progress
        if self.bar is None and not self.quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total_steps, unit="it", dynamic_ncols=True, leave=True)
        if self.bar is not None:
            if progress.total_steps != self.bar.total:
                self.bar.total = progress.total_steps
            self.bar.set_description(
                f"level {progress.level + 1}/{progress.levels} {progress.level_size[1]}x{progress.level_size[0]}",
                refresh=False,
            )
            losses = progress.losses
            self.bar.set_postfix(
                loss=f"{losses['total']:.4g}",
                content=f"{losses['content']:.3g}",
                style=f"{losses['style']:.3g}",
                tv=f"{losses['tv']:.2g}",
                refresh=False,
            )
            self.bar.update(1)
        save = bool(self.save_every) and progress.total_step % (self.save_every or 1) == 0
        animate = bool(self.animate_every) and (progress.total_step - 1) % (self.animate_every or 1) == 0
        if not (save or animate):
            return
        image = progress.image()  # finishing at output size costs something: once per iteration at most
        if save:
            path = self.output.with_name(f"{self.output.stem}.step{progress.total_step:05d}{self.output.suffix}")
            save_image(image, path, alpha=output_alpha(self.content, image), bit_depth=self.bit_depth)
        if animate:
            self.frames.append(_frame(image))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _frame(image: Any) -> Image.Image:
    picture = to_pil(image)
    picture.thumbnail((ANIMATION_LONG_SIDE, ANIMATION_LONG_SIDE), Image.Resampling.LANCZOS)
    return picture


def _write_animation(frames: list[Image.Image], path: Path) -> None:
    if not frames:
        return
    size = frames[-1].size
    frames = [frame if frame.size == size else frame.resize(size, Image.Resampling.BICUBIC) for frame in frames]
    durations = [80] * (len(frames) - 1) + [1500]
    try:
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0, optimize=True)
    except OSError as error:
        raise OutputError(f"cannot write animation {path}: {error.strerror or error}") from error


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so a killed run still keeps its latest image."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def execute(
    inputs: TransferInputs,
    config: GatysConfig,
    params: dict[str, Any],
    output: Path,
    input_paths: Sequence[tuple[str, str | None]],
) -> int:
    """Run, save the image, the record, the history and the animation; on Ctrl-C keep the latest image."""
    bit_depth = int(params["bit_depth"])
    total_steps = sum(config.iterations)
    animate_every = max(1, total_steps // ANIMATION_FRAMES) if params.get("animate") else None
    watcher = RunWatcher(
        output=output,
        content=inputs.content,
        bit_depth=bit_depth,
        total_steps=total_steps,
        save_every=params.get("save_every"),
        animate_every=animate_every,
        quiet=params["quiet"],
    )
    started = time.perf_counter()
    result: GatysResult | None = None
    try:
        with terminate_as_interrupt():
            result = run_transfer(inputs, config, progress=watcher)
    except KeyboardInterrupt:
        watcher.close()
        if watcher.latest is None:
            click.echo("painterly: interrupted before the first iteration; nothing written", err=True)
            return 130  # the shell convention for an interrupted command
        image = watcher.latest.image()
        save_image(image, output, alpha=output_alpha(inputs.content, image), bit_depth=bit_depth)
        if not params["no_record"]:
            record = build_run_record(
                method="gatys",
                options=config.to_dict(),
                inputs=input_paths,
                weights=_weights_sha(config),
                interrupted=True,
                result={
                    "losses": watcher.latest.losses,
                    "iterations_done": watcher.latest.total_step,
                    "seconds": time.perf_counter() - started,
                },
            )
            write_run_record(record, record_path_for(output))
        click.echo(
            f"painterly: interrupted; kept the image of iteration {watcher.latest.total_step} in {output}",
            err=True,
        )
        return 130  # the shell convention for an interrupted command
    finally:
        watcher.close()
    assert result is not None
    save_image(result.image, output, alpha=output_alpha(inputs.content, result.image), bit_depth=bit_depth)
    seconds = time.perf_counter() - started
    if not params["no_record"]:
        record = build_run_record(
            method="gatys",
            options=config.to_dict(),
            inputs=input_paths,
            weights=_weights_sha(config, result.start),
            result={
                "losses": result.losses,
                "layer_losses": result.layer_losses,
                "timings": result.timings,
                "level_sizes": result.level_sizes,
                "iterations_run": result.iterations_run,
                "stopped_early": result.stopped_early,
                "device": result.device,
                "precision": result.precision,
                "start": result.start,
                "seconds": seconds,
                "output": str(output),
            },
        )
        write_run_record(record, record_path_for(output))
    if params.get("write_history"):
        save_history_json(result.history, output.with_name(output.stem + ".history.json"))
        plot_history(result.history, output.with_name(output.stem + ".history.png"))
    if params.get("animate"):
        watcher.frames.append(_frame(result.image))
        _write_animation(watcher.frames, params["animate"])
    if result.diverged:
        click.echo(
            "painterly: warning: the loss became non-finite; kept the best image before that "
            "(try a smaller --lr or --optimizer adam)",
            err=True,
        )
    height, width = result.image.shape[-2:]
    click.echo(
        f"wrote {output} ({width}x{height}) in {seconds:.1f} s "
        f"[{sum(result.iterations_run)} iterations from {result.start}, {result.device}, {result.precision}]"
    )
    return 0


def _weights_sha(config: GatysConfig, start: str = "content") -> dict[str, str]:
    """sha256 of the encoder's weights and, where the one-pass start used them, of that method's networks."""
    from .. import weights
    from ..methods.registry import get_method

    try:
        found = {config.encoder: weights.verify(config.encoder)}
        if start in ONE_PASS_INITS:
            extra = [name for name in get_method(start).weights if name not in found]
            found |= weights.fingerprints(extra)
        return found
    except Exception:  # the record must not fail a finished run
        return {}


def _check_outputs(output: Path, params: dict[str, Any], inputs: Sequence[Path]) -> Path:
    output = check_output_path(output, inputs=inputs, overwrite=params["overwrite"])
    if params["bit_depth"] == "16" and output.suffix.lower() not in (".png", ".tif", ".tiff"):
        raise OutputError(f"--bit-depth 16 needs a .png, .tif or .tiff output, not {output.name}")
    if params.get("save_every") and not params["overwrite"]:
        existing = sorted(output.parent.glob(f"{output.stem}.step*{output.suffix}"))
        if existing:
            raise OutputError(
                f"cannot write {existing[0]}: intermediate images exist; pass --overwrite to replace them"
            )
    if params.get("animate"):
        params["animate"] = check_output_path(
            params["animate"], inputs=[*inputs, output], overwrite=params["overwrite"], suffixes=(".gif",)
        )
    return output


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.argument("content", type=click.Path(path_type=Path))
@click.argument("styles", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Output image (.png, .jpg, .tif, .webp); a run record OUT.run.json is written beside it.",
)
@gatys_options
def transfer(content: Path, styles: tuple[Path, ...], output: Path, **params: Any) -> int:
    """Stylise CONTENT with one or more STYLE images by optimisation (Gatys et al.).

    \b
    Examples:
      painterly transfer photo.jpg starry_night.jpg -o out.png
      painterly transfer photo.jpg a.jpg b.jpg --style-blend 0.7,0.3 --color luminance -o out.png
      painterly transfer photo.jpg sky.jpg ground.jpg --mask sky.png --mask ground.png -o out.png
    """
    config = build_config(params)
    masks = list(params["masks"])
    init_path = [Path(config.init)] if config.init not in INIT_KINDS else []
    output = _check_outputs(output, params, [content, *styles, *masks, *init_path])
    inputs = load_inputs(content, list(styles), config=config, masks=masks or None, max_pixels=params["max_pixels"])
    input_paths = [
        ("content", str(content)),
        *[("style", str(s)) for s in styles],
        *[("mask", str(m)) for m in masks],
        *[("init", str(p)) for p in init_path],
    ]
    return execute(inputs, config, params, output, input_paths)


DEMO_CONTENT = "astronaut"
DEMO_STYLE = "immunohistochemistry"
DEMO_STRENGTH = 0.7


def demo_images() -> tuple[np.ndarray, np.ndarray]:
    """The embedded default pair: CC0 sample images that ship with scikit-image."""
    from skimage import data

    return getattr(data, DEMO_CONTENT)(), getattr(data, DEMO_STYLE)()


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("out/demo.png"),
    show_default=True,
    help="Where to write the result.",
)
@click.option(
    "--preset",
    "preset",
    help="Use a shipped feed-forward preset (see `painterly presets`) instead of optimising with the style image.",
)
@click.option(
    "--arbitrary",
    is_flag=True,
    help="Use the arbitrary-style method (AdaIN, one pass with the shipped decoder) with the embedded style image.",
)
@gatys_options
def demo(output: Path, preset: str | None, arbitrary: bool, **params: Any) -> int:
    """Stylise an embedded photo with an embedded style image (no files needed), or with a preset."""
    # the demo may always redo its own default outputs
    defaults = (Path("out/demo.png"), Path("out/demo_preset.png"), Path("out/demo_adain.png"))
    params["overwrite"] = params["overwrite"] or output in defaults
    if preset is not None and arbitrary:
        raise ConfigError("choose --preset or --arbitrary, not both")
    if preset is not None:
        return _preset_demo(output, preset, params)
    if arbitrary:
        return _arbitrary_demo(output, params)
    if params.get("strength") is None and params.get("style_weight") is None:
        params["strength"] = DEMO_STRENGTH  # the texture style shows best a little above the general default
    config = build_config(params)
    output = _check_outputs(output, params, [])
    content, style = demo_images()
    inputs = load_inputs(content, [style], config=config, max_pixels=params["max_pixels"])
    sources = [("content", f"skimage.data.{DEMO_CONTENT}"), ("style", f"skimage.data.{DEMO_STYLE}")]
    return execute(inputs, config, params, output, sources)


def _preset_demo(output: Path, preset: str, params: dict[str, Any]) -> int:
    """The embedded photo through a preset network: one pass, about a second. Of the Gatys options, --strength,
    --color (none or luminance) and --size apply; the others are ignored."""
    from ..presets import parse_blend

    if params.get("color") not in (None, "none", "luminance"):
        raise ConfigError("with --preset, --color is none or luminance")
    blend = parse_blend(preset)
    values = {
        "strength": 1.0 if params.get("strength") is None else params["strength"],
        "color": params.get("color") or "none",
        "size": params.get("size"),
    }
    return _one_pass_demo(output, params, "preset", (list(blend), list(blend.values())), values, f"preset {preset}")


def _arbitrary_demo(output: Path, params: dict[str, Any]) -> int:
    """The embedded photo and style through AdaIN with the shipped decoder. Of the Gatys options, --color, --size
    and --style-scale apply (and --strength, as alpha); the others are ignored."""
    values = {
        "alpha": 1.0 if params.get("strength") is None else params["strength"],
        "color": params.get("color") or "none",
        "size": params.get("size"),
        "style_scale": params.get("style_scale") or 1.0,
    }
    return _one_pass_demo(output, params, "adain", None, values, f"arbitrary style with skimage.data.{DEMO_STYLE}")


def _one_pass_demo(
    output: Path,
    params: dict[str, Any],
    method_name: str,
    presets: tuple[list[str], list[float]] | None,
    values: dict[str, Any],
    label: str,
) -> int:
    """Run a one-pass method on the embedded photo (with ``presets``, or the embedded style image), save the result,
    report the time."""
    from ..methods.registry import get_method

    method = get_method(method_name)
    options = method.options(None, device=params["device"] or "auto", precision=params["precision"] or "auto", **values)
    output = check_output_path(output, overwrite=params["overwrite"])
    content, style = (as_loaded_image(image).rgb for image in demo_images())
    started = time.perf_counter()
    styles, weights = presets if presets is not None else ([style], None)
    result = method.prepare(styles, options, weights=weights)(content)
    save_image(result, output)
    click.echo(f"wrote {output} ({time.perf_counter() - started:.2f} s, {label})")
    return 0
