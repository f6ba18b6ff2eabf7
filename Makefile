# The two commands a new machine needs: `make run` and `make test`. Each sets up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run init test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet --editable . --group test
	touch $(STAMP)

init: setup
	$(BIN)/kaohe init

run: init
	$(BIN)/kaohe simulate national-2013 --year 2025 --regions 5
	@echo
	@echo "Database ready: try '$(BIN)/kaohe tasks', '$(BIN)/kaohe campaign start national-2013 --year 2025'"

lint: setup
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) var
