"""The GPU-machine scripts refuse to start without what they need (no training is run here)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.mark.parametrize("partial_carry", [False, True])
def test_gpu_train_presets_needs_the_carried_folder(tmp_path: Path, partial_carry: bool) -> None:
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    work = tmp_path / "checkout"
    (work / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPTS / "gpu_train_presets.sh", work / "scripts" / "gpu_train_presets.sh")
    if partial_carry:  # photos and styles without the loss network are not enough
        (work / "gpu_carry" / "photos").mkdir(parents=True)
        (work / "gpu_carry" / "styles").mkdir()
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "RUN_DIR": str(tmp_path / "run"), "PATH": os.environ.get("PATH", "")}
    result = subprocess.run(
        ["bash", "scripts/gpu_train_presets.sh", "1"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert "gpu_carry/ is missing" in result.stderr
    assert not (tmp_path / "run").exists()
    assert not out.exists() or not any(out.iterdir())  # stopped before nvidia-smi and training
