# The two commands a newcomer needs (see README):
#   make demo   set up .venv and run the demo swarm (8 node processes on loopback)
#   make test   set up .venv and run the whole test suite (ruff, mypy, pytest)
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pip prints a warning per local index directory it cannot find; hide that noise only.
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: demo test lint typecheck unit system-deps bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: a CPU build; an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q "torch==2.13.0" 2>&1 | $(QUIET_PIP)
	$(BIN)/python -m pip install -q -e ".[torch,tensorflow,plot,dev]" 2>&1 | $(QUIET_PIP)
	$(BIN)/python -c "import torch, tensorflow, quinkgl" >/dev/null 2>&1
	touch $@

# System packages the tests use: Fashion-MNIST (Debian's dataset-fashion-mnist) and iptables
# (the NAT traversal test builds NATs in network namespaces).  Installed when we are root.
system-deps:
	@missing=""; \
	[ -e /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || missing="$$missing dataset-fashion-mnist"; \
	command -v iptables >/dev/null || [ -x /usr/sbin/iptables ] || missing="$$missing iptables"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -q $$missing || (apt-get update -q && apt-get install -y -q $$missing)) >/dev/null; \
	  else echo "note: not root, so not installing:$$missing (their tests will skip)"; fi; \
	fi

demo: $(STAMP)
	$(BIN)/quinkgl swarm --json-out out/swarm.json --plot out/swarm.png

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) system-deps
	$(BIN)/python -m pytest

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python benchmarks/simulation_speed.py
	$(BIN)/python benchmarks/transfer.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
