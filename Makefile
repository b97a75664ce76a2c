# Quickstart targets. Each one installs what it needs into ./.venv first, at the versions of constraints.txt.
#   make demo   - install the kit alone, generate the synthetic dataset and train the demo (CPU), print the table
#   make test   - add the test extras, build the InPlace-ABN extension when nvcc is available, run the test suite
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# pip prints one line per package (no progress bar: the output may be a log file, not a terminal).
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check --progress-bar off -c constraints.txt

.PHONY: setup wordnet inplace-abn demo test clean

# What the demo needs: the kit and its runtime dependencies (torch and its CUDA libraries are most of the size).
$(VENV)/.demo: pyproject.toml constraints.txt
	@echo "[make] installing wilss and its dependencies into $(VENV): about 6 GB, 2-5 minutes the first time"
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e . | { grep -v '^Requirement already satisfied' || true; }
	@$(PY) -c 'import wilss.train' && echo "[make] $(VENV) ready: $$(du -sh $(VENV) | cut -f1)"
	touch $@

# The test suite also needs the test extras (linters, the Web-WILSS models).
$(VENV)/.installed: $(VENV)/.demo
	@echo "[make] adding the test extras to $(VENV)"
	$(PIP_INSTALL) -e '.[test]' | { grep -v '^Requirement already satisfied' || true; }
	touch $@

# WordNet 3.0 database (Debian wordnet-base) for select-replay --mode parity; apt-get only as root.
WORDNET_DIR ?= /usr/share/wordnet
wordnet:
	@if [ -f $(WORDNET_DIR)/data.noun ] || [ -n "$$WILSS_WORDNET" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get install -y -qq wordnet-base >/dev/null || { apt-get update -qq && apt-get install -y -qq wordnet-base; }; \
	else \
		echo "WordNet 3.0 not found in $(WORDNET_DIR): run 'sudo apt-get install -y wordnet-base', or set WILSS_WORDNET to a folder with index.noun, data.noun and noun.exc"; exit 1; \
	fi

setup: $(VENV)/.installed wordnet

# The extension is optional (model.norm=inplace_abn); build it only where a CUDA compiler exists. Without a GPU
# one architecture (IABN_ARCHS) keeps the host build short; the images compile docker/versions.env's list.
IABN_ARCHS ?= 9.0
$(VENV)/.inplace_abn: $(VENV)/.installed scripts/build_inplace_abn.sh
	@if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then \
		PYTHON=$(PY) TORCH_CUDA_ARCH_LIST='$(IABN_ARCHS)' bash scripts/build_inplace_abn.sh; \
	else \
		echo "nvcc not found: skipping the optional InPlace-ABN build (model.norm=native works without it)"; \
	fi
	touch $@

inplace-abn: $(VENV)/.inplace_abn

demo: $(VENV)/.demo
	$(VENV)/bin/wilss chain experiment=demo

test: setup inplace-abn
	$(PY) -m pytest

clean:
	rm -rf $(VENV) outputs .pytest_cache
