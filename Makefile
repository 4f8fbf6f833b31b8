# Atelier: the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
STAMP_LOCAL := $(VENV)/.installed-local

.PHONY: run test lint bench clean local

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP_RUN): requirements.txt | $(PY)
	$(PIP) install -q -r requirements.txt
	touch $@

$(STAMP_DEV): requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install -q -r requirements-dev.txt
	touch $@ $(STAMP_RUN)

# The optional local-model packages (torch CPU/GPU, diffusers): the tests need them too.
$(STAMP_LOCAL): requirements-local.txt | $(PY)
	$(PIP) install -q -r requirements-local.txt
	touch $@

## Install the optional local-model packages (the diffusers provider)
local: $(STAMP_LOCAL)

## Install what is missing and start the studio (offline provider) on http://127.0.0.1:5000
run: $(STAMP_RUN)
	$(PY) -m backend

## Install what the tests need and run them all
test: $(STAMP_DEV) $(STAMP_LOCAL)
	$(VENV)/bin/ruff check backend tests bench
	$(PY) -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; fi; exit $$rc

lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check backend tests bench
	$(VENV)/bin/ruff format --check backend

## Run every benchmark and print the figures
bench: $(STAMP_DEV)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
