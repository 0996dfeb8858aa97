"""Every self-supervised family step 2 loads (wav2vec2, HuBERT, WavLM, data2vec-audio, in each
normalisation variant: conftest.TINY_SSL) goes through the same padding-invariant all-layer
pooling: tiny random models saved and loaded back through from_pretrained, checked against the
model's own forward pass on each clip alone, with the family facts in the metadata."""

import json

import numpy as np
import pytest
import torch
from audio_factory import write_asvspoof_layout
from conftest import TINY_SSL
from test_ssl_embed import CLIP_LENGTHS, make_clips

from deepfake_pipeline.cli.features import main as features
from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.features.ssl_embed import (
    embed_waveforms,
    frame_counts,
    frame_hidden_state,
    normalise_like_feature_extractor,
)
from deepfake_pipeline.features.ssl_loading import RANDOM_ARCHS, ModelLoadError, load_model, random_config
from deepfake_pipeline.formats.feature_files import model_tag


@pytest.fixture(scope="module", params=list(TINY_SSL))
def family(request, tiny_ssl_folders):
    """(name, folder, loaded model) for each tiny model."""
    folder = tiny_ssl_folders(request.param)
    return request.param, folder, load_model(str(folder))


def own_hidden_states(folder, clip):
    """The textbook computation, independent of ssl_embed: the saved feature extractor prepares
    the clip alone (no padding), transformers' AutoModel returns every hidden state."""
    from transformers import AutoModel, Wav2Vec2FeatureExtractor

    extractor = Wav2Vec2FeatureExtractor.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    inputs = extractor(clip, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        output = model(inputs.input_values, output_hidden_states=True)
    return output.hidden_states, output.last_hidden_state


def test_embedding_is_the_same_alone_or_in_a_padded_batch(family):
    _, _, loaded = family
    clips = make_clips(CLIP_LENGTHS)
    together = embed_waveforms(loaded, clips, batch_seconds=100.0)
    alone = np.stack([embed_waveforms(loaded, [clip])[0] for clip in clips])
    assert together.shape == (len(clips), 4, 32)
    np.testing.assert_allclose(together, alone, atol=1e-4, rtol=0)


def test_each_layer_is_the_mean_of_the_models_own_hidden_state(family):
    """Pooled in a padded batch, layer i equals the mean over frames of output_hidden_states[i]
    of the clip alone, for every layer."""
    _, folder, loaded = family
    clips = make_clips(CLIP_LENGTHS, seed=1)
    embeddings = embed_waveforms(loaded, clips, batch_seconds=100.0)
    for clip, embedding in zip(clips, embeddings, strict=True):
        hidden_states, _ = own_hidden_states(folder, clip)
        assert len(hidden_states) == loaded.num_layers == 4
        assert hidden_states[0].shape[1] == frame_counts(loaded, [len(clip)])[0]
        expected = np.stack([h[0].mean(dim=0).numpy() for h in hidden_states])
        np.testing.assert_allclose(embedding, expected, atol=1e-4, rtol=0)


def test_skipping_upper_layers_and_the_frame_cache_pass_change_nothing(family):
    """WavLM's relative position bias is made by layer 1 and passed on: skipping the layers above
    the highest one asked for, or stopping there for step 4's frame cache, must keep it."""
    _, _, loaded = family
    clips = make_clips([16000, 9000], seed=3)
    everything = embed_waveforms(loaded, clips, batch_seconds=100.0)
    for layers in ([1], [0], [2, 1]):
        np.testing.assert_allclose(
            embed_waveforms(loaded, clips, layers=layers, batch_seconds=100.0), everything[:, layers], atol=1e-5, rtol=0
        )
    for layer in (0, 1, 2):
        inputs = torch.from_numpy(normalise_like_feature_extractor(loaded, clips[0]))[None]
        with torch.no_grad():
            frames = frame_hidden_state(loaded.model, inputs, layer)
        np.testing.assert_allclose(frames[0].mean(dim=0).numpy(), everything[0, layer], atol=1e-5, rtol=0)
    assert len(loaded.model.encoder.layers) == 3  # restored afterwards


def test_facts_say_what_each_family_is_and_the_model_agrees(family):
    name, folder, loaded = family
    model_type, large, extra = TINY_SSL[name]
    facts = loaded.facts
    pre_norm = bool(large)
    assert facts["family"] == model_type and loaded.arch.startswith(model_type + "-3L-32d-")
    assert facts["feature_encoder_norm"] == ("group" if large is False else "layer")
    assert facts["transformer_norm"] == ("pre-norm" if pre_norm else "post-norm")
    assert ("relative position bias" in facts["positional_embedding"]) == (model_type == "wavlm")
    assert ("batch norm" in facts["positional_embedding"]) == bool(extra.get("conv_pos_batch_norm"))
    assert facts["input_normalised"] is True
    # What hidden state 0 is, checked on the model: after the encoder's layer norm (weight 1,
    # bias 0 at initialisation) in post-norm models, every frame has mean 0 and variance 1.
    hidden_states, last = own_hidden_states(folder, make_clips([16000], seed=4)[0])
    frames = hidden_states[0][0]
    normalised = bool(
        torch.allclose(frames.mean(-1), torch.zeros(len(frames)), atol=1e-4)
        and torch.allclose(frames.std(-1, unbiased=False), torch.ones(len(frames)), atol=1e-2)
    )
    assert normalised == (not pre_norm)
    assert ("encoder layer norm" in facts["hidden_state_0"]) == (not pre_norm)
    # ...and the last one: last_hidden_state itself in post-norm models, the input of the final
    # layer norm in pre-norm ones
    assert torch.allclose(hidden_states[-1], last, atol=1e-6) == (not pre_norm)
    assert ("before the encoder's final layer norm" in facts["hidden_state_last"]) == pre_norm


def test_positional_convolutions_would_leak_padding_without_the_per_clip_guard(tiny_ssl_folders):
    """Why the positional embedding runs clip by clip: data2vec-audio's stack of convolutions
    carries non-zero values from past a clip's end into its last frames, even though its
    layer-normalised CNN is safe and the attention mask hides the padded frames."""
    loaded = load_model(str(tiny_ssl_folders("data2vec-audio")))
    short, long = make_clips([8000, 24000], seed=7)
    batch = np.zeros((2, len(long)), dtype=np.float32)
    batch[0, : len(short)] = normalise_like_feature_extractor(loaded, short)
    batch[1] = normalise_like_feature_extractor(loaded, long)
    mask = torch.ones(batch.shape, dtype=torch.long)
    mask[0, len(short) :] = 0
    with torch.no_grad():
        plain = loaded.model(torch.from_numpy(batch), attention_mask=mask, output_hidden_states=True)
    frames = int(frame_counts(loaded, [len(short)])[0])
    alone = embed_waveforms(loaded, [short])[0]
    assert np.abs(plain.hidden_states[0][0, :frames].mean(0).numpy() - alone[0]).max() > 1e-3
    np.testing.assert_allclose(embed_waveforms(loaded, [short, long], batch_seconds=100.0)[0], alone, atol=1e-4)


def test_the_facts_travel_in_the_embeddings_metadata(tiny_ssl_folders, tmp_path):
    root, interim, processed = tmp_path / "raw", tmp_path / "interim", tmp_path / "processed"
    write_asvspoof_layout(root, splits=("dev",), per_split=6)
    assert (
        preprocess(
            [
                "--corpus",
                "asvspoof2019",
                "--root",
                str(root),
                "--splits",
                "dev",
                "--interim-dir",
                str(interim),
                "--jobs",
                "1",
            ]
        )
        == 0
    )
    model = str(tiny_ssl_folders("wavlm-large"))
    assert (
        features(
            [
                "--splits",
                "asvspoof2019_dev",
                "--interim-dir",
                str(interim),
                "--processed-dir",
                str(processed),
                "--jobs",
                "1",
                "--what",
                "embeddings",
                "--model",
                model,
            ]
        )
        == 0
    )
    meta_path = processed / "asvspoof2019_dev" / "embeddings" / f"{model_tag(model)}.json"
    meta = json.loads(meta_path.read_text())
    facts = load_model(model).facts
    assert {key: meta[key] for key in facts} == facts
    assert meta["family"] == "wavlm" and meta["transformer_norm"] == "pre-norm"


@pytest.mark.parametrize("family_name", ["hubert", "wavlm", "data2vec-audio"])
def test_random_models_of_each_family(family_name):
    tiny = load_model(f"random:{family_name}-tiny")
    assert tiny.untrained and tiny.facts["family"] == family_name and (tiny.num_layers, tiny.dim) == (4, 32)
    assert np.isfinite(embed_waveforms(tiny, make_clips([8000, 5000]), batch_seconds=100.0)).all()
    # the base shapes are the families' published base models (config only: building is slow)
    base = random_config(f"{family_name}-base")
    assert (base.model_type, base.num_hidden_layers, base.hidden_size) == (family_name, 12, 768)
    assert not getattr(base, "do_stable_layer_norm", False)
    assert {"base", "large", "tiny", f"{family_name}-base", f"{family_name}-tiny"} <= set(RANDOM_ARCHS)


def test_a_checkpoint_of_another_family_is_refused(tmp_path):
    from transformers import Wav2Vec2ConformerConfig, Wav2Vec2ConformerModel

    config = Wav2Vec2ConformerConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16, conv_dim=(8,) * 7
    )
    Wav2Vec2ConformerModel(config).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="'wav2vec2-conformer' model.*hubert, wavlm, data2vec-audio"):
        load_model(str(tmp_path))
