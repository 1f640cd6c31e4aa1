# Two commands for a newcomer: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint bench fuzz clean translations screenshots image image-constraints

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

# Coverage-guided fuzzing of the PDU, WAP push and MMS decoders (docs/fuzzing.md), then the findings
# through the real reception on SQLite and PostgreSQL. Not part of `make test`: it takes a while.
FUZZ_INSTALLED := $(VENV)/.installed-fuzz
$(FUZZ_INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,fuzz]'
	touch $@

fuzz: $(FUZZ_INSTALLED)
	nice -n 10 $(BIN)/python -m fuzz.run

# A PNG of every panel page at desktop and phone widths (docs/screenshots/), from a fresh demo.
screenshots: $(INSTALLED)
	$(BIN)/python scripts/screenshots.py --out docs/screenshots

# New panel texts from the code into the Polish catalog (then translate the empty ones), compiled.
translations: $(INSTALLED)
	$(BIN)/pybabel extract -F babel.cfg -k _l --no-location -o .state/messages.pot .
	$(BIN)/pybabel update -i .state/messages.pot -d appliance/web/translations -l pl \
	    --no-fuzzy-matching --ignore-obsolete --width 110
	$(BIN)/pybabel compile -d appliance/web/translations

# The SD card image for a Raspberry Pi 3, 4 or Zero 2 W: build/sms-appliance-arm64.img (as root, on
# Debian; docs/image.md). Debian package versions must match image/packages-arm64.lock;
# IMAGE_UPDATE_LOCK=1 takes the archive's current ones into the lock instead.
IMAGE_ARCH ?= arm64
IMAGE_LOCK := $(wildcard image/packages-$(IMAGE_ARCH).lock)
image: $(BIN)/python
	rm -rf build/wheel
	$(BIN)/python -m pip wheel --quiet --no-deps -w build/wheel .
	IMAGE_ARCH=$(IMAGE_ARCH) $(BIN)/python image/build.py rootfs --wheel build/wheel/appliance-*.whl \
	    --out build/rootfs-$(IMAGE_ARCH) --cache .state/image-cache \
	    $(if $(IMAGE_LOCK),--lock $(IMAGE_LOCK) $(if $(IMAGE_UPDATE_LOCK),--update-lock))
	IMAGE_ARCH=$(IMAGE_ARCH) $(BIN)/python image/build.py disk --rootfs build/rootfs-$(IMAGE_ARCH) \
	    --out build/sms-appliance-$(IMAGE_ARCH).img

# image/constraints.txt: the versions of the appliance's dependencies the image installs, from PyPI now.
image-constraints: $(BIN)/python
	rm -rf build/wheel .state/constraints-venv
	$(BIN)/python -m pip wheel --quiet --no-deps -w build/wheel .
	$(PYTHON) -m venv .state/constraints-venv
	.state/constraints-venv/bin/pip install --quiet build/wheel/appliance-*.whl
	{ sed -n '/^#/p' image/constraints.txt; .state/constraints-venv/bin/pip freeze --exclude appliance; } \
	    > image/constraints.txt.new && mv image/constraints.txt.new image/constraints.txt

clean:
	rm -rf $(VENV) .state .pytest_cache .hypothesis
