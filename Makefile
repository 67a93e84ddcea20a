# Two commands from a fresh clone: `make demo` and `make test`.
# `make demo` installs the package with its default dependencies only (well under 400 MB);
# `make test` adds every extra and the dev tools. Each install has its own stamp, so running
# the demo after the tests (or the other way round) installs only what is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --quiet --disable-pip-version-check

.PHONY: demo test install install-demo services bench lint clean

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

demo: $(VENV)/.installed-demo
	$(BIN)/python -m towpath.demo

test: $(VENV)/.installed-dev services
	$(BIN)/python -m pytest -q

# Real components the tests start themselves: PostgreSQL ships with the machine
# (/usr/lib/postgresql/15/bin); MariaDB comes from Debian when we may install it.
services:
	@if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing mariadb-server from Debian (MySQL connector tests)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null) \
	      || echo "warning: could not install mariadb-server; the MySQL tests will be skipped"; \
	  else echo "note: mariadb-server is not installed; the MySQL tests will be skipped"; fi; \
	fi

bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
