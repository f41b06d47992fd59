# msmvp's own developer commands. `make test` works on a fresh machine and from any directory
# (`make -C path/to/msmvp test`): it installs the real tools the tests verify generated
# artifacts with, msmvp and its test dependencies, then runs the tests.
#
# Everything Python goes into the virtualenv .venv (made on first use), never into the system's
# Python: Debian and Ubuntu refuse `pip install` there (externally-managed-environment). The
# virtualenv sees the system's packages, so tools already installed there are not fetched again.
VENV ?= .venv
PYTHON ?= $(VENV)/bin/python
# The virtualenv's scripts (pytest, ruff, envoy, hadolint, ...) come first on PATH for every recipe.
export PATH := $(abspath $(VENV))/bin:$(PATH)
# `make test` skips the end-to-end tests (they run generated projects for minutes); CI (CI=true,
# set by .ci/run) and `make test-all` run everything.
ifeq ($(CI),true)
MARKERS ?=
else
MARKERS ?= not slow
endif

.PHONY: help tools install test test-all pytest lint bench matrix relock

help:
	@echo "make test      install tools + msmvp, then run the tests except the slow end-to-end ones"
	@echo "make test-all  the same with every test (what CI runs)"
	@echo "make pytest    run the tests only (MARKERS='not slow' by default)"
	@echo "make lint      ruff + mypy"
	@echo "make bench     measure new, status and add-service (see BENCHMARKS.md)"
	@echo "make matrix    render + check every combination, make test a pairwise set (docs/matrix.md)"
	@echo "make relock    re-resolve the union lock the generated locks come from (docs/templates.md)"

$(VENV)/bin/python:
	@python3 -c 'import ensurepip' 2>/dev/null || { echo "python3 cannot make virtualenvs: sudo apt-get install python3-venv" >&2; exit 1; }
	python3 -m venv --system-site-packages $(VENV)

tools: $(PYTHON)
	PYTHON=$(PYTHON) bash .ci/install-tools.sh

# msmvp with its test extras, then what a generated project's `make install` installs, so the
# tests can run generated services, their tests and the gateway.
install: $(PYTHON)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check '.[dev]'
	d=$$(mktemp -d) && $(PYTHON) -m msmvp new deps --defaults --no-git --output-dir $$d >/dev/null 2>&1 \
	  && $(PYTHON) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $$d/deps/requirements-dev.lock; \
	  status=$$?; rm -rf $$d; exit $$status

test: tools install pytest

test-all:
	$(MAKE) test MARKERS=

# Two xdist workers, each file on one (so module fixtures render once). The whole suite (CI's) runs
# the quick tests, then the slow ones (generated projects' own `make test`, real servers): their
# server start-ups and waits leave a core idle, so two of them at a time take about 9 minutes
# against 14 one at a time. Both runs report; make fails if either does.
pytest: $(PYTHON)
ifeq ($(MARKERS),not slow)
	$(PYTHON) -m pytest -m "not slow" -n 2 --dist loadfile $(PYTEST_ARGS)
else ifeq ($(MARKERS),)
	status=0; \
	$(PYTHON) -m pytest -m "not slow" -n 2 --dist loadfile $(PYTEST_ARGS) || status=$$?; \
	$(PYTHON) -m pytest -m slow -n 2 --dist loadfile $(PYTEST_ARGS) || status=$$?; \
	exit $$status
else
	$(PYTHON) -m pytest -m "$(MARKERS)" $(PYTEST_ARGS)
endif

lint:
	ruff check src tests bench
	ruff format --check src tests bench
	mypy

bench:
	$(PYTHON) bench/bench_new.py
	$(PYTHON) bench/bench_status.py
	$(PYTHON) bench/bench_add_service.py

# The combination matrix (docs/matrix.md): the full set rendered in-process and every distinct
# artifact checked by its real tool, then a pairwise covering set's own `make install && make
# test`. Reports: matrix-results/matrix.md and matrix-results/matrix.junit.xml.
MATRIX_ARGS ?=
matrix: $(PYTHON)
	$(PYTHON) -m msmvp.matrix all --out matrix-results $(MATRIX_ARGS)

# The union lock every generated requirements*.lock is taken from (docs/templates.md, "Lock files"):
# after changing a requirement in a template or a component.yml. The virtualenv's own versions are
# constraints, so the locks pin what the generated tests run against here (uv names any conflict). PYTHONPATH=src: the
# checkout's src/msmvp/lockdata is written, not an installed copy.
relock: $(PYTHON)
	$(PYTHON) -m pip freeze --exclude-editable | grep -E '^[A-Za-z0-9_.-]+==' > .relock-constraints.txt
	PYTHONPATH=src $(PYTHON) -m msmvp.locks --constraint .relock-constraints.txt; status=$$?; rm -f .relock-constraints.txt; exit $$status
