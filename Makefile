# genlab: `make demo` and `make test` are all a fresh machine needs.
# TORCH pins the CPU wheel by default; GPU users override it, e.g.
#   make TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" test
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.genlab-installed
PYTEST_ARGS ?=
DEMO_RUN ?= runs/demo-pixelwise
REPORT ?= reports/quick

.PHONY: venv demo report-fashion test test-slow bench lint format chromium fashion-mnist clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/genlab train pixelwise --data digits --out $(DEMO_RUN) --force
	$(BIN)/genlab sample $(DEMO_RUN) -n 64 --out $(DEMO_RUN)/grid.png
	$(BIN)/genlab eval $(DEMO_RUN) --metrics bpd,fd,kid
	@echo "sample grid: $(DEMO_RUN)/grid.png"
	$(BIN)/genlab report --budget quick --jobs 2 --out $(REPORT)
	@echo "report: $(REPORT)/digits/index.html (index of every dataset page: $(REPORT)/index.html)"

# every study on the real Fashion-MNIST at the quick budget (52 minutes measured on 2 cores)
report-fashion: venv fashion-mnist
	$(BIN)/genlab report --data fashion-mnist --budget quick --jobs 2 --out $(REPORT)
	@echo "report: $(REPORT)/fashion-mnist/index.html (index: $(REPORT)/index.html)"

test: venv lint chromium
	$(BIN)/python -m pytest -m "not slow" -q $(PYTEST_ARGS)

test-slow: venv
	$(BIN)/python -m pytest -m slow -q $(PYTEST_ARGS)

# the peers of benchmarks/speed.py come with the optional `bench` extra, installed here only
# (torchcfm without its dependencies: its torchdyn would pull a CUDA torch over the pinned
# CPU one, and the two modules the peer uses need only torch, numpy and POT)
$(VENV)/.genlab-bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m pip install --quiet --no-deps torchcfm==1.0.7 POT==0.9.7.post1
	touch $@

bench: $(VENV)/.genlab-bench
	$(BIN)/python benchmarks/run_all.py

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: venv
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

# Debian's chromium, for the test that renders the report page headless. Installs
# only when absent (sudo -n unless root: never prompts); if that fails the browser
# test is skipped.
chromium:
	@if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "warning: no chromium and no apt-get; the browser test will be skipped"; \
	else \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  echo "installing chromium (apt-get) for the browser test"; \
	  ( $$SUDO apt-get update -qq && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ) \
	  || echo "warning: could not install chromium; the browser test will be skipped"; \
	fi

# Debian's dataset-fashion-mnist: the four official IDX files in
# /usr/share/datasets/fashion-mnist/, which genlab searches with no flag. Installs only
# when absent (sudo -n unless root). The other route: genlab fetch fashion-mnist.
fashion-mnist:
	@if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "no apt-get here: use '$(BIN)/genlab fetch fashion-mnist' instead"; exit 1; \
	else \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  echo "installing dataset-fashion-mnist (apt-get)"; \
	  ( $$SUDO apt-get update -qq && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null ) \
	  || { echo "could not install dataset-fashion-mnist; use '$(BIN)/genlab fetch fashion-mnist'"; exit 1; }; \
	fi

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
