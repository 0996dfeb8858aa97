# Two commands on a fresh machine: `make demo` and `make test`.
# Both build .venv from the lock requirements.txt once; the stamp file skips the install on later
# runs until requirements.txt changes, and then .venv is rebuilt from scratch so that it holds
# exactly what the lock names. The lock is compiled from requirements.in by `make lock`
# (README, "Updating the pinned environment"); installing needs only pip and the lock.

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

# pip-compile (pip-tools) and the pip it runs on, in a throwaway venv used only by `make lock`.
LOCK_VENV := .venv-lock
PIP_TOOLS := pip-tools==7.6.2
LOCK_PIP := pip==26.3
# Extra pip-compile options, e.g. LOCK_FLAGS=--upgrade or LOCK_FLAGS="--upgrade-package numpy".
LOCK_FLAGS ?=
COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --allow-unsafe \
	--strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_FLAGS)

.PHONY: demo test test-fast lint venv bench lock mutate

venv: $(STAMP)

# --no-deps: the lock is the whole environment; a package it forgot fails `pip check` instead of
# being pulled in unpinned (a CUDA torch would fail there too, on its missing nvidia-* packages).
# pip runs --quiet, so each long step says what it does first (the install takes 1-2 minutes).
$(STAMP): requirements.txt
	@echo "make venv: building $(VENV) from the lock requirements.txt (it changed, or there is no $(VENV))"
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	@echo "make venv: installing the pinned pip..."
	$(PY) -m pip install --quiet --no-deps "$$(grep -E '^pip==' requirements.txt)"
	@echo "make venv: installing the locked environment, $$(grep -cE '^[A-Za-z0-9_.-]+==' requirements.txt) packages (torch's CPU wheel among them; about 1-2 minutes)..."
	$(PY) -m pip install --quiet --no-deps -r requirements.txt
	@echo "make venv: checking that every package has its dependencies (pip check)..."
	$(PY) -m pip check
	touch $(STAMP)
	@echo "make venv: $(VENV) is ready"

# Regenerates the locks from the .in files; keeps every existing pin that the .in files still
# allow unless LOCK_FLAGS says otherwise. Run on Linux x86_64 with CPython 3.11, like CI.
lock:
	$(PYTHON) -m venv $(LOCK_VENV)
	@echo "make lock: installing $(PIP_TOOLS)..."
	$(LOCK_VENV)/bin/python -m pip install --quiet $(LOCK_PIP) $(PIP_TOOLS)
	@echo "make lock: compiling requirements.txt from requirements.in (resolving against the index: minutes)..."
	$(COMPILE) --output-file requirements.txt requirements.in
	@echo "make lock: compiling requirements-mutate.txt from requirements-mutate.in..."
	$(COMPILE) --output-file requirements-mutate.txt requirements-mutate.in

# The whole suite (CI runs this). test-fast leaves out the tests marked slow (pyproject.toml):
# for the edit-test loop, not instead of `make test` before a commit.
test: $(STAMP)
	$(PY) -m pytest -q

# test-fast keeps librosa's compiled numba kernels between its runs (TESTS_NUMBA_CACHE_DIR,
# tests/conftest.py): compiling them costs about 15 s of CPU per session, a third of the tier.
# The cache lives in .venv, so it goes when the environment is rebuilt; flock lets one test-fast
# at a time use it, since numba fills a cache unsafely when processes compile at once.
FAST_NUMBA_CACHE := $(VENV)/numba-cache-test-fast

test-fast: $(STAMP)
	mkdir -p $(FAST_NUMBA_CACHE)
	TESTS_NUMBA_CACHE_DIR="$(abspath $(FAST_NUMBA_CACHE))" flock "$(FAST_NUMBA_CACHE).lock" \
		$(PY) -m pytest -q -m "not slow"

# The static checks, with .venv's pinned tools (requirements.in): ruff's lint and format check
# over the repository and mypy over the package (both configured in pyproject.toml). CI runs it
# after `make test`; .pre-commit-config.yaml runs the same commands before a commit.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

demo: $(STAMP)
	$(PY) -m deepfake_pipeline.demo --out $(DEMO_ROOT)
	$(PY) preprocess_datasets.py --corpus asvspoof2019 --root $(DEMO_ROOT)/asvspoof --name $(DEMO_LA)
	$(PY) preprocess_datasets.py --corpus fakeavceleb --root $(DEMO_ROOT)/fakeav --name $(DEMO_FAV)
	$(PY) features.py --model $(MODEL) --splits $(DEMO_LA)_train $(DEMO_LA)_dev $(DEMO_LA)_eval $(DEMO_FAV)_eval
	$(PY) eval_logreg.py --features spectral --train $(DEMO_LA)_train --dev $(DEMO_LA)_dev \
		--test $(DEMO_LA)_eval $(DEMO_FAV)_eval --run demo_spectral --overwrite
	$(PY) eval_logreg.py --features embeddings --model $(MODEL) --layer-sweep --train $(DEMO_LA)_train \
		--dev $(DEMO_LA)_dev --test $(DEMO_LA)_eval $(DEMO_FAV)_eval --run demo_baseline --overwrite
	# Issue 20: train on demo train plus its RawBoost copy, test on demo eval clean and through MP3.
	$(PY) preprocess_datasets.py --augment $(DEMO_LA)_train --recipe rawboost5 --jobs 1
	$(PY) preprocess_datasets.py --augment $(DEMO_LA)_eval --recipe mp3-32k --jobs 1
	$(PY) features.py --what spectral --splits $(DEMO_LA)_train+rawboost5 $(DEMO_LA)_eval+mp3-32k
	$(PY) eval_logreg.py --features spectral --train $(DEMO_LA)_train $(DEMO_LA)_train+rawboost5 --dev $(DEMO_LA)_dev \
		--test $(DEMO_LA)_eval $(DEMO_LA)_eval+mp3-32k --run demo_augmented --overwrite
	$(PY) train_contrastive.py --baseline-run results/demo_baseline --run demo_contrastive --overwrite
	$(PY) fuse_runs.py --runs results/demo_spectral results/demo_baseline --run demo_fusion --overwrite
	$(PY) make_table.py --runs results/demo_spectral results/demo_baseline results/demo_contrastive \
		results/demo_fusion --out results/demo_table --overwrite

bench: $(STAMP)
	$(PY) bench/bench_preprocess.py
	$(PY) bench/bench_store_dtype.py
	$(PY) bench/bench_spectral.py
	$(PY) bench/bench_embeddings.py
	$(PY) bench/bench_unfreeze_cache.py
	$(PY) bench/bench_metrics.py
	$(PY) bench/bench_verdict.py
	$(PY) bench/long_clip_memory.py
	$(PY) bench/bench_layer_read.py
	$(PY) bench/bench_scale.py

# Mutation testing (docs/mutation.md): not part of `make test` or CI. mutmut comes from its own
# lock, compiled against the main one, and only this target installs it.
MUTATE_STAMP := $(VENV)/.installed-mutate
# e.g. make mutate MODULES=deepfake_pipeline/evaluation/metrics.py (default: every module)
MODULES ?=

$(MUTATE_STAMP): $(STAMP) requirements-mutate.txt
	@echo "make mutate: installing mutmut from requirements-mutate.txt..."
	$(PY) -m pip install --quiet --no-deps -r requirements-mutate.txt
	$(PY) -m pip check
	touch $(MUTATE_STAMP)

mutate: $(MUTATE_STAMP)
	$(PY) tools/mutate.py $(MODULES)
