"""Fixtures shared by several test files. Topic-specific helpers live in the test files."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# A numba disk cache of this session's own, set before anything imports numba (librosa does, on
# first use). librosa's kernels are cached with cache=True, by default in __pycache__ beside
# librosa's files, which every checkout sharing one virtual environment shares too; numba fills
# that cache unsafely when several processes compile at once (see
# deepfake_pipeline/common/numba_cache.py), and a cache broken that way crashes every later
# process with a segmentation fault (seen here in librosa.feature.zero_crossing_rate while
# several test runs shared one venv). The subprocesses and workers the tests start inherit it.
# TESTS_NUMBA_CACHE_DIR names a folder to use instead, kept afterwards: tools/mutate.py gives
# each mutation run one, filled once by mutmut's first plain test run before the parallel
# mutants start (the mutants are pytest sessions forked from one process, which must neither
# make a cold cache each nor delete one the others use).
assert "numba" not in sys.modules, "numba was imported before conftest could set NUMBA_CACHE_DIR"
NUMBA_CACHE_DIR = os.environ.get("TESTS_NUMBA_CACHE_DIR") or tempfile.mkdtemp(prefix="pytest-numba-cache-")
os.environ["NUMBA_CACHE_DIR"] = NUMBA_CACHE_DIR
_REMOVE_CACHE_IN_PID = None if os.environ.get("TESTS_NUMBA_CACHE_DIR") else os.getpid()


def pytest_unconfigure(config):
    if os.getpid() == _REMOVE_CACHE_IN_PID:
        shutil.rmtree(NUMBA_CACHE_DIR, ignore_errors=True)


try:
    import torch

    # The tiny test models are dominated by per-op overhead; extra threads only add contention
    # on a 2-core machine (measured: about 5x slower with 2 threads).
    torch.set_num_threads(1)
except ImportError:  # the step-1 tests do not need torch
    pass

REAL_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data_dir():
    """The real labelled clips beside the project, when this machine has them."""
    if not (REAL_DATA_DIR / "MANIFEST.csv").is_file():
        pytest.skip("../shared/data/real is not present on this machine")
    return REAL_DATA_DIR


def save_tiny_wav2vec2(out_dir: Path, arch: str = "base", seed: int = 0) -> Path:
    """A randomly initialised, very small Wav2Vec2 saved the way real weights are, so tests load
    it back through the same ``from_pretrained`` path. ``arch='base'`` has the group-normalised
    feature encoder of wav2vec2-base; ``arch='large'`` the layer-normalised, stable-layer-norm
    shape of XLS-R / large models."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(seed)
    large = arch == "large"
    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer" if large else "group",
        do_stable_layer_norm=large,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        layerdrop=0.0,
    )
    model = Wav2Vec2Model(config).eval()
    model.save_pretrained(out_dir)
    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=16000,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=large,
    ).save_pretrained(out_dir)
    return Path(out_dir)


@pytest.fixture(scope="session")
def tiny_wav2vec2_base(tmp_path_factory):
    return save_tiny_wav2vec2(tmp_path_factory.mktemp("tiny_w2v2_base"), arch="base")


@pytest.fixture(scope="session")
def tiny_wav2vec2_large(tmp_path_factory):
    return save_tiny_wav2vec2(tmp_path_factory.mktemp("tiny_w2v2_large"), arch="large")
