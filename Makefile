# Set-up and everyday commands. Each target creates .venv on first use:
# torch==2.13.0 (CPU build, on this machine's disk) first, then the package with all extras.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv demo test test-fast lint bench docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[all]'
	touch $(STAMP)

venv: $(STAMP)

## Run the main job (liberation report) on the embedded synthetic demo sample -> demo_out/
demo: $(STAMP)
	$(VENV)/bin/liberation demo --out demo_out --overwrite

## Run the whole test suite (warnings are errors; 1285 tests, about 17-21 minutes on a 2-core machine)
test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

## The quick subset: tests marked slow left out, two xdist workers (about 1100 tests, 77 s on a quiet 2-core machine in session 5, ~5 min with other jobs running)
test-fast: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -q -m "not slow" -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check liberation tests benchmarks examples

bench: $(STAMP)
	$(PY) benchmarks/bench_stats.py --size 256

## Run the examples into docs/gallery/ (rerun only when they or the package changed), then build the
## documentation site into site/ (mkdocs, warnings as errors); needs the docs extra
docs:
	@test -x $(PY) || { echo "make docs: $(PY) not found; run 'make venv' first" >&2; exit 1; }
	@$(PY) -c "import mkdocs, material, mkdocstrings_handlers.python" 2>/dev/null || { \
		echo "make docs: mkdocs, mkdocs-material and mkdocstrings[python] are not installed in $(VENV);" \
		"install them with: $(PY) -m pip install -e '.[docs]'" >&2; exit 1; }
	$(PY) scripts/build_gallery.py
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

clean:
	rm -rf $(VENV) demo_out .pytest_cache site docs/gallery
