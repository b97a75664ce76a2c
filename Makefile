# Quickstart targets. Each one installs what it needs into ./.venv first (torch 2.14.1 and friends).
#   make demo   - generate the synthetic dataset and train the demo (CPU), print the results table
#   make test   - run the test suite (builds the InPlace-ABN extension when nvcc is available)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup wordnet inplace-abn demo test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --disable-pip-version-check -e '.[test]'
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

demo: setup
	$(PY) -m wilss.chain experiment=demo

test: setup inplace-abn
	$(PY) -m pytest

clean:
	rm -rf $(VENV) outputs .pytest_cache
