"""Length-bucketed padded batches: each a few clips of similar length whose padded audio
(longest clip x clips) stays within --batch-seconds, assembled on the host, and results that come
back in the input (manifest) order with each clip's own embedding."""

import numpy as np
import pytest
from test_ssl_embed import make_clips

from deepfake_pipeline.features.ssl_batches import host_batch
from deepfake_pipeline.features.ssl_embed import embed_waveforms
from deepfake_pipeline.features.ssl_loading import load_model

LENGTH_MIXES = {
    "spread": [16000, 7000, 12345, 401, 30000, 9000, 20000, 5000],
    "equal": [8000] * 6,
    "one long, many short": [60000, 3000, 3200, 2900, 4100, 3000],
    "one frame apart": [15999, 16000, 16001, 15680, 16320],
}
BUDGET_S = 2.5


def _greedy_batch_count(lengths, budget_samples):
    """Batches a longest-first walk opens: a clip joins the open batch while (batch's first,
    longest clip) x (clips + 1) fits, else opens the next one."""
    count, first, size = 0, None, 0
    for length in sorted(lengths, reverse=True):
        if first is not None and first * (size + 1) <= budget_samples:
            size += 1
        else:
            count, first, size = count + 1, length, 1
    return count


@pytest.mark.parametrize("padding", ["batched", "clip-by-clip"])
@pytest.mark.parametrize("mix", list(LENGTH_MIXES))
def test_buckets_keep_the_budget_and_each_clip_its_embedding_in_input_order(tiny_wav2vec2_base, mix, padding):
    loaded = load_model(str(tiny_wav2vec2_base))
    lengths = LENGTH_MIXES[mix]
    clips = make_clips(lengths, seed=len(mix))
    shapes = []
    handle = loaded.model.register_forward_pre_hook(lambda module, args: shapes.append(tuple(args[0].shape)))
    try:
        got = embed_waveforms(loaded, clips, batch_seconds=BUDGET_S, padding=padding)
    finally:
        handle.remove()
    budget = BUDGET_S * 16000
    assert sum(rows for rows, _ in shapes) == len(clips)
    assert all(rows * longest <= budget for rows, longest in shapes if rows > 1)  # a long clip alone may exceed it
    assert len(shapes) == _greedy_batch_count(lengths, budget)
    assert len(shapes) < len(clips)
    alone = np.concatenate([embed_waveforms(loaded, [clip], batch_seconds=0.0) for clip in clips])
    rel = np.linalg.norm(got - alone, axis=-1) / np.linalg.norm(alone, axis=-1)
    assert rel.max() < 1e-4


def test_a_host_batch_is_zero_past_each_clip_with_its_mask():
    clips = [np.arange(1, 6, dtype=np.float32), np.ones(3, dtype=np.float32)]
    batch = host_batch(clips)
    np.testing.assert_array_equal(batch.input_values.numpy(), [[1, 2, 3, 4, 5], [1, 1, 1, 0, 0]])
    assert batch.attention_mask is not None and batch.padded
    np.testing.assert_array_equal(batch.attention_mask.numpy(), [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    assert batch.lengths == [5, 3]
    same = host_batch([np.ones(4, dtype=np.float32)] * 2)
    assert same.attention_mask is None and not same.padded
