# Two commands from a fresh clone: `make demo` and `make test`.
# `make demo` installs the package with its default dependencies only (no Spark, no dev tools;
# about 500 MB with the DuckDB scanner wheels);
# `make test` adds every extra and the dev tools. Each install has its own stamp, so running
# the demo after the tests (or the other way round) installs only what is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --quiet --disable-pip-version-check

.PHONY: demo test install install-demo bytecode services bench lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-demo: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e .
	touch $@

# The dev extras need a current pip: the resolver of the pip a venv starts with (23.2 on
# Python 3.11) gives up on s3fs/aiobotocore/boto3 with ResolutionImpossible.
$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --upgrade pip
	$(PIP) install -e ".[dev]"
	touch $@ $(VENV)/.installed-demo

install-demo: $(VENV)/.installed-demo
install: $(VENV)/.installed-dev

# An editable install leaves towpath's own modules to be compiled on first import, and where
# PYTHONDONTWRITEBYTECODE is set (CI machines often set it) every process compiled them again:
# ~30 ms of each `towpath --help`. compileall rewrites only what changed (a few ms otherwise).
bytecode: | $(VENV)/bin/python
	$(BIN)/python -m compileall -q src/towpath

demo: $(VENV)/.installed-demo bytecode
	$(BIN)/python -m towpath.demo

test: $(VENV)/.installed-dev services bytecode
	$(BIN)/python -m pytest -q

# Real components the tests start themselves. PostgreSQL ships with the machine
# (/usr/lib/postgresql/15/bin); the rest comes from Debian when we may install it:
# one line per package, "package: the file that proves it is installed".
DEBIAN_SERVICES := \
	mariadb-server:/usr/sbin/mariadbd \
	redis-server:/usr/bin/redis-server \
	stunnel4:/usr/bin/stunnel4 \
	libpostgresql-jdbc-java:/usr/share/java/postgresql.jar \
	libmariadb-java:/usr/share/java/mariadb-java-client.jar \
	chromium:/usr/bin/chromium

services:
	@missing=""; for entry in $(DEBIAN_SERVICES); do \
	  [ -e "$${entry#*:}" ] || missing="$$missing $${entry%%:*}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing from Debian for the tests:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; the tests that need them will fail or skip"; \
	  else echo "note: not installed:$$missing (apt-get install -y$$missing); the tests that need them skip"; fi; \
	fi

bench: $(VENV)/.installed-dev bytecode
	$(BIN)/python -m benchmarks

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
