"""The fast preset network as ONNX for the page's webcam mode: exported once per model file, then served from disk."""

from __future__ import annotations

import threading
from pathlib import Path

from ..record import file_sha256

WEBCAM_NETWORK = "fast"
"""The webcam runs the fast network of the presets' pair (``painterly.presets.PRESET_NETWORKS``)."""


class WebcamModel:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()

    def path(self) -> Path:
        """The ONNX file of the webcam's network (exported on the first call for that model file).

        The fast network, unless its styles differ from those /api/presets lists (the quality network's: the page
        picks a style by its index there), e.g. when only ``PAINTERLY_PRESETS`` names a network of your own: then
        the listed network itself, so the indexes always mean the styles shown."""
        from ..export import export_network
        from ..presets import list_presets, load_presets, presets_path

        network_name = WEBCAM_NETWORK
        fast_styles = [preset.name for preset in list_presets(network=WEBCAM_NETWORK)]
        if fast_styles != [preset.name for preset in list_presets()]:
            network_name = "quality"
        source = presets_path(network=network_name)
        target = self.folder / f"presets-{network_name}-{file_sha256(source)[:16]}.onnx"
        with self._lock:
            if not target.is_file():
                network, names = load_presets(network=network_name)
                export_network(network, target, format="onnx", style_names=names)
        return target
