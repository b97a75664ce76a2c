# Quickstart targets. Each one installs what it needs into ./.venv first (torch 2.14.1 and friends).
#   make demo   - generate the synthetic dataset and train the demo (CPU), print the results table
#   make test   - run the test suite (builds the InPlace-ABN extension when nvcc is available)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup inplace-abn demo test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --disable-pip-version-check -e '.[test]'
	touch $@

setup: $(VENV)/.installed

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
