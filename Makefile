# Two commands on a fresh clone: `make run` (ingest seeds/ into ./data/corpus) and `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test lint system-deps constraints bench

$(INSTALLED): requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	touch $(INSTALLED)

run: $(INSTALLED)
	$(PY) -m pipeline ingest --input seeds

system-deps:
	scripts/install-system-deps.sh

lint: $(INSTALLED)
	$(PY) -m ruff check .

test: $(INSTALLED) system-deps lint
	$(PY) -m pytest

bench: $(INSTALLED)
	$(PY) bench/dedup.py --dataset ../shared/eval/syndication-dev
	$(PY) bench/copies.py
	$(PY) bench/extraction.py --dataset ../shared/eval/extraction-dev
	$(PY) bench/chaos.py

constraints: $(INSTALLED)
	{ head -n 2 constraints.txt; $(PY) -m pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt
