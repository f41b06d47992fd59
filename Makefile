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

# msmvp with its test extras, then what a generated project's `make install` installs, so the
# tests can run generated services, their tests and the gateway.
install:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check '.[dev]'
	d=$$(mktemp -d) && $(PYTHON) -m msmvp new deps --defaults --no-git --output-dir $$d >/dev/null 2>&1 \
	  && $(PYTHON) -m pip install --quiet --disable-pip-version-check -r $$d/deps/requirements-dev.txt; \
	  status=$$?; rm -rf $$d; exit $$status

test: tools install pytest

pytest:
	$(PYTHON) -m pytest

lint:
	ruff check src tests bench
	ruff format --check src tests bench
	mypy

bench:
	$(PYTHON) bench/bench_new.py
	$(PYTHON) bench/bench_status.py
