#!/usr/bin/env bash
# Regenerates docs/images/gallery.jpg with painterly itself from the photos and paintings in ../shared/data
# (the inputs are not ours to commit; only the results are). Usage: bash docs/make_gallery.sh
set -euo pipefail
cd "$(dirname "$0")/.."
data=../shared/data
out=out/gallery
mkdir -p "$out"
run() { .venv/bin/painterly transfer "$@" -q --overwrite; }
run "$data/photos/test/tubingen.jpg" "$data/styles/starry_night.jpg" -o "$out/tubingen_starry.png"
run "$data/photos/test/golden_gate.jpg" "$data/styles/the_scream.jpg" -o "$out/golden_gate_scream.png" --strength 0.6
run "$data/photos/test/chicago.jpg" "$data/styles/woman_with_hat_matisse.jpg" -o "$out/chicago_matisse_luminance.png" \
    --color luminance --strength 0.65
run "$data/photos/test/stata.jpg" "$data/styles/udnie.jpg" "$data/styles/shipwreck.jpg" --style-blend 0.5,0.5 \
    --strength 0.8 -o "$out/stata_udnie_shipwreck.png"
.venv/bin/python docs/compose_gallery.py "$out/tubingen_starry.png" "$out/golden_gate_scream.png" \
    "$out/chicago_matisse_luminance.png" "$out/stata_udnie_shipwreck.png" -o docs/images/gallery.jpg \
    --labels "starry night" "the scream, strength 0.6" "matisse, photo colours kept" "udnie + shipwreck blend, strength 0.8"
