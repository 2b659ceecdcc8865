# The two commands a newcomer needs: `make run` and `make test`. Both set up what is missing.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.package-lock.json

.PHONY: setup run test lint bench messages migration

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
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

# Regenerate the message catalogue template and merge it into each language.
messages: setup
	$(VENV)/bin/pybabel extract -F babel.cfg -o market/locale/messages.pot .
	$(VENV)/bin/pybabel update -i market/locale/messages.pot -d market/locale

# After changing models: write the next migration (never edit one that has landed).
migration: setup
	$(VENV)/bin/market makemigrations
