# The two commands of the README: `make run` (set up, run the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= $(or $(POSENET_CLS_DATA),../shared/data)
INPUT ?= $(DATA)/yoga8

.PHONY: setup run test clean

$(BIN)/posenet-cls: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,ray]"
	touch $@

setup: $(BIN)/posenet-cls

run: setup
	$(BIN)/posenet-cls predict "$(INPUT)"

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) *.egg-info
