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


# The tiny self-supervised models of every family the pipeline loads, with each normalisation
# variant the family has: name -> (model_type, pre-norm with layer-normalised CNN, extra config).
TINY_SSL = {
    "wav2vec2-base": ("wav2vec2", False, {}),
    "wav2vec2-large": ("wav2vec2", True, {}),
    "hubert-base": ("hubert", False, {}),
    # some HuBERT checkpoints put a batch norm before the positional convolution
    "hubert-large-bn": ("hubert", True, {"conv_pos_batch_norm": True}),
    "wavlm-base": ("wavlm", False, {"num_buckets": 32, "max_bucket_distance": 64}),
    "wavlm-large": ("wavlm", True, {"num_buckets": 32, "max_bucket_distance": 64}),
    # data2vec-audio: always a layer-normalised CNN and a post-norm encoder
    "data2vec-audio": ("data2vec-audio", None, {"num_conv_pos_embeddings": 3, "conv_pos_kernel_size": 5}),
}


def save_tiny_ssl(out_dir: Path, name: str, seed: int = 0) -> Path:
    """A randomly initialised, very small model of family ``TINY_SSL[name]`` saved the way real
    weights are, so tests load it back through the same ``from_pretrained`` path. Base variants
    have the group-normalised CNN and post-norm encoder of wav2vec2-base; large ones the
    layer-normalised CNN and pre-norm ("stable layer norm") encoder of XLS-R / large models."""
    import torch
    import transformers
    from transformers import Wav2Vec2FeatureExtractor

    torch.manual_seed(seed)
    family, large, extra = TINY_SSL[name]
    shape = dict(
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embedding_groups=2,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        layerdrop=0.0,
    )
    if large is not None:
        shape.update(
            num_conv_pos_embeddings=16, feat_extract_norm="layer" if large else "group", do_stable_layer_norm=large
        )
    config_class, model_class = {
        "wav2vec2": ("Wav2Vec2Config", "Wav2Vec2Model"),
        "hubert": ("HubertConfig", "HubertModel"),
        "wavlm": ("WavLMConfig", "WavLMModel"),
        "data2vec-audio": ("Data2VecAudioConfig", "Data2VecAudioModel"),
    }[family]
    config = getattr(transformers, config_class)(**shape, **extra)
    model = getattr(transformers, model_class)(config).eval()
    model.save_pretrained(out_dir)
    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=16000,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=bool(large),
    ).save_pretrained(out_dir)
    return Path(out_dir)


@pytest.fixture(scope="session")
def tiny_ssl_folders(tmp_path_factory):
    """name -> folder of a saved tiny model (TINY_SSL), made on first use."""
    folders = {}

    def get(name):
        if name not in folders:
            folders[name] = save_tiny_ssl(tmp_path_factory.mktemp(f"tiny_{name}"), name)
        return folders[name]

    return get


@pytest.fixture(scope="session")
def tiny_wav2vec2_base(tiny_ssl_folders):
    return tiny_ssl_folders("wav2vec2-base")


@pytest.fixture(scope="session")
def tiny_wav2vec2_large(tiny_ssl_folders):
    return tiny_ssl_folders("wav2vec2-large")
