# Every target creates (or reuses) the local virtual environment and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Intuit's published qbXML schemas, used by the conformance tests (never copied into this repo).
QBSYNC_PUBLISHED_XSD ?= $(abspath ../shared/qbxml-xsd)
export QBSYNC_PUBLISHED_XSD

.PHONY: test soak demo bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The venv's bin/ first on PATH: tests (and the README's example) run the `qbsync` console script.
# One worker per core (pytest-xdist): every test has its own temporary store, port and company.
test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -n auto

# The long tests the normal run skips (e.g. a 50 MB qbXML response through serve-connector).
soak: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -m soak -s

demo: $(STAMP)
	$(BIN)/python -m qbsync.demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
