# The two set-up commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean lower-bounds

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: the pin takes the CPU wheel where one is provided, the normal build elsewhere.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/polyedit demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# every dependency at its declared lower bound, in a fresh venv under /tmp; runs the fast tests
lower-bounds:
	scripts/check_lower_bounds.sh

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
