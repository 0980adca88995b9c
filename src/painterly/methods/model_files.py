"""Trained networks on disk: fp16 safetensors with a JSON description in the metadata (never a pickle).

>>> save_style_network(net, ["starry_night"], Path("model.safetensors"), info={"steps": 10})   # doctest: +SKIP
>>> net, names, info = load_style_network(Path("model.safetensors"))                         # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from ..encoders.haar import PhotoDecoder, PhotoDecoderSpec
from ..errors import ConfigError, OutputError, WeightsError
from .decoders import LEVELS, Decoder, DecoderSpec
from .feedforward import NetworkSpec, StyleNetwork

FEEDFORWARD_FORMAT = "painterly-feedforward/1"
DECODER_FORMAT = "painterly-adain-decoder/1"
DECODER_SET_FORMAT = "painterly-decoder-set/1"
PHOTO_DECODER_FORMAT = "painterly-photo-decoder/1"
MAX_WIDTH = 256  # sanity bounds for what a model file may ask to build
MAX_BLOCKS = 64


def save_style_network(
    network: StyleNetwork, style_names: list[str], path: Path, *, info: dict[str, Any] | None = None
) -> Path:
    """Write ``network`` in fp16 with its shape, style names and ``info`` (training record) as metadata."""
    if len(style_names) != network.spec.styles:
        raise ConfigError(f"{len(style_names)} style names for a network with {network.spec.styles} styles")
    metadata = {
        "format": FEEDFORWARD_FORMAT,
        "spec": json.dumps(network.spec.as_dict()),
        "styles": json.dumps(style_names),
        "info": json.dumps(info or {}),
    }
    return _write_half_precision(network, metadata, path)


def _write_half_precision(module: nn.Module, metadata: dict[str, str], path: Path) -> Path:
    """The module's state in fp16 with ``metadata``, written to a temporary file and moved into place."""
    tensors = {name: value.detach().to(torch.float16).contiguous() for name, value in module.state_dict().items()}
    temporary = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(temporary), metadata=metadata)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {error.strerror}") from error
    return path


def _read_metadata(path: Path, expected_format: str, kind: str) -> dict[str, str]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata: dict[str, str] = handle.metadata() or {}
    except (OSError, SafetensorError) as error:
        raise WeightsError(f"{path}: not a readable safetensors model file ({error})") from error
    if metadata.get("format") != expected_format:
        raise WeightsError(f"{path}: not a painterly {kind} model (format {metadata.get('format')!r})")
    return metadata


def _load_state(module: nn.Module, path: Path) -> None:
    """Load the file's tensors (as fp32) into ``module``; a mismatch is a WeightsError."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            state = {key: handle.get_tensor(key).float() for key in handle.keys()}  # noqa: SIM118
        module.load_state_dict(state)
    except (OSError, SafetensorError, RuntimeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(f"{path}: tensors do not fit the network it describes ({first_line})") from error


def read_style_network_metadata(path: Path) -> tuple[NetworkSpec, list[str], dict[str, Any]]:
    """Shape, style names and training record of a model file, without loading its tensors."""
    metadata = _read_metadata(path, FEEDFORWARD_FORMAT, "feed-forward")
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
    network = StyleNetwork(spec)
    _load_state(network, path)
    return network.eval(), names, info


def save_decoder(decoder: Decoder, path: Path, *, info: dict[str, Any] | None = None) -> Path:
    """Write an AdaIN decoder in fp16 with its shape and ``info`` (training record) as metadata."""
    metadata = {"format": DECODER_FORMAT, "spec": json.dumps(decoder.spec.as_dict()), "info": json.dumps(info or {})}
    return _write_half_precision(decoder, metadata, path)


def read_decoder_metadata(path: Path) -> tuple[DecoderSpec, dict[str, Any]]:
    """Shape and training record of a decoder file, without loading its tensors."""
    metadata = _read_metadata(path, DECODER_FORMAT, "AdaIN decoder")
    try:
        spec = DecoderSpec.from_dict(json.loads(metadata["spec"]))
        info = dict(json.loads(metadata.get("info", "{}")))
    except (KeyError, ValueError, TypeError, AttributeError, ConfigError) as error:
        raise WeightsError(f"{path}: damaged model metadata ({error})") from error
    return spec, info


def load_decoder(path: Path) -> tuple[Decoder, dict[str, Any]]:
    """The decoder (fp32, eval mode) and its training record."""
    spec, info = read_decoder_metadata(path)
    decoder = Decoder(spec)
    _load_state(decoder, path)
    return decoder.eval(), info


def save_decoder_set(decoders: Mapping[str, Decoder], path: Path, *, info: dict[str, Any] | None = None) -> Path:
    """Write decoders keyed by level (``relu1_1`` ...) in one fp16 file, each level's tensors under its name."""
    holder = nn.ModuleDict(dict(decoders))
    specs = {layer: decoder.spec.as_dict() for layer, decoder in decoders.items()}
    metadata = {"format": DECODER_SET_FORMAT, "specs": json.dumps(specs), "info": json.dumps(info or {})}
    return _write_half_precision(holder, metadata, path)


def read_decoder_set_metadata(path: Path) -> tuple[dict[str, DecoderSpec], dict[str, Any]]:
    """The shape of each level's decoder and the training record, without loading tensors."""
    metadata = _read_metadata(path, DECODER_SET_FORMAT, "decoder set")
    try:
        specs = {str(layer): DecoderSpec.from_dict(dict(spec)) for layer, spec in json.loads(metadata["specs"]).items()}
        info = dict(json.loads(metadata.get("info", "{}")))
    except (KeyError, ValueError, TypeError, AttributeError, ConfigError) as error:
        raise WeightsError(f"{path}: damaged model metadata ({error})") from error
    for layer, spec in specs.items():
        if layer not in LEVELS or LEVELS.index(layer) + 1 != spec.level:
            raise WeightsError(f"{path}: damaged model metadata (a level-{spec.level} decoder filed as {layer!r})")
    if not specs:
        raise WeightsError(f"{path}: the file holds no decoder")
    return specs, info


def load_decoder_set(path: Path) -> tuple[dict[str, Decoder], dict[str, Any]]:
    """The decoders (fp32, eval mode) keyed by level, and the training record."""
    specs, info = read_decoder_set_metadata(path)
    holder = nn.ModuleDict({layer: Decoder(spec) for layer, spec in specs.items()})
    _load_state(holder, path)
    return {layer: holder[layer].eval() for layer in specs}, info  # type: ignore[misc]


def save_photo_decoder(decoder: PhotoDecoder, path: Path, *, info: dict[str, Any] | None = None) -> Path:
    """Write the photorealistic (wavelet) decoder in fp16 with its shape and training record."""
    metadata = {
        "format": PHOTO_DECODER_FORMAT,
        "spec": json.dumps(decoder.spec.as_dict()),
        "info": json.dumps(info or {}),
    }
    return _write_half_precision(decoder, metadata, path)


def load_photo_decoder(path: Path) -> tuple[PhotoDecoder, dict[str, Any]]:
    """The photorealistic decoder (fp32, eval mode) and its training record."""
    metadata = _read_metadata(path, PHOTO_DECODER_FORMAT, "photorealistic decoder")
    try:
        spec = PhotoDecoderSpec.from_dict(dict(json.loads(metadata["spec"])))
        info = dict(json.loads(metadata.get("info", "{}")))
    except (KeyError, ValueError, TypeError, AttributeError, ConfigError) as error:
        raise WeightsError(f"{path}: damaged model metadata ({error})") from error
    decoder = PhotoDecoder(spec)
    _load_state(decoder, path)
    return decoder.eval(), info
