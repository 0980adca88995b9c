# The README's two commands: `make demo` and `make test`. Each creates .venv, installs pinned dependencies and
# obtains the ImageNet weights by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The CPU build of torch (a local wheel on the project's machines); override for another build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test lint bench weights venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

weights: $(STAMP)
	$(BIN)/painterly weights fetch vgg16

demo: weights
	$(BIN)/painterly demo -o out/demo.png
	$(BIN)/painterly demo --preset starry_night -o out/demo_preset.png
	$(BIN)/painterly demo --arbitrary -o out/demo_adain.png

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: weights lint
	$(BIN)/python -m pytest -q

bench: weights
	$(BIN)/python benchmarks/gatys.py
	$(BIN)/python benchmarks/feedforward.py
	$(BIN)/python benchmarks/arbitrary.py
	$(BIN)/python benchmarks/video.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
