"""Trained networks on disk: fp16 safetensors with a JSON description in the metadata (never a pickle).

>>> save_style_network(net, ["starry_night"], Path("model.safetensors"), info={"steps": 10})   # doctest: +SKIP
>>> net, names, info = load_style_network(Path("model.safetensors"))                         # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import ConfigError, OutputError, WeightsError
from .feedforward import NetworkSpec, StyleNetwork

FEEDFORWARD_FORMAT = "painterly-feedforward/1"
MAX_WIDTH = 256  # sanity bounds for what a model file may ask to build
MAX_BLOCKS = 64


def save_style_network(
    network: StyleNetwork, style_names: list[str], path: Path, *, info: dict[str, Any] | None = None
) -> Path:
    """Write ``network`` in fp16 with its shape, style names and ``info`` (training record) as metadata."""
    if len(style_names) != network.spec.styles:
        raise ConfigError(f"{len(style_names)} style names for a network with {network.spec.styles} styles")
    tensors = {name: value.detach().to(torch.float16).contiguous() for name, value in network.state_dict().items()}
    metadata = {
        "format": FEEDFORWARD_FORMAT,
        "spec": json.dumps(network.spec.as_dict()),
        "styles": json.dumps(style_names),
        "info": json.dumps(info or {}),
    }
    temporary = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(temporary), metadata=metadata)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {error.strerror}") from error
    return path


def read_style_network_metadata(path: Path) -> tuple[NetworkSpec, list[str], dict[str, Any]]:
    """Shape, style names and training record of a model file, without loading its tensors."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (OSError, SafetensorError) as error:
        raise WeightsError(f"{path}: not a readable safetensors model file ({error})") from error
    if metadata.get("format") != FEEDFORWARD_FORMAT:
        raise WeightsError(f"{path}: not a painterly feed-forward model (format {metadata.get('format')!r})")
    try:
        spec = NetworkSpec.from_dict(json.loads(metadata["spec"]))
        names = [str(name) for name in json.loads(metadata["styles"])]
        info = dict(json.loads(metadata.get("info", "{}")))
    except (KeyError, ValueError, TypeError, AttributeError, ConfigError) as error:
        raise WeightsError(f"{path}: damaged model metadata ({error})") from error
    if len(names) != spec.styles or spec.width > MAX_WIDTH or spec.residual_blocks > MAX_BLOCKS:
        raise WeightsError(f"{path}: damaged model metadata ({len(names)} names for {spec.styles} styles, {spec})")
    return spec, names, info


def load_style_network(path: Path) -> tuple[StyleNetwork, list[str], dict[str, Any]]:
    """The network (fp32, eval mode), its style names and its training record."""
    spec, names, info = read_style_network_metadata(path)
    try:
        network = StyleNetwork(spec)
        with safe_open(str(path), framework="pt") as handle:
            state = {key: handle.get_tensor(key).float() for key in handle.keys()}  # noqa: SIM118
        network.load_state_dict(state)
    except (OSError, SafetensorError, RuntimeError) as error:
        raise WeightsError(f"{path}: tensors do not fit the network it describes ({error})") from error
    return network.eval(), names, info
