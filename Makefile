# Two commands on a fresh clone: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU build of torch from local disk; an unpinned torch would pull a multi-GB CUDA build.
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit docs bench fuzz compat wheel-check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_PIN)"
	$(BIN)/python -m pip install -q -e ".[dev]" "$(TORCH_PIN)"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

# the documentation site into site/; strict: a broken link, a missing page or a docstring griffe cannot read fails
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: lint typecheck docs unit

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# the long fuzz profile with a fresh seed and an empty example database (see CONTRIBUTING.md)
fuzz: $(STAMP)
	rm -rf .hypothesis
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -p no:xdist tests/declaring/test_fuzz.py \
		--hypothesis-show-statistics --hypothesis-seed=$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')

# the test suite across Python/torch/Lightning versions, one throwaway venv per row (docs/compat.md): by
# hand, not in CI (several GB of downloads the first time and minutes per row). One row: make compat ROWS=lowest
ROWS ?=
compat: $(STAMP)
	nice -n 19 $(BIN)/python scripts/compat.py $(foreach row,$(ROWS),--row $(row))

# build the wheel and sdist, twine check them, install the wheel in a fresh venv and run the README quickstart
wheel-check: $(STAMP)
	TORCH_PIN="$(TORCH_PIN)" $(BIN)/python scripts/wheel_check.py

clean:
	rm -rf $(VENV) build dist site *.egg-info
