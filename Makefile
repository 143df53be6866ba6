# artgan: `make run` (train, evaluate, push, serve and sample on the embedded digits) and
# `make test`. Both create .venv if missing and install only what changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements/lock.txt
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: install run serve test lint lock clean browser

install: $(VENV)/.project-installed

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The registry cannot resolve tfx 1.21's own pins (see pyproject.toml), so the fully resolved,
# pinned list is installed without dependency resolution.
$(VENV)/.lock-installed: $(LOCK) | $(BIN)/python
	$(PIP) install --no-deps -r $(LOCK)
	touch $@

$(VENV)/.project-installed: pyproject.toml $(VENV)/.lock-installed
	$(PIP) install --no-deps --no-build-isolation -e '.[test]'
	touch $@

run: install
	$(BIN)/artgan run --sample-seeds 0-15

# After `make run`: serve what it pushed (Ctrl-C stops); `make run` prints the generate command.
serve: install
	$(BIN)/artgan serve

# The gallery's browser test drives Debian's Chromium; without apt-get (or when it fails) that
# test skips, naming the missing package.
browser:
	@[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || { command -v apt-get >/dev/null \
	  && { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	       chromium chromium-driver >/dev/null; } \
	  || echo "chromium not installed: the gallery's browser test will skip"; }

test: install browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

# Regenerate the pinned list from a working environment (see README, "Installing").
lock:
	$(BIN)/python -m pip freeze --exclude-editable | LC_ALL=C sort -f > $(LOCK)

clean:
	rm -rf $(VENV) artgan_home
