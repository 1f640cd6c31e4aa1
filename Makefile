# Two commands for a newcomer: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint bench clean translations screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# The appliance on SQLite with four emulated modems and demo traffic; panel on http://127.0.0.1:8080.
run: $(INSTALLED)
	APPLIANCE_DATA_DIR=$${APPLIANCE_DATA_DIR:-.state/demo} $(BIN)/appliance demo

# Every test, on SQLite and on a throwaway PostgreSQL cluster (or APPLIANCE_TEST_POSTGRES_URL).
test: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .

bench: $(INSTALLED)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/pool.py
	$(BIN)/python bench/rules.py
	$(BIN)/python bench/delivery.py

# A PNG of every panel page at desktop and phone widths (docs/screenshots/), from a fresh demo.
screenshots: $(INSTALLED)
	$(BIN)/python scripts/screenshots.py --out docs/screenshots

# New panel texts from the code into the Polish catalog (then translate the empty ones), compiled.
translations: $(INSTALLED)
	$(BIN)/pybabel extract -F babel.cfg -k _l --no-location -o .state/messages.pot .
	$(BIN)/pybabel update -i .state/messages.pot -d appliance/web/translations -l pl \
	    --no-fuzzy-matching --ignore-obsolete --width 110
	$(BIN)/pybabel compile -d appliance/web/translations

clean:
	rm -rf $(VENV) .state .pytest_cache .hypothesis
