"""painterly — neural style transfer on PyTorch.

>>> import painterly
>>> picture = painterly.stylize("photo.jpg", ["monet.jpg", "hokusai.jpg"], style_blend=(0.7, 0.3))  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from .api import load_inputs, run_transfer, stylize
from .config import GatysConfig
from .errors import ConfigError, DeviceError, InputImageError, OutputError, PainterlyError, WeightsError
from .methods.gatys import GatysResult, GatysTransfer, Progress

__all__ = [
    "ConfigError",
    "DeviceError",
    "GatysConfig",
    "GatysResult",
    "GatysTransfer",
    "InputImageError",
    "OutputError",
    "PainterlyError",
    "Progress",
    "WeightsError",
    "__version__",
    "load_inputs",
    "run_transfer",
    "stylize",
]
