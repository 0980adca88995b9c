"""The AdaIN decoder shipped inside the package (``data/adain_decoder.safetensors``, model card ``adain_decoder.md``).

>>> decoder = load_shipped_decoder()        # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from .errors import WeightsError
from .methods.arbitrary import Decoder
from .methods.model_files import load_decoder
from .presets import load_model_copy
from .weights import get_shipped


def decoder_path() -> Path:
    """The shipped decoder (``$PAINTERLY_DECODER`` overrides it, e.g. with one you trained)."""
    return get_shipped("adain_decoder").path()


def decoder_card_text() -> str:
    path = get_shipped("adain_decoder").card_path()
    if not path.is_file():
        raise WeightsError(f"the model card {path} is missing from the installation")
    return path.read_text(encoding="utf-8")


def load_shipped_decoder(model: Path | None = None) -> Decoder:
    """The decoder at ``model`` (default: the shipped one), read from disk once; a fresh copy each call."""
    path = model or decoder_path()
    missing = f"no AdaIN decoder at {path} (train one with `painterly train arbitrary`)"
    return load_model_copy(load_decoder, path, missing)[0]
