"""The preset network as ONNX for the page's webcam mode: exported once per model file, then served from disk."""

from __future__ import annotations

import threading
from pathlib import Path

from ..record import file_sha256


class WebcamModel:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()

    def path(self) -> Path:
        """The ONNX file of the current preset model (exported on the first call for that model)."""
        from ..export import export_network
        from ..presets import load_presets, presets_path

        source = presets_path()
        target = self.folder / f"presets-{file_sha256(source)[:16]}.onnx"
        with self._lock:
            if not target.is_file():
                network, names = load_presets()
                export_network(network, target, format="onnx", style_names=names)
        return target
