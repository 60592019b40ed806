# Two commands for a fresh Debian machine: `make demo` and `make test`.
# Both install what is missing first (apt packages, then a .venv with the package), idempotently.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := xvfb xdotool openbox x11-utils xterm chromium chromium-driver zsh git postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-deps demo test lint bench clean

setup: system-deps $(VENV)/.installed

# Install the X tools the recorder, the tests and the demo run on, Chromium with its matching
# chromedriver for MiniWoB++ (`workscribe collect`), zsh and git for the coding sources, and PostgreSQL
# (the fleet catalog's tests start a server of their own), only where one is missing.
system-deps:
	@missing=""; \
	for bin in Xvfb xdotool openbox xprop xterm zsh git; do command -v $$bin >/dev/null 2>&1 || missing="$$missing $$bin"; done; \
	for bin in /usr/bin/chromium /usr/bin/chromedriver; do [ -x $$bin ] || missing="$$missing $$bin"; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing initdb"; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages (missing:$$missing)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

demo: setup
	$(VENV)/bin/workscribe demo --out demo-out

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check src tests

bench: setup
	$(VENV)/bin/workscribe bench record --json

clean:
	rm -rf $(VENV) demo-out bench-out .pytest_cache
