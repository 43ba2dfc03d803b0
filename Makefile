# Two entry points: `make demo` and `make test`. Both set up their own virtualenv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install clean messages notebooks

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,server]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/discreet demo

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/mypy

# pytest exits 5 when it collected no tests; any non-zero exit fails the target.
test: lint
	$(BIN)/python -m pytest

# Extract user-facing strings, merge them into the Spanish catalog, compile it.
LOCALES := src/discreet/locale
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ --sort-by-file --no-wrap \
		--project=discreet -o $(LOCALES)/discreet.pot src
	$(BIN)/pybabel update -i $(LOCALES)/discreet.pot -d $(LOCALES) -D discreet --no-wrap
	$(BIN)/pybabel compile -d $(LOCALES) -D discreet --statistics

# Write the notebooks and execute them: outputs and figures are committed, and
# tests/test_notebooks.py executes them again and compares.
notebooks: $(STAMP)
	$(BIN)/python scripts/make_notebooks.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
