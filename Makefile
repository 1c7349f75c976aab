# The project's commands: `make analyze` and `make test` (see README.md).
# Needs only python3 (3.11+) and make; everything else goes into .venv.
# The checkout is the project home (kernel-src/, build/): the recipes run from its root.
# KERNEL_TARBALL (a path or URL of the Linux 4.4.1 sources) passes through the environment.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SETUP  := $(VENV)/.installed

.PHONY: analyze test test-deps bench serve lint clean distclean setup

analyze: $(SETUP)
	$(PY) -m analyzer analyze

# the suite's processes: one per core (TEST_JOBS=1 runs it in this process)
TEST_JOBS ?= auto

test: $(SETUP) test-deps
	$(VENV)/bin/pytest -n $(TEST_JOBS)

# browser tests need Debian's chromium; its installer is idempotent and quick when done
test-deps:
	@if [ -f tests/browser/install.sh ]; then bash tests/browser/install.sh; fi

bench: $(SETUP)
	@set -e; for f in bench/bench_*.py; do \
	  [ -e "$$f" ] || { echo "no benchmarks in bench/"; break; }; \
	  echo "== $$f"; $(PY) "$$f"; \
	done

serve: analyze
	$(PY) -m analyzer serve --port 8000

lint: $(SETUP)
	$(VENV)/bin/ruff check .

setup: $(SETUP)

$(PY):
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is needed")'
	$(PYTHON) -m venv $(VENV)

# re-installs only when pyproject.toml changes
$(SETUP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

clean:
	rm -rf build kernel-src/linux-4.4.1 kernel-src/.fetch-tmp-*

distclean: clean
	rm -rf kernel-src/downloads $(VENV)
