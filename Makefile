# The two commands of the quick start: `make demo` and `make test`. Every target installs what it
# needs from scratch into a virtual environment, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   ?= .venv
PI_VENV ?= .venv-pi
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
DEMO   ?= runs/demo
RUN    ?= $(DEMO)/train
EXPORT ?= $(DEMO)/export

.PHONY: demo test install install-dev pi-check arm64-check arm64-check-camera bench bench-report models lint mutation mutation-ci clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.stamp-train: setup.cfg pyproject.toml | $(BIN)/python
	$(PIP) install -q -e ".[train]"
	touch $@

$(VENV)/.stamp-dev: setup.cfg pyproject.toml | $(BIN)/python
	$(PIP) install -q -e ".[train,micro,dev]"
	touch $@

install: $(VENV)/.stamp-train
install-dev: $(VENV)/.stamp-dev

## demo: set up, then run the whole pipeline on the built-in data (train, export, benchmark with every camera
## shift, report)
demo: $(VENV)/.stamp-train
	$(BIN)/asl-edge train --out $(RUN) --force
	$(BIN)/asl-edge export $(RUN) --int8 --fp16 --out $(EXPORT) --force
	$(BIN)/asl-edge benchmark $(EXPORT) --shifts --out $(DEMO)/benchmark.json --force
	$(BIN)/asl-edge report $(DEMO)/benchmark.json --out $(DEMO)/report --force
	@echo "demo done: model in $(RUN), artifacts in $(EXPORT), report in $(DEMO)/report/REPORT.md"
	@echo "to run asl-edge yourself: . $(VENV)/bin/activate   then   asl-edge --help   (or $(BIN)/asl-edge --help)"

## test: set up with the dev extras, then run the test suite
test: $(VENV)/.stamp-dev
	$(BIN)/python -m pytest -q

## pi-check: install the runtime-only `pi` extra alone and run the reference artifacts without TensorFlow
pi-check:
	bash benchmarks/pi_check.sh $(PI_VENV)

## arm64-check: the runtime-only package under QEMU arm64 emulation (Debian bookworm) must predict as on x86
## (root; skips where it cannot run)
arm64-check: $(VENV)/.stamp-train
	PYTHON=$(BIN)/python bash benchmarks/arm64_check.sh export/asl-digits-fast

## arm64-check-camera: the same for the camera export, its hand localiser's boxes compared too (slow under
## QEMU: the localiser runs on every image; not in CI)
arm64-check-camera: $(VENV)/.stamp-train
	OUT=benchmarks/results/arm64/arm64-emulated-camera.json PYTHON=$(BIN)/python bash benchmarks/arm64_check.sh \
	  export/asl-digits-camera

## bench: reproduce the committed benchmark results and report under benchmarks/ (COMPARE=1: also rerun the
## architecture comparison, benchmarks/results/architectures.json, about an hour on 2 cores)
bench: $(VENV)/.stamp-train
	bash benchmarks/run_bench.sh

## bench-report: only the report and its screenshot, from the committed results (DEVICE=<label of the measured
## machine's file under benchmarks/results/bench/>, e.g. x86_64-2core-epyc-avx2)
bench-report: $(VENV)/.stamp-train
	REPORT_ONLY=1 bash benchmarks/run_bench.sh

## models: rebuild the reference model (models/) and its artifacts (export/) from scratch (RECIPES="fast camera":
## those only; RECIPES=fusion: only the fused artifact, from the committed camera and landmark artifacts)
models: $(VENV)/.stamp-train
	bash benchmarks/make_models.sh

## lint: ruff (rules and line length from pyproject.toml) over the package, the tests and the scripts
lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check asl_edge tests benchmarks

## mutation: mutation testing (mutmut) of the modules where a silent bug changes numbers, each against the tests
## that assert its values; the score and every surviving mutant go to benchmarks/results/quality/mutation.json
## (MODULES="schedules metrics": some of them; all of them take about an hour on 2 cores)
mutation: $(VENV)/.stamp-dev
	nice -n 5 $(BIN)/python benchmarks/mutation.py $(MODULES)

## mutation-ci: the part of `make mutation` that fits CI (CI_MUTATION's modules, a few minutes), written under
## runs/ci/; fails below MUTATION_MIN (the score the suite is held to) and names every surviving mutant
CI_MUTATION ?= balance metrics
MUTATION_MIN ?= 0.85
mutation-ci: $(VENV)/.stamp-dev
	$(BIN)/python benchmarks/mutation.py $(CI_MUTATION) --out runs/ci/mutation.json --min-score $(MUTATION_MIN)

clean:
	rm -rf $(VENV) $(PI_VENV) runs .pytest_cache
