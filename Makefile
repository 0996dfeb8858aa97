# Two commands on a fresh machine: `make demo` and `make test`.
# Both build .venv from requirements.txt once; the stamp file skips the install
# on later runs until requirements.txt changes.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL ?= random:base
JOBS ?=
DEMO_ROOT := data/raw/demo

.PHONY: demo test venv bench clean-demo

venv: $(STAMP)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m deepfake_pipeline.demo_corpus --out $(DEMO_ROOT)
	$(PY) preprocess_datasets.py --corpus asvspoof2019 --root $(DEMO_ROOT)/asvspoof --name demo_asvspoof2019
	$(PY) preprocess_datasets.py --corpus fakeavceleb --root $(DEMO_ROOT)/fakeav --name demo_fakeavceleb
