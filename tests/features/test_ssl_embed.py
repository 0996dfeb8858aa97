"""Frozen SSL embeddings on wav2vec2: loading, batching, layer subsets, precision, errors that say
what to do. The padding invariance and the pooling are checked for every family (wav2vec2 base and
large among them) in test_ssl_families.py."""

import re
import shutil
import socket
import warnings

import numpy as np
import pytest
import torch

from deepfake_pipeline.features.ssl_embed import (
    MIN_SAMPLES,
    embed_waveforms,
    frame_counts,
    normalise_like_feature_extractor,
    plan_batches,
    waveform_too_short,
)
from deepfake_pipeline.features.ssl_loading import RANDOM_ARCHS, ModelLoadError, load_model, native_bf16_support

# Lengths chosen so a batch mixes long, short and equal-length clips (two of 30000 samples).
CLIP_LENGTHS = [12000, 30000, 7000, 30000, 20000, 401]
FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def make_clips(lengths, seed=0):
    rng = np.random.default_rng(seed)
    clips = []
    for n in lengths:
        t = np.arange(n) / 16000
        # Speech-like enough to drive the model: a tone with noise, a DC offset and a level
        # that differs per clip, so per-clip normalisation matters.
        tone = np.sin(2 * np.pi * rng.uniform(100, 400) * t)
        clip = rng.uniform(0.05, 0.5) * (tone + 0.3 * rng.standard_normal(n)) + rng.uniform(-0.1, 0.1)
        clips.append(clip.astype(np.float32))
    return clips


@pytest.fixture(scope="module")
def loaded_models(tiny_wav2vec2_base, tiny_wav2vec2_large):
    return {
        "base": load_model(str(tiny_wav2vec2_base)),
        "large": load_model(str(tiny_wav2vec2_large)),
    }


def test_group_norm_encoder_would_be_changed_by_padding_without_the_per_clip_guard(loaded_models):
    """Why the guard exists: the same padded batch, attention mask and all, through the plain
    forward pass gives the short clip a different embedding."""
    loaded = loaded_models["base"]
    short, long = make_clips([8000, 24000], seed=7)
    batch = np.zeros((2, len(long)), dtype=np.float32)
    batch[0, : len(short)] = normalise_like_feature_extractor(loaded, short)
    batch[1] = normalise_like_feature_extractor(loaded, long)
    mask = torch.ones(batch.shape, dtype=torch.long)
    mask[0, len(short) :] = 0
    with torch.no_grad():
        plain = loaded.model(torch.from_numpy(batch), attention_mask=mask, output_hidden_states=True)
    frames = int(frame_counts(loaded, [len(short)])[0])
    plain_short = plain.hidden_states[-1][0, :frames].mean(0).numpy()
    guarded_short = embed_waveforms(loaded, [short, long], batch_seconds=100.0)[0, -1]
    assert np.abs(plain_short - guarded_short).max() > 1e-3
    np.testing.assert_allclose(guarded_short, embed_waveforms(loaded, [short])[0, -1], atol=1e-4, rtol=0)


def test_output_follows_the_input_order(loaded_models):
    loaded = loaded_models["large"]
    clips = make_clips(CLIP_LENGTHS, seed=2)
    forward = embed_waveforms(loaded, clips)
    backward = embed_waveforms(loaded, clips[::-1])
    np.testing.assert_allclose(backward[::-1], forward, atol=1e-4, rtol=0)
    # different clips really give different embeddings, so the comparison above means something
    assert np.abs(forward[0] - forward[1]).max() > 1e-2


@pytest.mark.parametrize("arch", ["base", "large"])
def test_layer_subset_selects_those_layers_in_the_order_asked(loaded_models, arch):
    loaded = loaded_models[arch]
    clips = make_clips([16000, 9000], seed=3)
    everything = embed_waveforms(loaded, clips)
    subset = embed_waveforms(loaded, clips, layers=[3, 0])
    np.testing.assert_array_equal(subset, everything[:, [3, 0]])
    # lower layers only: the layers above are skipped, which must not change what is kept
    np.testing.assert_allclose(embed_waveforms(loaded, clips, layers=[1, 2]), everything[:, [1, 2]], atol=1e-5, rtol=0)
    np.testing.assert_allclose(embed_waveforms(loaded, clips, layers=[0]), everything[:, [0]], atol=1e-5, rtol=0)
    assert len(loaded.model.encoder.layers) == 3  # restored afterwards
    for bad in ([4], [-1], [1, 1], []):
        with pytest.raises(ValueError, match="layers must be"):
            embed_waveforms(loaded, clips, layers=bad)


def test_input_scale_does_not_matter_when_the_model_normalises(loaded_models):
    loaded = loaded_models["large"]
    clip = make_clips([16000], seed=4)[0]
    assert loaded.do_normalize
    np.testing.assert_allclose(
        embed_waveforms(loaded, [clip]), embed_waveforms(loaded, [clip * 7.0 + 0.2]), atol=1e-4, rtol=0
    )


def test_do_normalize_comes_from_the_feature_extractor_config(tiny_wav2vec2_large, tmp_path):
    from transformers import Wav2Vec2FeatureExtractor

    folder = tmp_path / "no_normalise"
    shutil.copytree(tiny_wav2vec2_large, folder)
    Wav2Vec2FeatureExtractor(do_normalize=False, return_attention_mask=True).save_pretrained(folder)
    loaded = load_model(str(folder))
    assert not loaded.do_normalize
    clip = make_clips([16000], seed=5)[0]
    # a DC offset reaches the model when nothing removes it
    assert np.abs(embed_waveforms(loaded, [clip]) - embed_waveforms(loaded, [clip + 0.3])).max() > 1e-3

    (folder / "preprocessor_config.json").unlink()
    assert load_model(str(folder)).do_normalize  # absent config: the extractor's default


def test_minimum_length(loaded_models):
    assert waveform_too_short(MIN_SAMPLES - 1)
    assert not waveform_too_short(MIN_SAMPLES)
    loaded = loaded_models["base"]
    assert frame_counts(loaded, [MIN_SAMPLES, 16000]).tolist() == [1, 49]
    clips = make_clips([MIN_SAMPLES, MIN_SAMPLES - 1])
    assert np.all(np.isfinite(embed_waveforms(loaded, clips[:1])))
    with pytest.raises(ValueError, match="waveform 1 has 399 samples"):
        embed_waveforms(loaded, clips)


def test_empty_input_gives_an_empty_array(loaded_models):
    loaded = loaded_models["base"]
    assert embed_waveforms(loaded, []).shape == (0, loaded.num_layers, loaded.dim)


def test_plan_batches_covers_every_clip_once_within_the_budget():
    lengths = [16000, 48000, 16000, 8000, 48000, 30000, 16000]
    batches = plan_batches(lengths, batch_seconds=6.0)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert max(lengths[i] for i in batch) * len(batch) <= 6.0 * 16000
    assert batches == [[1, 4], [5, 0, 2], [6, 3]]  # longest first
    assert plan_batches([48000, 16000], batch_seconds=1.0) == [[0], [1]]  # too long: alone
    assert plan_batches(lengths, batch_seconds=0.0) == [[1], [4], [5], [0], [2], [6], [3]]


def test_random_models_are_untrained_seeded_and_frozen():
    first = load_model("random:tiny")
    second = load_model("random:tiny")
    assert first.untrained and first.revision is None and first.spec == "random:tiny"
    assert (first.num_layers, first.dim) == (4, 32)
    assert first.model.config.feat_extract_norm == "group" and not first.model.training
    assert not any(p.requires_grad for p in first.model.parameters())
    for (name, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize(
    ("arch", "layers", "dim", "norm", "stable"),
    [("base", 13, 768, "group", False), ("large", 25, 1024, "layer", True)],
)
def test_random_architectures_have_the_published_shapes(monkeypatch, arch, layers, dim, norm, stable):
    from deepfake_pipeline.features import ssl_loading as wav2vec_loading

    # Only the configuration is checked: building XLS-R's 300M weights takes seconds.
    config = wav2vec_loading.random_config(arch)
    assert (config.num_hidden_layers + 1, config.hidden_size) == (layers, dim)
    assert (config.feat_extract_norm, config.do_stable_layer_norm) == (norm, stable)
    assert config.conv_bias == stable


def test_unknown_random_arch_lists_the_known_ones():
    with pytest.raises(ModelLoadError) as caught:
        load_model("random:nonsense")
    for arch in RANDOM_ARCHS:
        assert f"random:{arch}" in str(caught.value)


def test_missing_local_folder_is_reported(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(str(tmp_path / "no_such_model"))
    with pytest.raises(ModelLoadError, match="not a usable model folder"):
        load_model(str(tmp_path))  # exists, but holds no model
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="not a usable model folder"):
        load_model(str(tmp_path))  # a config but no weights


@pytest.fixture
def offline_hub(monkeypatch, tmp_path):
    """An empty Hugging Face cache in offline mode; any network connection fails the test."""
    from huggingface_hub import constants

    cache = tmp_path / "hf_cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))

    def no_network(*args, **kwargs):
        raise AssertionError("the test attempted a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    return cache


def test_offline_missing_weights_say_how_to_supply_them(offline_hub):
    with pytest.raises(ModelLoadError) as caught:
        load_model("nonexistent-org/nonexistent-model-xyz")
    message = str(caught.value)
    assert "hf download nonexistent-org/nonexistent-model-xyz" in message
    assert "--model /path/to/folder" in message
    assert "HF_HOME" in message


def test_without_network_a_hub_id_fails_at_once_without_retries(tmp_path, monkeypatch):
    """Offline mode not set and no network: one short probe says so and the how-to message comes
    at once; the hub client's download (and its retries) is never started."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    probes = []

    def refused(address, timeout=None):
        probes.append((address, timeout))
        raise OSError("network is unreachable")

    def no_download(*args, **kwargs):
        raise AssertionError("the hub client tried a connection")

    monkeypatch.setattr(socket, "create_connection", refused)
    monkeypatch.setattr(socket.socket, "connect", no_download)
    with pytest.raises(ModelLoadError) as caught:
        load_model("some-org/some-model")
    assert len(probes) == 1 and probes[0][1] <= 5
    message = str(caught.value)
    assert "cannot be reached" in message and "hf download some-org/some-model" in message


def test_hub_id_loads_from_the_cache_with_its_commit(offline_hub, tiny_wav2vec2_large):
    repo = offline_hub / "models--test-org--tiny-w2v2"
    shutil.copytree(tiny_wav2vec2_large, repo / "snapshots" / FAKE_COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(FAKE_COMMIT)
    loaded = load_model("test-org/tiny-w2v2")
    assert loaded.revision == FAKE_COMMIT
    assert not loaded.untrained
    assert loaded.arch == "wav2vec2-3L-32d-layernorm"


def test_bf16_is_refused_without_native_support():
    native, reason = native_bf16_support(torch.device("cpu"))
    if native:
        pytest.skip(f"this CPU runs bf16 natively ({reason})")
    with pytest.raises(ModelLoadError, match="--precision float32"):
        load_model("random:tiny", precision="bfloat16")


@pytest.mark.parametrize("bf16_mode", ["autocast", "weights"])
def test_bf16_embeddings_stay_close_to_float32(loaded_models, tiny_wav2vec2_large, bf16_mode):
    # Emulated bf16 rounds exactly as native bf16 does, so the numbers are checked on any CPU.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bf16 = load_model(str(tiny_wav2vec2_large), precision="bfloat16", bf16_mode=bf16_mode, allow_emulated_bf16=True)
    clips = make_clips(CLIP_LENGTHS[:4], seed=6)
    reference = embed_waveforms(loaded_models["large"], clips)
    approximate = embed_waveforms(bf16, clips)
    assert approximate.dtype == np.float32
    relative = np.linalg.norm(approximate - reference, axis=-1) / np.linalg.norm(reference, axis=-1)
    print(
        f"bf16 {bf16_mode}: relative difference per clip and layer max {relative.max():.4f} mean {relative.mean():.4f}"
    )
    assert relative.max() < 0.05
    assert relative.max() > 0  # bf16 really ran


def test_a_model_first_run_on_low_layers_still_gives_every_layer_later():
    """transformers 5 installs its hidden-state hooks on the first forward pass: a first pass that
    skipped the upper layers (only layer 0 asked for, or step 4's frame cache) must not leave the
    model unable to return them afterwards."""
    clip = make_clips([16000], seed=3)
    fresh = embed_waveforms(load_model("random:tiny"), clip)
    reused = load_model("random:tiny")
    embed_waveforms(reused, clip, layers=[0])
    np.testing.assert_allclose(embed_waveforms(reused, clip), fresh, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", ["base", "large"])
def test_embedding_is_the_mean_over_frames_of_the_models_own_hidden_states(
    loaded_models, arch, tiny_wav2vec2_base, tiny_wav2vec2_large
):
    """Checked against transformers alone: the saved feature extractor's input values, the plain
    forward pass with every hidden state, and numpy's mean over each clip's own frames; clips
    alone and padded together (32 s of audio per pass) both give it."""
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    folder = {"base": tiny_wav2vec2_base, "large": tiny_wav2vec2_large}[arch]
    extractor = Wav2Vec2FeatureExtractor.from_pretrained(folder)
    model = Wav2Vec2Model.from_pretrained(folder).eval()
    clips = make_clips([16000, 7000, 12345], seed=5)
    expected = []
    for clip in clips:
        inputs = extractor(clip, sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            states = model(inputs.input_values, output_hidden_states=True).hidden_states
        expected.append(np.stack([s[0].numpy().astype(np.float64).mean(axis=0) for s in states]))
    loaded = loaded_models[arch]
    for batch_seconds in (0, 32):
        got = embed_waveforms(loaded, clips, batch_seconds=batch_seconds)
        np.testing.assert_allclose(got, np.stack(expected), atol=1e-4, rtol=1e-4)


def test_padded_batches_follow_the_batch_plan(loaded_models):
    """One forward pass per clip with batch_seconds=0, one padded pass for all of them when they
    fit, counted on the model's own forward."""
    loaded = loaded_models["base"]
    clips = make_clips([16000, 7000, 12000], seed=6)
    shapes = []
    handle = loaded.model.register_forward_pre_hook(lambda module, args: shapes.append(tuple(args[0].shape)))
    try:
        embed_waveforms(loaded, clips, batch_seconds=0)
        assert shapes == [(1, 16000), (1, 12000), (1, 7000)]  # longest first
        shapes.clear()
        embed_waveforms(loaded, clips, batch_seconds=10)
        assert shapes == [(3, 16000)]
        shapes.clear()
        embed_waveforms(loaded, clips)  # the default: 32 s
        assert shapes == [(3, 16000)]
    finally:
        handle.remove()


def test_layer_subset_and_waveform_refusals_are_worded_whole(loaded_models):
    loaded = loaded_models["base"]
    n = loaded.num_layers
    for layers in ([n], [-1], [], [1, 1]):
        with pytest.raises(
            ValueError,
            match=rf"^layers must be distinct indices in 0\.\.{n - 1} for "
            rf"{re.escape(loaded.spec)} \(0 = input of transformer layer 1, "
            rf"i = output of transformer layer i\); got {re.escape(str(layers))}$",
        ):
            embed_waveforms(loaded, make_clips([16000]), layers=layers)
    good = make_clips([16000])[0]
    with pytest.raises(ValueError, match=r"^waveform 1 has shape \(2, 8000\); expected 1-D mono samples$"):
        embed_waveforms(loaded, [good, good.reshape(2, 8000)])
    with pytest.raises(
        ValueError,
        match=rf"^waveform 0 has 399 samples, fewer than the {MIN_SAMPLES} the model "
        r"needs for one frame; filter clips with waveform_too_short\(\) first$",
    ):
        embed_waveforms(loaded, [good[:399]])
    bad = good.copy()
    bad[5] = np.inf
    with pytest.raises(ValueError, match=r"^waveform 1 contains NaN or infinite samples$"):
        embed_waveforms(loaded, [good, bad])


def test_non_finite_embeddings_are_refused_by_name(tiny_wav2vec2_base):
    loaded = load_model(str(tiny_wav2vec2_base))
    with torch.no_grad():
        next(loaded.model.encoder.layers[0].parameters()).fill_(float("nan"))
    with pytest.raises(
        FloatingPointError,
        match=rf"^{re.escape(loaded.spec)} produced non-finite embeddings "
        r"\(float32\)$",
    ):
        embed_waveforms(loaded, make_clips([16000]), layers=[1])
