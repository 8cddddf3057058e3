# Two commands set everything up on a fresh Debian machine with Python 3.11:
#   make demo   set-up, then the main job (train, draw, export, run in C++)
#   make test   set-up, then the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
OUT ?= out
# The translator step's corpus (spa-eng.zip or spa.txt): the project's shared copy where there is
# one, else empty: the public zip, downloaded once (checksum-verified, cached).
SPA_ENG ?= $(wildcard ../shared/data/spa-eng.zip)

.PHONY: setup system-deps demo test bench lint clean

setup: system-deps $(VENV)/.installed

# Graphviz's `dot` (drawing) and Debian's Fashion-MNIST (the demo's data), via
# apt-get when run as root and missing; elsewhere the demo downloads MNIST.
system-deps:
	@sh scripts/install_system_deps.sh

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: setup
	$(PY) -m graphkit demo --out $(OUT) $(if $(SPA_ENG),--translator-data $(SPA_ENG))

test: setup
	$(PY) -m pytest -q

# Every benchmark in its quick mode, one at a time, and one table of targets met/missed.
bench: setup
	$(PY) benchmarks/run_suite.py

lint: setup
	$(VENV)/bin/ruff check graphkit tests examples benchmarks

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info
