"""The feed-forward presets shipped inside the package, as a pair of networks with the same styles: ``quality`` (the
default, the stronger network for stills: ``data/presets.safetensors``, model card ``presets.md``) and ``fast``
(about 10 % faster, the studio's real-time webcam mode: ``data/presets_fast.safetensors``, ``presets_fast.md``).

>>> [preset.name for preset in list_presets()][:2]        # doctest: +SKIP
['contrast_of_forms', 'mondrian']
>>> parse_blend("starry_night:0.7,the_scream:0.3")
{'starry_night': 0.7, 'the_scream': 0.3}
"""

from __future__ import annotations

import copy
import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError, WeightsError
from .methods.feedforward import StyleNetwork
from .methods.model_files import load_style_network, read_style_network_metadata
from .weights import ShippedEntry, get_shipped, shipped_name_of, verify_shipped

PRESET_NETWORKS = {"quality": "presets", "fast": "presets_fast"}
"""The shipped preset networks, by the name ``network`` takes → their entry in :data:`painterly.weights.SHIPPED`."""


@dataclass(frozen=True)
class Preset:
    name: str
    index: int
    model: Path


def check_network(network: str) -> str:
    """``network`` itself when it names a shipped preset network; a one-line ConfigError otherwise."""
    if network not in PRESET_NETWORKS:
        raise ConfigError(f"unknown preset network '{network}': choose {' or '.join(PRESET_NETWORKS)}")
    return network


def network_entry(network: str = "quality") -> ShippedEntry:
    """The weights registry's entry of the preset network ``network`` ("quality" or "fast")."""
    return get_shipped(PRESET_NETWORKS[check_network(network)])


def presets_path(*, network: str = "quality") -> Path:
    """The shipped model file of ``network`` (``$PAINTERLY_PRESETS`` / ``$PAINTERLY_PRESETS_FAST`` override it, e.g.
    with a network you trained)."""
    return network_entry(network).path()


def model_card_path(*, network: str = "quality") -> Path:
    return network_entry(network).card_path()


def _model_path(model: Path | None, network: str) -> Path:
    """``model`` when given (it wins over ``network``, which is still checked), else the file of ``network``."""
    check_network(network)
    return model or presets_path(network=network)


def model_card_text(model: Path | None = None, *, network: str = "quality") -> str:
    """The shipped model card, or for another model file a card rendered from the record stored in it."""
    if model is None and not os.environ.get(network_entry(network).override):
        path = model_card_path(network=network)
        if not path.is_file():
            raise WeightsError(f"the model card {path} is missing from the installation")
        return path.read_text(encoding="utf-8")
    from .methods.feedforward import parameter_count
    from .training.model_card import render_model_card

    loaded, names, info = load_style_network(_model_path(model, network))
    return render_model_card(names, loaded.spec.as_dict(), parameter_count(loaded), info)


def list_presets(model: Path | None = None, *, network: str = "quality") -> list[Preset]:
    """The styles of ``model``, else of the shipped ``network``."""
    path = _model_path(model, network)
    if not path.is_file():
        raise WeightsError(f"no preset model at {path} (train one with `painterly train feedforward`)")
    _, names, _ = read_style_network_metadata(path)
    return [Preset(name, index, path) for index, name in enumerate(names)]


def preset_info(model: Path | None = None, *, network: str = "quality") -> dict[str, Any]:
    """The training record stored with the model."""
    return read_style_network_metadata(_model_path(model, network))[2]


Loaded = TypeVar("Loaded")


@functools.lru_cache(maxsize=8)
def _load_cached(loader: Callable[[Path], Any], path: str, modified: float) -> Any:
    shipped = shipped_name_of(Path(path))
    if shipped is not None:
        verify_shipped(shipped, Path(path))  # the packaged file must be the one its card describes
    return loader(Path(path))


def load_model_copy(loader: Callable[[Path], Loaded], path: Path, missing: str) -> Loaded:
    """``loader(path)``, read from disk once per file version, as a fresh deep copy on each call; ``missing`` is the
    message when the file is absent."""
    if not path.is_file():
        raise WeightsError(missing)
    return copy.deepcopy(_load_cached(loader, str(path), path.stat().st_mtime))  # type: ignore[no-any-return]


def load_presets(model: Path | None = None, *, network: str = "quality") -> tuple[StyleNetwork, list[str]]:
    """The preset network (a fresh copy each call, loaded from disk once) and its style names: ``model`` when given,
    else the shipped ``network`` ("quality", the default, or "fast")."""
    path = _model_path(model, network)
    loaded, names, _ = load_model_copy(
        load_style_network, path, f"no preset model at {path} (train one with `painterly train feedforward`)"
    )
    return loaded, list(names)


def parse_blend(text: str) -> dict[str, float]:
    """``"name"`` or ``"name:weight,name:weight"`` → {name: weight}; weights must be finite and >= 0."""
    blend: dict[str, float] = {}
    for item in text.split(","):
        name, separator, weight_text = item.strip().partition(":")
        name = name.strip()
        if not name:
            raise ConfigError(f"empty preset name in '{text}'")
        try:
            weight = float(weight_text) if separator else 1.0
        except ValueError as error:
            raise ConfigError(f"preset weight must be a number in '{item.strip()}'") from error
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"preset weight must be finite and >= 0 in '{item.strip()}'")
        blend[name] = blend.get(name, 0.0) + weight
    if sum(blend.values()) <= 0:
        raise ConfigError(f"preset weights must not all be zero in '{text}'")
    return blend
