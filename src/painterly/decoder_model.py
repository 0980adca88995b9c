"""The decoders shipped inside the package: AdaIN's (``data/adain_decoder.safetensors``), WCT's reconstruction
decoders (``data/wct_decoders.safetensors``) and the photorealistic mode's (``data/photo_decoder.safetensors``),
each with its model card.

>>> decoder = load_shipped_decoder()        # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from .encoders.haar import PhotoDecoder
from .errors import WeightsError
from .methods.decoders import Decoder
from .methods.model_files import load_decoder, load_decoder_set, load_photo_decoder
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


def load_wct_decoders(model: Path | None = None) -> dict[str, Decoder]:
    """WCT's decoders by level from ``model`` (default: the shipped set, or ``$PAINTERLY_WCT_DECODERS``)."""
    path = model or get_shipped("wct_decoders").path()
    missing = f"no WCT decoder set at {path} (train one with `painterly train decoders`)"
    return load_model_copy(load_decoder_set, path, missing)[0]


def load_shipped_photo_decoder(model: Path | None = None) -> PhotoDecoder:
    """The photorealistic decoder from ``model`` (default: the shipped one, or ``$PAINTERLY_PHOTO_DECODER``)."""
    path = model or get_shipped("photo_decoder").path()
    missing = f"no photorealistic decoder at {path} (train one with `painterly train decoders --target photo`)"
    return load_model_copy(load_photo_decoder, path, missing)[0]
