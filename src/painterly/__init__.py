"""painterly — neural style transfer on PyTorch.

>>> import painterly
>>> picture = painterly.stylize("photo.jpg", ["monet.jpg", "hokusai.jpg"], style_blend=(0.7, 0.3))  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from .api import load_inputs, run_transfer, stylize
from .audio.transfer import AudioOptions, AudioStyleTransfer
from .config import GatysConfig
from .errors import (
    ConfigError,
    DeviceError,
    InputAudioError,
    InputImageError,
    OutputError,
    PainterlyError,
    WeightsError,
)
from .methods.base import Method, PreviousResult, Stylizer
from .methods.gatys import GatysResult, GatysTransfer, Progress
from .methods.registry import get_method, list_methods

__all__ = [
    "AudioOptions",
    "AudioStyleTransfer",
    "ConfigError",
    "DeviceError",
    "GatysConfig",
    "GatysResult",
    "GatysTransfer",
    "InputAudioError",
    "InputImageError",
    "Method",
    "OutputError",
    "PainterlyError",
    "PreviousResult",
    "Progress",
    "Stylizer",
    "WeightsError",
    "__version__",
    "get_method",
    "list_methods",
    "load_inputs",
    "run_transfer",
    "stylize",
]
