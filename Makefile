# Two commands on a fresh machine: `make demo` and `make test`.
# Both build .venv from requirements.txt once; the stamp file skips the install on later runs
# until requirements.txt changes.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The demo runs offline with an untrained model; name real weights to use them, e.g.
#   make demo MODEL=facebook/wav2vec2-base
MODEL ?= random:base
DEMO_ROOT := data/raw/demo
DEMO_LA := demo_asvspoof2019
DEMO_FAV := demo_fakeavceleb

.PHONY: demo test venv bench

venv: $(STAMP)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m deepfake_pipeline.demo --out $(DEMO_ROOT)
	$(PY) preprocess_datasets.py --corpus asvspoof2019 --root $(DEMO_ROOT)/asvspoof --name $(DEMO_LA)
	$(PY) preprocess_datasets.py --corpus fakeavceleb --root $(DEMO_ROOT)/fakeav --name $(DEMO_FAV)
	$(PY) features.py --model $(MODEL) --splits $(DEMO_LA)_train $(DEMO_LA)_dev $(DEMO_LA)_eval $(DEMO_FAV)_eval
	$(PY) eval_logreg.py --features spectral --train $(DEMO_LA)_train --dev $(DEMO_LA)_dev \
		--test $(DEMO_LA)_eval $(DEMO_FAV)_eval --run demo_spectral --overwrite
	$(PY) eval_logreg.py --features embeddings --model $(MODEL) --layer-sweep --train $(DEMO_LA)_train \
		--dev $(DEMO_LA)_dev --test $(DEMO_LA)_eval $(DEMO_FAV)_eval --run demo_baseline --overwrite
	$(PY) train_contrastive.py --baseline-run results/demo_baseline --run demo_contrastive --overwrite

bench: $(STAMP)
	$(PY) bench/bench_preprocess.py
	$(PY) bench/bench_store_dtype.py
	$(PY) bench/bench_spectral.py
	$(PY) bench/bench_embeddings.py
	$(PY) bench/bench_unfreeze_cache.py
	$(PY) bench/bench_metrics.py
