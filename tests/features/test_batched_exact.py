"""The exact batched forward pass (padding="batched": ssl_masked) on every family's tiny model
(conftest.TINY_SSL) and several length mixes, checked against each clip run alone through the
model's own forward pass; and why its two patches are needed, part by part."""

import warnings

import numpy as np
import pytest
import torch
from conftest import TINY_SSL
from test_ssl_embed import CLIP_LENGTHS, make_clips

from deepfake_pipeline.features.ssl_embed import embed_waveforms, frame_counts
from deepfake_pipeline.features.ssl_loading import load_model
from deepfake_pipeline.features.ssl_masked import masked_group_norms, zeroed_padding_before_positional_convs
from deepfake_pipeline.features.ssl_padding import default_padding_path

# 16000 samples give 3199 first-layer frames and 49 frames; 15999 samples 3198 and 49 (one sample
# apart: the same frames, other group-norm statistics); 15680 samples 48 frames (one frame apart).
LENGTH_MIXES = {
    "equal lengths": [16000, 16000, 16000],
    "one long, many short": [48000, 401, 800, 1200, 2000, 3000, 4000],
    "one sample apart": [16000, 15999, 16001],
    "one frame apart": [16000, 15680, 16320],
    "mixed": CLIP_LENGTHS,
}
RELATIVE_TOLERANCE = 1e-4  # float32, as the padding tests of test_ssl_families.py


def with_trained_norms(loaded):
    """A freshly built norm has weight 1 and bias 0, and a BatchNorm maps 0 to 0 (mean 0,
    variance 1), so neither its affine parameters nor padding through it would show; give the
    CNN's group norm and the positional batch norm parameters and statistics of trained ones."""
    generator = torch.Generator().manual_seed(11)

    def draw(tensor, low):
        tensor.copy_(low + torch.rand(tensor.shape, generator=generator))

    norms = [m for m in loaded.model.feature_extractor.modules() if isinstance(m, torch.nn.GroupNorm)]
    batch_norm = getattr(loaded.model.encoder.pos_conv_embed, "batch_norm", None)
    with torch.no_grad():
        for norm in norms + ([batch_norm] if batch_norm is not None else []):
            draw(norm.weight, 0.5)
            draw(norm.bias, -0.5)
        if batch_norm is not None:
            draw(batch_norm.running_mean, -1)
            draw(batch_norm.running_var, 0.5)
    return loaded


@pytest.fixture(scope="module", params=list(TINY_SSL))
def family(request, tiny_ssl_folders):
    return request.param, with_trained_norms(load_model(str(tiny_ssl_folders(request.param))))


def alone(model, clip):
    """Every hidden state's mean over frames for one clip in its own forward pass: normalised by
    numpy over its own samples (Wav2Vec2FeatureExtractor's formula), no padding, no mask."""
    x = (clip - clip.mean()) / np.sqrt(clip.var() + 1e-7)
    with torch.no_grad():
        states = model(torch.from_numpy(x.astype(np.float32))[None], output_hidden_states=True).hidden_states
    return np.stack([s[0].double().mean(0).numpy() for s in states])


def relative(got, expected):
    return np.linalg.norm(got - expected, axis=-1) / np.linalg.norm(expected, axis=-1)


def padded_batch(clips):
    """The clips normalised each over its own samples, zero-padded to the longest, and the mask."""
    longest = max(len(c) for c in clips)
    batch = torch.zeros((len(clips), longest))
    mask = torch.zeros((len(clips), longest), dtype=torch.long)
    for row, clip in enumerate(clips):
        batch[row, : len(clip)] = torch.from_numpy((clip - clip.mean()) / np.sqrt(clip.var() + 1e-7))
        mask[row, : len(clip)] = 1
    return batch, mask


@pytest.mark.parametrize("mix", list(LENGTH_MIXES))
def test_batched_path_gives_each_clip_its_embedding_alone(family, mix):
    _, loaded = family
    clips = make_clips(LENGTH_MIXES[mix], seed=len(mix))
    got = embed_waveforms(loaded, clips, batch_seconds=100.0, padding="batched")
    expected = np.stack([alone(loaded.model, clip) for clip in clips])
    assert got.shape == expected.shape == (len(clips), 4, 32)
    assert relative(got, expected).max() < RELATIVE_TOLERANCE
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_both_paths_agree_and_the_batched_one_runs_the_cnn_once_per_batch(family):
    """The path asked for is the one that runs: clip by clip calls the first conv layer once per
    clip, the batched path once for the whole batch; the guards are gone afterwards."""
    _, loaded = family
    clips = make_clips(CLIP_LENGTHS, seed=5)
    model = loaded.model
    first_conv, norm = model.feature_extractor.conv_layers[0], model.feature_extractor.conv_layers[0].layer_norm
    calls = []
    handle = first_conv.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[0]))
    try:
        batched = embed_waveforms(loaded, clips, batch_seconds=100.0, padding="batched")
        assert calls == [len(clips)]
        calls.clear()
        clip_by_clip = embed_waveforms(loaded, clips, batch_seconds=100.0, padding="clip-by-clip")
        assert calls == [1] * len(clips)
    finally:
        handle.remove()
    assert relative(batched, clip_by_clip).max() < RELATIVE_TOLERANCE
    assert model.feature_extractor.conv_layers[0].layer_norm is norm
    assert not any(conv._forward_pre_hooks for conv in model.encoder.pos_conv_embed.modules())


def test_cnn_frames_of_each_clip_are_its_own_under_the_masked_group_norm(family):
    """Frame by frame: the CNN on a padded batch with the masked group norm gives each clip's
    valid frames exactly what the CNN gives the clip alone; without it only the group-norm
    encoders differ, so every other conv layer already sees only the clip's own samples."""
    name, loaded = family
    clips = make_clips([24000, 8000, 15999, 401], seed=9)
    batch, _ = padded_batch(clips)
    lengths = torch.tensor([len(c) for c in clips])
    encoder = loaded.model.feature_extractor
    with torch.no_grad():
        own = [encoder(batch[row : row + 1, : len(c)])[0] for row, c in enumerate(clips)]
        with masked_group_norms(loaded.model, lengths):
            masked = encoder(batch)
        plain = encoder(batch)
    plain_gap = 0.0
    for row, features in enumerate(own):
        frames = features.shape[-1]
        assert frames == frame_counts(loaded, [len(clips[row])])[0]
        torch.testing.assert_close(masked[row, :, :frames], features, atol=1e-5, rtol=1e-4)
        plain_gap = max(plain_gap, (plain[row, :, :frames] - features).abs().max().item())
    group_norm = TINY_SSL[name][1] is False
    assert (plain_gap > 1e-2) == group_norm, plain_gap


def test_positional_convolutions_see_the_zeros_each_clip_sees_alone(family):
    """pos_conv_embed on a batch of frames zeroed past each clip (as transformers' encoder hands it
    over) equals each clip's own; without the hooks a batch norm before the convolution (trained
    statistics) and data2vec-audio's stack of convolutions leak, a single convolution does not."""
    name, loaded = family
    frames = [40, 7, 39, 1]
    generator = torch.Generator().manual_seed(3)
    states = torch.randn((len(frames), max(frames), loaded.dim), generator=generator)
    for row, count in enumerate(frames):
        states[row, count:] = 0
    position = loaded.model.encoder.pos_conv_embed
    with torch.no_grad():
        own = [position(states[row : row + 1, :count])[0] for row, count in enumerate(frames)]
        with zeroed_padding_before_positional_convs(loaded.model, torch.tensor(frames)):
            hooked = position(states)
        plain = position(states)
    plain_gap = 0.0
    for row, count in enumerate(frames):
        torch.testing.assert_close(hooked[row, :count], own[row], atol=1e-5, rtol=1e-4)
        plain_gap = max(plain_gap, (plain[row, :count] - own[row]).abs().max().item())
    leaks = TINY_SSL[name][0] == "data2vec-audio" or bool(TINY_SSL[name][2].get("conv_pos_batch_norm"))
    assert (plain_gap > 1e-3) == leaks, plain_gap


@pytest.mark.parametrize("name", ["wav2vec2-base", "hubert-base", "wavlm-base", "data2vec-audio", "hubert-large-bn"])
def test_the_plain_padded_batch_would_leak_where_the_guards_act(tiny_ssl_folders, name):
    """The same padded batch and attention mask through the unpatched model gives the short clip
    another embedding (group norm, positional convolution stack, trained batch norm); the batched
    path gives it its own."""
    loaded = with_trained_norms(load_model(str(tiny_ssl_folders(name))))
    clips = make_clips([8000, 24000], seed=7)
    batch, mask = padded_batch(clips)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # WavLM's mask warning, as in ssl_embed
        states = loaded.model(batch, attention_mask=mask, output_hidden_states=True).hidden_states
    frames = int(frame_counts(loaded, [len(clips[0])])[0])
    plain = np.stack([s[0, :frames].double().mean(0).numpy() for s in states])
    expected = alone(loaded.model, clips[0])
    assert relative(plain, expected).max() > 1e-2
    batched = embed_waveforms(loaded, clips, batch_seconds=100.0, padding="batched")[0]
    assert relative(batched, expected).max() < RELATIVE_TOLERANCE


@pytest.mark.parametrize("bf16_mode", ["autocast", "weights"])
def test_batched_path_under_bf16_stays_close_to_float32_alone(tiny_ssl_folders, bf16_mode):
    """The masked group norm keeps float32 statistics under autocast and with bf16 weights."""
    folder = str(tiny_ssl_folders("wav2vec2-base"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bf16 = load_model(folder, precision="bfloat16", bf16_mode=bf16_mode, allow_emulated_bf16=True)
    clips = make_clips([16000, 7000, 12000], seed=6)
    reference = np.stack([alone(load_model(folder).model, clip) for clip in clips])
    got = embed_waveforms(bf16, clips, batch_seconds=100.0, padding="batched")
    assert 0 < relative(got, reference).max() < 0.05


def test_padding_path_defaults_by_device_and_is_checked():
    assert default_padding_path("cpu") == "clip-by-clip"
    assert default_padding_path("cuda") == default_padding_path("cuda:1") == "batched"
    loaded = load_model("random:tiny")
    with pytest.raises(ValueError, match="padding must be one of clip-by-clip, batched; got 'masked'"):
        embed_waveforms(loaded, make_clips([16000]), padding="masked")
