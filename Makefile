# msmvp's own developer commands. `make test` works on a fresh machine: it installs the real
# tools the tests verify generated artifacts with, msmvp and its test dependencies, then runs
# the whole suite.
PYTHON ?= python3

.PHONY: help tools install test pytest lint bench

help:
	@echo "make test    install tools + msmvp, then run every test"
	@echo "make pytest  run the tests only"
	@echo "make lint    ruff + mypy"
	@echo "make bench   measure msmvp new (see BENCHMARKS.md)"

tools:
	bash .ci/install-tools.sh

install:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check '.[dev]'

test: tools install pytest

pytest:
	$(PYTHON) -m pytest

lint:
	ruff check src tests bench
	ruff format --check src tests bench
	mypy

bench:
	$(PYTHON) bench/bench_new.py
