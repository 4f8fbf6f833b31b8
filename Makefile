# Atelier: the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
STAMP_LOCAL := $(VENV)/.installed-local

.PHONY: run test lint bench load clean spa spa-test e2e local

# The web studio (frontend/): built when npm is here; without it the server shows a plain page.
NPM := $(shell command -v npm 2>/dev/null)
SPA_STAMP := frontend/dist/index.html
SPA_SOURCES := $(shell find frontend/src frontend/index.html frontend/vite.config.ts frontend/tsconfig.json -type f 2>/dev/null)
NODE_STAMP := node_modules/.installed

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP_RUN): requirements.txt | $(PY)
	$(PIP) install -q -r requirements.txt
	touch $@

# requirements-readers.txt without their dependencies: see the comment in that file
$(STAMP_DEV): requirements.txt requirements-dev.txt requirements-readers.txt | $(PY)
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q --no-deps -r requirements-readers.txt
	touch $@ $(STAMP_RUN)

$(NODE_STAMP): package.json package-lock.json frontend/package.json
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	touch $@

# rebuilt only when a source changed since the last build
$(SPA_STAMP): $(NODE_STAMP) $(SPA_SOURCES)
	npm run build

spa:
ifdef NPM
	@$(MAKE) --no-print-directory $(SPA_STAMP)
else
	@echo "npm not found: serving the plain page at / (install Node 20+ for the web studio)"
endif

# The optional local-model packages (torch CPU/GPU, diffusers): the tests need them too.
$(STAMP_LOCAL): requirements-local.txt | $(PY)
	$(PIP) install -q -r requirements-local.txt
	touch $@

## Install the optional local-model packages (the diffusers provider)
local: $(STAMP_LOCAL)

## Install what is missing and start the studio (offline provider) on http://127.0.0.1:5000
run: $(STAMP_RUN) spa
	$(PY) -m backend

## The web studio's tests: Vitest, then Playwright against the real server (Debian chromium)
spa-test: $(STAMP_DEV) $(SPA_STAMP)
	npm test
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 ATELIER_PYTHON=$(abspath $(PY)) npm run e2e

## Install what the tests need and run them all
test: $(STAMP_DEV) $(STAMP_LOCAL)
	$(VENV)/bin/ruff check backend tests bench
ifdef NPM
	@# before pytest: the key-leak test builds the SPA bundle with canary keys in its environment
	@$(MAKE) --no-print-directory $(NODE_STAMP)
endif
	$(PY) -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; fi; exit $$rc
ifdef NPM
	@$(MAKE) --no-print-directory spa-test
else
	@echo "npm not found: skipping the web studio's tests"
endif

lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check backend tests bench
	$(VENV)/bin/ruff format --check backend

## Run every benchmark and write the figures into docs/benchmarks.md (BENCH_ARGS=--quick: smaller runs)
bench: $(STAMP_DEV)
	$(PY) bench/run_all.py $(BENCH_ARGS)

## 1000 Socket.IO clients while 200 jobs run (minutes; not part of make bench)
load: $(STAMP_DEV)
	$(PY) bench/load_sockets.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache node_modules frontend/dist frontend/test-results
