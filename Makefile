# prescreen: every target bootstraps what it needs (venv, SAM CLI, build) from the pinned locks.
SHELL := /bin/bash
export PYENV_VERSION ?= 3.13.0
export SAM_CLI_TELEMETRY := 0
PYTHON ?= python3.13
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
BUILD_STAMP := .aws-sam/build/template.yaml
SOURCES := $(shell find layers functions -name '*.py' -o -name '*.yaml' -o -name '*.json' -o -name requirements.txt 2>/dev/null)

.PHONY: serve test unit lint build bench load lock clean

serve: $(VENV)/.installed  ## run the whole product on 127.0.0.1:8000 (no AWS account needed)
	$(BIN)/prescreen serve

test: $(VENV)/.installed $(SAM) $(BUILD_STAMP) lint  ## everything CI runs
	$(BIN)/pytest -q

unit: $(VENV)/.installed  ## fast tests, no network
	$(BIN)/pytest -q tests/unit

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy

build: $(BUILD_STAMP)  ## sam build (no container) -> .aws-sam/build

$(BUILD_STAMP): $(SAM) template.yaml layers/prescreen/Makefile $(SOURCES)
	$(SAM) build --template-file template.yaml --build-dir .aws-sam/build
	@touch $@

bench: $(VENV)/.installed $(BUILD_STAMP)  ## benchmarks: medians and ratios, side by side
	$(BIN)/python tests/bench/bench_matching.py
	$(BIN)/python tests/bench/bench_classifier.py
	$(BIN)/python tests/bench/bench_webhook.py
	$(BIN)/python tests/bench/bench_cold_start.py

load: $(VENV)/.installed  ## load test: max rate, latency at 80 %, 5-minute soak
	$(BIN)/python tests/load/run_load.py

$(VENV)/.installed: requirements/dev.lock layers/prescreen/requirements.txt layers/model/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

$(SAM): requirements/tools.lock
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements/tools.lock
	@touch $@

lock: $(VENV)/.installed  ## re-pin: the layer's requirements.txt is THE runtime lock; dev and tools pin on top
	$(BIN)/uv pip compile pyproject.toml -o layers/prescreen/requirements.txt --python-version 3.13 \
	  --python-platform x86_64-manylinux_2_28 --no-header -q
	$(BIN)/uv pip compile requirements/model.in -o layers/model/requirements.txt --python-version 3.13 \
	  --python-platform x86_64-manylinux_2_28 --no-header --generate-hashes -q
	$(BIN)/uv pip compile pyproject.toml --extra dev -c layers/prescreen/requirements.txt \
	  -c layers/model/requirements.txt -o requirements/dev.lock \
	  --python-version 3.13 --python-platform x86_64-manylinux_2_28 --no-header -q
	$(BIN)/uv pip compile requirements/tools.in -o requirements/tools.lock --python-version 3.13 \
	  --python-platform x86_64-manylinux_2_28 --no-header -q

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
