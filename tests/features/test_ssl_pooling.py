"""Pooling on the device: each clip of a padded batch averaged over its own frames, checked
against the very hidden states the batch's forward pass returned, pooled here in numpy."""

import numpy as np
import pytest
from test_ssl_embed import make_clips

from deepfake_pipeline.features.ssl_embed import embed_waveforms
from deepfake_pipeline.features.ssl_loading import load_model


def _frames(config, samples):
    for kernel, stride in zip(config.conv_kernel, config.conv_stride, strict=True):
        samples = (samples - kernel) // stride + 1
    return samples


def _captured_states(loaded):
    """Every forward pass's hidden states, as float64 numpy arrays."""
    seen = []

    def keep(module, args, kwargs, output):
        seen.append([s.float().numpy().astype(np.float64) for s in output.hidden_states])

    return seen, loaded.model.register_forward_hook(keep, with_kwargs=True)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("lengths", [[16000, 7000, 12345, 401], [9000, 9000], [20000]])
@pytest.mark.filterwarnings("ignore:bf16 is emulated")
def test_each_clip_is_pooled_over_its_own_frames_of_the_batch(tiny_wav2vec2_base, lengths, precision):
    loaded = load_model(str(tiny_wav2vec2_base), precision=precision, allow_emulated_bf16=True)
    clips = make_clips(lengths, seed=len(lengths))
    layers = [3, 0, 2]
    seen, handle = _captured_states(loaded)
    try:
        got = embed_waveforms(loaded, clips, layers=layers, batch_seconds=100.0, padding="batched")
    finally:
        handle.remove()
    assert len(seen) == 1  # all clips in one padded pass
    states = seen[0]
    # the batch holds the clips longest first (stable for equal lengths)
    order = sorted(range(len(clips)), key=lambda i: -lengths[i])
    for row, clip_index in enumerate(order):
        count = _frames(loaded.model.config, lengths[clip_index])
        expected = np.stack([states[layer][row, :count].mean(axis=0) for layer in layers])
        np.testing.assert_allclose(got[clip_index], expected, rtol=1e-5, atol=1e-6)
