"""Make ``gpu_carry/``: what a one-shot preset training run on a lent GPU machine needs besides the repository.

    .venv/bin/python scripts/prepare_gpu_run.py [START_MODEL]

The device machine has torch, numpy, Pillow, safetensors, tqdm and click but neither painterly's weight cache nor
../shared/data, and the working tree that travels there is limited to 64 MiB. So this copies the training photos and
the paintings, and writes VGG16's convolutions up to conv5_1 (all the loss layers need) in fp16, about 20 MB,
instead of the 59 MB fp32 cache file. ``scripts/gpu_train_presets.sh`` runs there with ``carry: ["gpu_carry"]``;
DEVELOPERS.md has the whole procedure. With START_MODEL (a presets model file of the same shape and paintings)
it travels as ``gpu_carry/start.safetensors`` and the GPU run continues from it (``--init-from``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from safetensors.torch import save_file

from painterly import weights
from painterly.training.data import image_files

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CARRY = ROOT / "gpu_carry"
LOSS_CONVS = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv4_1", "conv4_2",
              "conv4_3", "conv5_1")  # fmt: skip
LIMIT_MIB = 64


def tracked_bytes() -> int:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    return sum((ROOT / name.decode()).stat().st_size for name in names if name and (ROOT / name.decode()).is_file())


def main() -> None:
    if not SHARED.is_dir():
        sys.exit(f"needs {SHARED} (training photos and paintings)")
    shutil.rmtree(CARRY, ignore_errors=True)
    for folder, source in (("photos", SHARED / "photos" / "train"), ("styles", SHARED / "styles")):
        (CARRY / folder).mkdir(parents=True)
        for file in image_files(source):
            shutil.copy2(file, CARRY / folder / file.name)
    if len(sys.argv) > 1:
        shutil.copy2(sys.argv[1], CARRY / "start.safetensors")
    state = weights.load_state_dict("vgg16")
    half = {
        f"{conv}.{kind}": state[f"{conv}.{kind}"].half().contiguous()
        for conv in LOSS_CONVS
        for kind in ("weight", "bias")
    }
    save_file(
        half, str(CARRY / "vgg16_fp16.safetensors"), metadata={"source": "painterly vgg16 cache, fp16, to conv5_1"}
    )
    tracked = tracked_bytes()
    photos = sorted((CARRY / "photos").iterdir())
    dropped = 0
    # the repository grows between sessions: leave out the last photos (in name order) until what travels fits
    while carried_bytes() + tracked > LIMIT_MIB * 2**20 * 0.97 and len(photos) > 100:
        photos.pop().unlink()
        dropped += 1
    total = carried_bytes() + tracked
    print(f"{CARRY}: {len(photos)} photos ({dropped} left out to fit), {carried_bytes() / 2**20:.1f} MiB;")
    print(f"with the tracked files {total / 2**20:.1f} MiB of {LIMIT_MIB}")
    if total > LIMIT_MIB * 2**20 * 0.97:
        sys.exit("too large to travel even with 100 photos")


def carried_bytes() -> int:
    return sum(path.stat().st_size for path in CARRY.rglob("*") if path.is_file())


if __name__ == "__main__":
    main()
