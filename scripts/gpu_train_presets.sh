#!/usr/bin/env bash
# One-shot training of the preset network on a lent GPU machine (see DEVELOPERS.md), run there by the device tool:
#   run(command="bash scripts/gpu_train_presets.sh 8", carry=["gpu_carry"], timeout_s=600)
# after `.venv/bin/python scripts/prepare_gpu_run.py` here. Trains for $1 minutes (default 8) under a hard limit and
# writes the model, its card, the log and the latest previews to $OUT. The machine has torch, numpy, Pillow,
# safetensors, tqdm and click; painterly runs from src/ without being installed (its other dependencies are imported
# only where they are used; PYTHON picks the interpreter, default python3). The learning rate decays over the budget
# (the speed there is unknown beforehand); STEPS caps the steps (default 100000). Extra options after the minutes go
# to `painterly train feedforward` (e.g. --batch, --crop). gpu_carry/start.safetensors, where prepare_gpu_run put
# one, is the starting point.
set -euo pipefail
minutes="${1:-8}"
shift || true
out="${OUT:-out/gpu_run}"
run="${RUN_DIR:-/tmp/painterly-gpu-run}"
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PAINTERLY_OFFLINE=1 PAINTERLY_HOME=/tmp/painterly-home
export PYTHONUNBUFFERED=1
[ -f gpu_carry/vgg16_fp16.safetensors ] || { echo "gpu_carry/ is missing: run scripts/prepare_gpu_run.py and carry it" >&2; exit 2; }
device="${DEVICE:-cuda}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | tee "$out/device.txt" || echo "no nvidia-smi" >"$out/device.txt"
preview="$(ls gpu_carry/photos | head -n 1)"
start=()
[ -f gpu_carry/start.safetensors ] && start=(--init-from gpu_carry/start.safetensors)
# a hard limit a little past the budget: the budget stops training and saves; the limit only catches a hang
timeout --signal=INT "$(( minutes * 60 + 90 ))" "${PYTHON:-python3}" -m painterly train feedforward \
  --styles gpu_carry/styles --photos gpu_carry/photos --run "$run" \
  --loss-network gpu_carry/vgg16_fp16.safetensors --device "$device" --budget "${minutes}m" \
  --steps "${STEPS:-100000}" --decay-over-budget "${start[@]}" \
  --preview "gpu_carry/photos/$preview" --quiet "$@" 2>&1 | tee "$out/train.log" || status=$?
# whatever stopped it (budget, steps, the hard limit), the run folder holds the latest model: bring it back
cp "$run/model.safetensors" "$run/MODEL_CARD.md" "$run/log.json" "$out/"
[ -f "$run/loss.png" ] && cp "$run/loss.png" "$out/"
for picture in $(ls "$run/previews" | tail -n 2); do cp "$run/previews/$picture" "$out/"; done
ls -la "$out"
exit "${status:-0}"
