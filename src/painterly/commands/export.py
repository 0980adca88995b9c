"""``painterly export``: a trained network as ONNX or TorchScript."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import OutputError
from ..export import EXPORT_FORMATS, ExportFormat
from .selection import network_option

SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="File to write (.onnx or .pt).")
@click.option("--format", "export_format", type=click.Choice(EXPORT_FORMATS), help="Default: from the output's suffix.")
@click.option("--model", type=click.Path(path_type=Path), help="A trained model file (default: the shipped presets).")
@network_option()
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def export(
    output: Path, export_format: ExportFormat | None, model: Path | None, network: str | None, overwrite: bool
) -> int:
    """Export the preset network (--network, or --model) for other runtimes: ONNX (onnxruntime, web) or TorchScript.

    Inputs of the exported graph: image (1, 3, H, W) in [0, 1] and weights (1, styles); output: the stylised image.
    """
    from ..export import export_network
    from ..presets import load_presets

    if export_format is None:
        guessed = [name for name, suffix in SUFFIXES.items() if output.suffix.lower() == suffix]
        if not guessed:
            raise OutputError(f"cannot tell the format from '{output.name}': use a .onnx or .pt name, or --format")
        export_format = guessed[0]  # type: ignore[assignment]
    assert export_format is not None
    if output.suffix.lower() != SUFFIXES[export_format]:
        raise OutputError(f"a {export_format} file should be named *{SUFFIXES[export_format]}, not {output.name}")
    if output.exists() and not overwrite:
        raise OutputError(f"{output} exists; pass --overwrite to replace it")
    if output.is_dir():
        raise OutputError(f"cannot write {output}: it is a directory")
    loaded, names = load_presets(model, network=network or "quality")
    export_network(loaded, output, format=export_format, style_names=names)
    click.echo(f"wrote {output} ({export_format}, styles: {', '.join(names)})")
    return 0
