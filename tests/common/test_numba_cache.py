"""The pipeline's parallel workers only read numba's disk cache: before starting them, their
parent compiles what they need (deepfake_pipeline/common/numba_cache.py), so workers starting
together on a first run never fill the cache at once, which can leave a pair of kernel files
from two processes that crashes every later process with a segmentation fault."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numba
import pytest

REPO = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter with an empty NUMBA_CACHE_DIR, i.e. a first run. The parent warms
# up exactly as the pipeline does before its Parallel calls; then fresh loky workers run the real
# worker functions of the demo writers (ASVspoof clips, one per class; a FakeAVCeleb audio) and of
# step 2 (spectral features of one part of a wave store).
FIRST_RUN = r"""
import json, os, sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from joblib.externals.loky import get_reusable_executor

from deepfake_pipeline.common.numba_cache import warm_before_workers
from deepfake_pipeline.demo import asvspoof, attacks, fakeav
from deepfake_pipeline.features import jobs, spectral
from deepfake_pipeline.formats.manifest import MANIFEST_COLUMNS, write_manifest
from deepfake_pipeline.formats.wavestore import STORE_DTYPE, WaveStore, shard_path, write_info
import pandas as pd

cache = Path(os.environ["NUMBA_CACHE_DIR"])
split_dir = Path(sys.argv[1])


def files():
    return {str(p.relative_to(cache)): [p.stat().st_size, p.stat().st_mtime_ns]
            for p in sorted(cache.rglob("*")) if p.is_file()}


empty = not files()
warm_before_workers(attacks.warm_numba_kernels)
warm_before_workers(spectral.warm_numba_kernels)
warmed = files()

# One clip per class and one video, 1 s of speech each: the same calls and dtypes as full-size
# clips, at a fraction of the rendering time.
plan = asvspoof.plan_asvspoof(0, {"train": (1, 4), "dev": (1, 4), "eval": (1, 4)})
clips = [replace(c, speech_s=1.0) for c in {c.attack: c for c in plan}.values()]
videos = [v for v in fakeav.plan_fakeav(0, 3) if v.attack != "-"][:1]
rng = np.random.default_rng(0)
lengths = np.array([16000, 23456, 1000])
samples = (rng.standard_normal(lengths.sum()) * 0.1).astype(STORE_DTYPE)
shard_path(split_dir, 0).parent.mkdir(parents=True, exist_ok=True)
np.save(shard_path(split_dir, 0), samples)
offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
write_manifest(pd.DataFrame([
    {"utt_id": f"c{i}", "corpus": "t", "split": "x", "label": 0, "attack": "-", "speaker": "-",
     "source_path": "-", "duration_s": n / 16000, "orig_sr": 16000, "num_samples": n, "shard": 0, "offset": o,
     "audio_sha1": "-"} for i, (n, o) in enumerate(zip(lengths, offsets))], columns=MANIFEST_COLUMNS), split_dir)
write_info(split_dir, {"split_id": "t_x", "store_dtype": STORE_DTYPE, "sample_rate": 16000})
store = WaveStore(split_dir)

get_reusable_executor().shutdown(wait=True)  # fresh workers: nothing compiled in them yet
Parallel(n_jobs=2)(
    [delayed(asvspoof.render_clip)(c, 0) for c in clips]
    + [delayed(fakeav._audio)(v) for v in videos]
    + [delayed(jobs._spectral_part)(0, store.rows([0, 1, 2]))]
)
print(json.dumps({"empty_at_start": empty, "classes": sorted(c.attack for c in clips),
                  "warmed": warmed, "after_workers": files()}))
"""


def test_the_session_has_a_numba_cache_of_its_own():
    # Set by conftest before numba was imported, so it is the one in force here and in workers:
    # a temporary one of this session's, or the one a driver named and fills one session at a
    # time (tools/mutate.py; make test-fast, under flock).
    assert numba.config.CACHE_DIR == os.environ["NUMBA_CACHE_DIR"]
    named = os.environ.get("TESTS_NUMBA_CACHE_DIR")
    if named:
        assert numba.config.CACHE_DIR == named
    else:
        assert Path(numba.config.CACHE_DIR).name.startswith("pytest-numba-cache-")


@pytest.mark.slow
def test_on_a_first_run_the_workers_write_nothing_to_the_numba_cache(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba_cache"), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", FIRST_RUN, str(tmp_path / "store")], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["empty_at_start"]
    assert result["classes"] == ["-", "A01", "A02", "A03", "A04", "A05", "A06"]
    # The warm-up compiled librosa's kernels, the gufunc pairs of the reported crash among them.
    names = set(result["warmed"])
    assert any("_zc_wrapper" in n and "guf-" in n for n in names)
    assert any(n.endswith(".nbi") and "__lpc" in n for n in names)
    # Not one file added or rewritten by the workers.
    assert result["after_workers"] == result["warmed"]
