"""The training commands load on a machine with only torch, numpy, Pillow, safetensors, tqdm and click (a lent GPU
machine, scripts/gpu_train_presets.sh): the other dependencies are imported only where they are used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {'av', 'platformdirs', 'soundfile', 'scipy', 'skimage', 'fastapi', 'ray', 'onnx'}:
            raise ImportError('blocked ' + name)
        return None
sys.meta_path.insert(0, Block())
from painterly.cli import main
sys.exit(main(['train', 'feedforward', '--help']))
"""


def test_train_feedforward_loads_without_the_optional_dependencies() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1]
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--decay-over-budget" in done.stdout and "--init-from" in done.stdout
