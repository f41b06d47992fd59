# msmvp's own developer commands. `make test` works on a fresh machine: it installs the real
# tools the tests verify generated artifacts with, msmvp and its test dependencies, then runs
# the whole suite.
PYTHON ?= python3

.PHONY: help tools install test pytest lint bench matrix

help:
	@echo "make test    install tools + msmvp, then run every test"
	@echo "make pytest  run the tests only"
	@echo "make lint    ruff + mypy"
	@echo "make bench   measure msmvp new (see BENCHMARKS.md)"
	@echo "make matrix  render + check every combination, make test a pairwise set (docs/matrix.md)"

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

# The combination matrix (docs/matrix.md): the full set rendered in-process and every distinct
# artifact checked by its real tool, then a pairwise covering set's own `make install && make
# test`. Reports: matrix-results/matrix.md and matrix-results/matrix.junit.xml.
MATRIX_ARGS ?=
matrix:
	$(PYTHON) -m msmvp.matrix all --out matrix-results $(MATRIX_ARGS)
