# Two entry points (see README): `make demo` and `make test`.
# Each creates .venv, installs torch==2.13.0 first (the CPU wheel on local disk;
# installing it before anything that depends on torch stops pip from pulling a
# CUDA build), then the package.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: install demo test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/dspfusion demo --out demo_output

test: $(STAMP)
	$(PY) -m pytest -q -ra

clean:
	rm -rf $(VENV) build *.egg-info demo_output
