# The README's two commands: `make demo` and `make test`. Each creates .venv, installs pinned dependencies and
# obtains the ImageNet weights by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The CPU build of torch (a local wheel on the project's machines); override for another build.
TORCH_SPEC ?= torch==2.13.0
# onnxruntime-web for the studio's webcam mode (pinned in studio/package-lock.json): the WebAssembly build and the
# WebGPU one, each an ES module entry plus its wasm runtime.
ORT_DIST := studio/node_modules/onnxruntime-web/dist
ORT_VENDOR := src/painterly/web/static/vendor/ort
ORT_FILES := ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm \
	ort.webgpu.min.mjs ort-wasm-simd-threaded.asyncify.mjs ort-wasm-simd-threaded.asyncify.wasm
VENDOR_STAMP := $(ORT_VENDOR)/.vendored

.PHONY: demo test lint bench weights venv vendor clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt | $(VENDOR_STAMP)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

vendor: $(VENDOR_STAMP)

$(VENDOR_STAMP): studio/package.json studio/package-lock.json
	npm ci --prefix studio --ignore-scripts --no-audit --no-fund
	rm -rf $(ORT_VENDOR) && mkdir -p $(ORT_VENDOR)
	cp $(addprefix $(ORT_DIST)/,$(ORT_FILES)) $(ORT_VENDOR)/
	touch $@

weights: $(STAMP)
	$(BIN)/painterly weights fetch vgg16

demo: weights
	$(BIN)/painterly demo -o out/demo.png
	$(BIN)/painterly demo --preset starry_night -o out/demo_preset.png
	$(BIN)/painterly demo --arbitrary -o out/demo_adain.png

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

test: weights lint
	$(BIN)/python -m pytest -q

bench: weights
	$(BIN)/python benchmarks/gatys.py
	$(BIN)/python benchmarks/feedforward.py
	$(BIN)/python benchmarks/arbitrary.py
	$(BIN)/python benchmarks/video.py
	$(BIN)/python benchmarks/web.py
	$(BIN)/python benchmarks/audio.py
	$(BIN)/python benchmarks/volume.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache studio/node_modules $(ORT_VENDOR)
