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

# Extract user-facing strings, merge them into the Spanish catalog, compile it. No source
# locations and sorted messages, and fixed header dates: the same code always gives the
# same files, so catalogs merge like code (tests/test_translations.py checks they match).
LOCALES := src/discreet/locale
CATALOG_DATE := 2026-12-01 00:00+0000
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ --sort-output --no-location --no-wrap \
		--project=discreet --version=1 -o $(LOCALES)/discreet.pot src
	$(BIN)/pybabel update -i $(LOCALES)/discreet.pot -d $(LOCALES) -D discreet --no-wrap \
		--ignore-obsolete
	sed -i -E 's/^"(POT-Creation-Date|PO-Revision-Date): .*\\n"$$/"\1: $(CATALOG_DATE)\\n"/' \
		$(LOCALES)/discreet.pot $(LOCALES)/es/LC_MESSAGES/discreet.po
	$(BIN)/pybabel compile -d $(LOCALES) -D discreet --statistics

# Write the notebooks and execute them: outputs and figures are committed, and
# tests/test_notebooks.py executes them again and compares.
notebooks: $(STAMP)
	$(BIN)/python scripts/make_notebooks.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
