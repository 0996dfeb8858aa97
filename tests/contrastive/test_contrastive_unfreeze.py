"""The cached path of partial fine-tuning: the hidden state entering the first unfrozen layer is
computed once, stored as float16 frames, and only the layers from there to the pooled one run.
It must give what the full model gives, and training must move only the unfrozen layers."""

import numpy as np
import pytest
import torch
from conftest import TINY_SSL
from contrastive_fixtures import make_split, one_torch_thread  # noqa: F401

from deepfake_pipeline.contrastive.frame_cache import FrameCache, FrameCacheError, build_frame_cache
from deepfake_pipeline.contrastive.head import ProjectionHead
from deepfake_pipeline.contrastive.loss import supcon_loss
from deepfake_pipeline.contrastive.model import ContrastiveModel, FrameSource
from deepfake_pipeline.contrastive.unfreeze import UnfrozenBlock, check_block, masked_mean
from deepfake_pipeline.features.ssl_embed import (
    embed_waveforms,
    frame_hidden_state,
    normalise_like_feature_extractor,
)
from deepfake_pipeline.features.ssl_loading import load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# float16 keeps 11 significant bits: a relative error of up to 5e-4 per cached value (about 1e-3
# on these O(1) hidden states), which the layers carry through to the pooled vector at that order.
FLOAT16_RTOL = 1e-3
FLOAT16_ATOL = 2e-3


def _model_input(loaded):
    return lambda waveform: torch.from_numpy(normalise_like_feature_extractor(loaded, waveform))[None]


@pytest.fixture(params=list(TINY_SSL))
def tiny_model(request, tiny_ssl_folders):
    """Each family (WavLM: its relative position bias must reach a block starting above layer 1)."""
    return load_model(str(tiny_ssl_folders(request.param)))


@pytest.fixture
def tiny_split(tmp_path):
    return make_split(tmp_path / "interim", "tiny_train", n_clips=7, seed=3)


@pytest.mark.parametrize("first,last,pooled", [(1, 1, 2), (2, 2, 3), (3, 3, 3)])
def test_cached_block_equals_full_model(tiny_model, tiny_split, tmp_path, first, last, pooled):
    cache = build_frame_cache(
        tiny_split, tiny_model, first, tmp_path / "frames", _model_input(tiny_model), clips_per_part=3
    )
    block = UnfrozenBlock(tiny_model.model, first, last, pooled).eval()
    waveforms = [tiny_split.waveform(i) for i in range(len(tiny_split))]
    # the full model, the way step 2 pools it
    expected = embed_waveforms(tiny_model, waveforms, layers=[pooled])[:, 0]
    # the whole split in one padded batch: the attention mask must hide each clip's padding
    with torch.no_grad():
        cached = block(*cache.batch(np.arange(len(cache)))).numpy()
    assert len(set(cache.lengths.tolist())) > 1, "the clips must differ in length to test padding"
    np.testing.assert_allclose(cached, expected, rtol=FLOAT16_RTOL, atol=FLOAT16_ATOL)
    # and not trivially: a different pooled layer gives a clearly different vector
    other = embed_waveforms(tiny_model, waveforms, layers=[pooled - 1])[:, 0]
    assert np.abs(other - expected).max() > 5 * FLOAT16_ATOL


def test_cache_without_float16_rounding_matches_to_float32_precision(tiny_model, tiny_split):
    """The same path in float32 end to end: any gap above float32 noise would be a logic error
    (mask, positional embedding, layer norm), not rounding."""
    first, pooled = 2, 3
    block = UnfrozenBlock(tiny_model.model, first, pooled, pooled).eval()
    prepare = _model_input(tiny_model)
    waveforms = [tiny_split.waveform(i) for i in range(len(tiny_split))]
    states = []
    with torch.no_grad():
        for waveform in waveforms:
            hidden = frame_hidden_state(tiny_model.model, prepare(waveform), first - 1)
            states.append(hidden[0])
        longest = max(len(s) for s in states)
        padded = torch.zeros(len(states), longest, tiny_model.dim)
        mask = torch.zeros(len(states), longest, dtype=torch.bool)
        for row, state in enumerate(states):
            padded[row, : len(state)] = state
            mask[row, : len(state)] = True
        cached = block(padded, mask).numpy()
    expected = embed_waveforms(tiny_model, waveforms, layers=[pooled])[:, 0]
    np.testing.assert_allclose(cached, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", [name for name, (_, large, _) in TINY_SSL.items() if large])
def test_final_norm_reproduces_last_hidden_state(tiny_ssl_folders, name, tiny_split):
    """Stable-layer-norm (pre-norm) models apply the encoder's layer norm after the last layer;
    pooled hidden states (step 2) exclude it, last_hidden_state includes it."""
    loaded = load_model(str(tiny_ssl_folders(name)))
    model = loaded.model
    waveform = tiny_split.waveform(0)
    inputs = _model_input(loaded)(waveform)
    with torch.no_grad():
        hidden, mask = frame_hidden_state(model, inputs, 1), None
        with_norm = UnfrozenBlock(model, 2, 3, 3, final_norm=True).eval()(hidden, mask)
        without = UnfrozenBlock(model, 2, 3, 3, final_norm=False).eval()(hidden, mask)
        full = model(inputs).last_hidden_state.mean(dim=1)
    torch.testing.assert_close(with_norm, full, rtol=1e-4, atol=1e-5)
    assert (with_norm - without).abs().max() > 1e-2


def test_training_step_moves_only_the_unfrozen_layers(tiny_model, tiny_split, tmp_path):
    first, last, pooled = 2, 2, 3
    cache = build_frame_cache(tiny_split, tiny_model, first, tmp_path / "frames", _model_input(tiny_model))
    model = tiny_model.model
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    torch.manual_seed(0)
    block = UnfrozenBlock(model, first, last, pooled)
    head = ProjectionHead(tiny_model.dim, hidden_dim=16, out_dim=8)
    trainable = ContrastiveModel(head, block).train()
    optimizer = torch.optim.SGD(trainable.parameter_groups(0.1, 0.1), lr=0.1)
    classes = torch.tensor(tiny_split.manifest["label"].to_numpy())
    loss = supcon_loss(trainable(FrameSource(cache).batch(np.arange(len(cache)))), classes)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    unfrozen_prefix = f"encoder.layers.{first - 1}."
    changed = [name for name, p in model.named_parameters() if not torch.equal(p, before[name])]
    assert changed, "the unfrozen layer did not move"
    assert all(name.startswith(unfrozen_prefix) for name in changed), changed
    unfrozen_weights = [name for name in before if name.startswith(unfrozen_prefix) and name.endswith("weight")]
    assert set(unfrozen_weights) <= set(changed)


def test_a_clip_projects_the_same_alone_and_in_padded_batches(tiny_model, tiny_split, tmp_path):
    """Step 4 projects every clip through the block in padded batches; a clip's projection (and
    so its score) must not depend on the clips padded beside it: within 1e-12, the tolerance of
    train.project's float64 pass. In float32 the padding's extra frames and the batch's size
    changed it by ~1e-7."""
    from deepfake_pipeline.contrastive.train import project

    cache = build_frame_cache(tiny_split, tiny_model, 2, tmp_path / "frames", _model_input(tiny_model))
    assert len(set(cache.lengths.tolist())) > 1, "the clips must differ in length to test padding"
    torch.manual_seed(0)
    model = ContrastiveModel(
        ProjectionHead(tiny_model.dim, hidden_dim=16, out_dim=8), UnfrozenBlock(tiny_model.model, 2, 2, 3)
    )
    source = FrameSource(cache)
    model.fit_standardiser(source, 4)
    alone = np.concatenate([project(model, _OneClip(source, i), 1) for i in range(len(source))])
    for batch_size in (2, 3, len(source)):
        np.testing.assert_allclose(project(model, source, batch_size), alone, rtol=0, atol=1e-12)
    assert next(model.parameters()).dtype == torch.float32, "projecting must leave the model as it was"


class _OneClip:
    def __init__(self, source, i):
        self.source, self.i = source, i

    def __len__(self):
        return 1

    def batch(self, indices):
        return self.source.batch(np.asarray([self.i])[np.asarray(indices)])


def test_block_bounds_are_checked(tiny_model):
    with pytest.raises(ValueError, match="1 <= first <= last <= pooled <= 3"):
        check_block(tiny_model.model, 2, 4, 4)
    with pytest.raises(ValueError):
        check_block(tiny_model.model, 3, 2, 3)


def test_cache_resumes_and_refuses_other_settings(tiny_model, tiny_split, tmp_path, tiny_wav2vec2_large):
    folder = tmp_path / "frames"
    prepare = _model_input(tiny_model)
    complete = build_frame_cache(tiny_split, tiny_model, 2, folder, prepare, clips_per_part=3)
    reference = [np.array(complete.frames(i)) for i in range(len(complete))]
    # a run killed after the first part: only whole parts remain, the rerun computes the rest
    for path in sorted(folder.glob("part_0000[12]*.npy")):
        path.unlink()
    with pytest.raises(FrameCacheError, match="incomplete"):
        FrameCache(folder)
    resumed = build_frame_cache(tiny_split, tiny_model, 2, folder, prepare, clips_per_part=3)
    for i in range(len(resumed)):
        assert np.array_equal(resumed.frames(i), reference[i])
    assert resumed.frames(0).dtype == np.float16
    with pytest.raises(FrameCacheError, match="input_of_layer"):
        build_frame_cache(tiny_split, tiny_model, 3, folder, prepare, clips_per_part=3)


def test_masked_mean_ignores_padding():
    hidden = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert masked_mean(hidden, torch.tensor([[True, True, False]])).item() == 2.0
