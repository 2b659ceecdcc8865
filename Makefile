# The two commands a newcomer needs: `make run` and `make test`. Both set up what is missing.
#
# The install cannot drift: the virtualenv's own pip (whatever the machine's Python bundles)
# installs only one thing, the pinned uv in installer.lock, checked by hash. uv then makes the
# virtualenv exactly requirements.lock (every package, extras' included, pinned and hashed; what
# is not in it is removed) and installs this project with the locked setuptools and no build
# isolation, so nothing comes from the index unpinned, whatever it has published since.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.package-lock.json
UV_VERSION := 0.13.9
LOCK_FLAGS := --generate-hashes --python-version 3.11 --custom-compile-command "make lock"

.PHONY: setup run test lint bench messages migration lock fresh-clone

$(UV): installer.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "techmarket needs Python 3.11 (found $(PYTHON)); set PYTHON=/path/to/python3.11" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --require-hashes --no-deps -r installer.lock
	touch $(UV)

$(STAMP): $(UV) requirements.lock pyproject.toml
	$(UV) pip sync -q --python $(PY) --require-hashes requirements.lock
	$(UV) pip install -q --python $(PY) --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund

setup: $(STAMP) $(NODE_STAMP)

run: setup
	$(VENV)/bin/market dev

lint: setup
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

test: lint
	$(VENV)/bin/pytest

bench: setup
	$(PY) bench/run_all.py

# Regenerate the message catalogue template and merge it into each language. Besides `_` and
# `N_`, the words our Python code shows on pages are extracted where they are written: a Msg,
# a refusal's message, a field's error, a redirect's notice (market/i18n.py Msg, web.render).
MESSAGE_KEYWORDS := -k Msg -k DomainError -k ValidationFailed -k NotAuthenticated -k Forbidden \
	-k NotFound -k Conflict -k TooManyRequests -k validation_error:2 -k redirect:2
messages: setup
	$(VENV)/bin/pybabel extract -F babel.cfg $(MESSAGE_KEYWORDS) -o market/locale/messages.pot .
	$(VENV)/bin/pybabel update -i market/locale/messages.pot -d market/locale

# After changing models: write the next migration (never edit one that has landed).
migration: setup
	$(VENV)/bin/market makemigrations

# After changing a dependency in pyproject.toml, or UV_VERSION above: re-pin (existing pins are
# kept unless a change needs otherwise), then prove the install with `make fresh-clone`.
lock: $(UV)
	echo "uv==$(UV_VERSION)" | $(UV) pip compile - $(LOCK_FLAGS) -q -o installer.lock
	$(UV) pip compile pyproject.toml --extra dev $(LOCK_FLAGS) -q -o requirements.lock

# What a newcomer's machine does with the committed tree: clone, install from nothing, no caches.
fresh-clone:
	bash tests/fresh_clone.sh
