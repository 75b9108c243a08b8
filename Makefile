# The two set-up commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean lower-bounds docs docs-serve

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

# the docs site (docs/, mkdocs.yml) into site/; a broken link, a page missing from the navigation or a
# registered method without its page fails the build
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	@echo "site/index.html written; make docs-serve serves it on http://127.0.0.1:8000"

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict -a 127.0.0.1:8000

# every dependency at its declared lower bound, in a fresh venv under /tmp; runs the fast tests
lower-bounds:
	scripts/check_lower_bounds.sh

clean:
	rm -rf $(VENV) build site *.egg-info src/*.egg-info
