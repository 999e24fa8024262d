# The two commands of the README: `make run` (set up, run the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= $(or $(POSENET_CLS_DATA),../shared/data)
INPUT ?= $(DATA)/yoga8

.PHONY: setup run test clean browser

$(BIN)/posenet-cls: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,ray]"
	touch $@

setup: $(BIN)/posenet-cls

run: setup
	$(BIN)/posenet-cls predict "$(INPUT)"

# The browser tests drive Debian's chromium; as root, install it when missing (quietly). Without it they skip
# locally and fail in CI.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && \
	  apt-get install -y -qq chromium >/dev/null 2>&1; } || echo "make: could not install chromium (apt-get failed)"; \
	fi

test: setup browser
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) *.egg-info
