"""Mean-pooled hidden states of every layer of a frozen self-supervised speech model (any family
of ``ssl_families``: wav2vec2 / XLS-R, HuBERT, WavLM, data2vec-audio), for many clips at once.

Padding never changes an embedding: each clip gets what the model computes for it alone.
- each clip is normalised (zero mean, unit variance) over its own samples only;
- a group-normalised CNN feature encoder (wav2vec2-base, HuBERT base, WavLM base) normalises
  each channel over the whole time axis, so padding would leak into every frame; and a stack of
  positional convolutions (data2vec-audio) or a batch norm before the convolution (some HuBERTs)
  would carry non-zero values from past the clip's end into its last frames. Two padding paths
  guard both, with the same embeddings (within float32 rounding) and different speeds:
  ``"clip-by-clip"`` runs the CNN and the positional embedding on each clip's own samples and
  frames, inside the batched forward pass; ``"batched"`` runs them on the whole padded batch with
  a masked group norm and padded frames zeroed before each positional convolution
  (``ssl_masked``). :func:`default_padding_path` picks one per device;
- the transformer runs on the zero-padded batch of frames with an attention mask, and each clip
  is pooled over its own frames only. WavLM's relative position bias depends on frame distances
  only, so the padded batch gives each clip the bias it has alone.
Models whose feature extractor asks for no attention mask (wav2vec2-base style) were trained on
unpadded clips; with either guard the mask only hides padding from the transformer, so they too
get exactly their clip-alone result.
Clips are sorted by length inside the call so batches waste little padding; the output is in the
input order.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from deepfake_pipeline.features.prefetch import prefetched
from deepfake_pipeline.features.ssl_batches import HostBatch, host_batch
from deepfake_pipeline.features.ssl_loading import LoadedModel
from deepfake_pipeline.features.ssl_masked import batched_exact
from deepfake_pipeline.features.ssl_padding import PADDING_PATHS, default_padding_path
from deepfake_pipeline.features.ssl_pooling import pool_hidden_states
from deepfake_pipeline.formats.wavestore import SAMPLE_RATE

# The CNN feature encoder's receptive field: shorter clips give no frame at all.
MIN_SAMPLES = 400
# Padded audio-seconds per forward pass. On an idle CPU batching gains ~5-10% (one clip's
# matrices already run near the matmul peak); on a busy one it gains 2x and more, because a few
# large parallel regions suffer less than many small ones when a thread is descheduled
# (bench/bench_embeddings.py). Sorted clips of a few hundred waste ~2% on padding at 32 s.
# Memory: hidden states of all layers for 32 s are ~25 x 50 x 1024 x 4 B x 32 = 160 MB.
DEFAULT_BATCH_SECONDS = 32.0


def waveform_too_short(num_samples: int) -> bool:
    """True when a clip is shorter than the feature encoder's receptive field (400 samples,
    25 ms at 16 kHz) and would give no frame to pool."""
    return num_samples < MIN_SAMPLES


def frame_counts(loaded: LoadedModel, num_samples: Sequence[int]) -> np.ndarray:
    """Frames the CNN feature encoder gives for clips of these lengths (about 50 per second).
    Read from the config's conv stack, so an adapter (which only shortens last_hidden_state)
    does not count."""
    frames = np.asarray(num_samples, dtype=np.int64)
    config: Any = loaded.model.config
    for kernel, stride in zip(config.conv_kernel, config.conv_stride, strict=True):
        frames = (frames - kernel) // stride + 1
    return frames


def normalise_like_feature_extractor(loaded: LoadedModel, waveform: np.ndarray) -> np.ndarray:
    """The model's expected input for one clip, using only that clip's samples: what
    Wav2Vec2FeatureExtractor does to a clip that is not padded."""
    from transformers import Wav2Vec2FeatureExtractor

    waveform = np.asarray(waveform, dtype=np.float32)
    if not loaded.do_normalize:
        return waveform
    return Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm([waveform], attention_mask=None)[0]  # type: ignore[arg-type]


def plan_batches(lengths: Sequence[int], batch_seconds: float) -> list[list[int]]:
    """Indices of the clips, longest first, cut into batches whose padded audio stays within
    ``batch_seconds`` (a longer clip runs alone)."""
    budget_samples = batch_seconds * SAMPLE_RATE
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for index in order:
        # sorted longest first, so a batch's first clip sets its padded length
        if batches and lengths[batches[-1][0]] * (len(batches[-1]) + 1) <= budget_samples:
            batches[-1].append(index)
        else:
            batches.append([index])
    return batches


def _check_layers(loaded: LoadedModel, layers: Sequence[int] | None) -> list[int]:
    if layers is None:
        return list(range(loaded.num_layers))
    layers = [int(layer) for layer in layers]
    bad = [layer for layer in layers if not 0 <= layer < loaded.num_layers]
    if bad or not layers or len(set(layers)) != len(layers):
        raise ValueError(
            f"layers must be distinct indices in 0..{loaded.num_layers - 1} for {loaded.spec} "
            f"(0 = input of transformer layer 1, i = output of transformer layer i); got {layers}"
        )
    return layers


def _check_waveforms(waveforms: Sequence[np.ndarray]) -> None:
    for position, waveform in enumerate(waveforms):
        if np.ndim(waveform) != 1:
            raise ValueError(f"waveform {position} has shape {np.shape(waveform)}; expected 1-D mono samples")
        if waveform_too_short(len(waveform)):
            raise ValueError(
                f"waveform {position} has {len(waveform)} samples, fewer than the {MIN_SAMPLES} the "
                "model needs for one frame; filter clips with waveform_too_short() first"
            )
        if not np.all(np.isfinite(waveform)):
            raise ValueError(f"waveform {position} contains NaN or infinite samples")


def _install_output_hooks(model) -> None:
    try:
        from transformers.utils.output_capturing import maybe_install_capturing_hooks
    except ImportError:  # transformers 4.x collects hidden states in the forward pass itself
        return
    maybe_install_capturing_hooks(model)


@contextlib.contextmanager
def _first_transformer_layers(model, count: int):
    """Run only the first ``count`` transformer layers: hidden state i depends on layers 1..i
    only, so layers above the highest one kept are skipped instead of computed and dropped.
    At least one layer runs: transformers records hidden state 0 as that layer's input.
    Swaps the layer list for the duration, so one model must not serve two threads at once."""
    all_layers = model.encoder.layers
    if count >= len(all_layers):
        yield
        return
    # transformers 5 records hidden states through hooks that it installs on the first forward
    # pass, on the layers present then: install them while every layer is there, or a model
    # first run on a shortened list would later return too few hidden states.
    _install_output_hooks(model)
    model.encoder.layers = torch.nn.ModuleList(list(all_layers)[:count])
    try:
        yield
    finally:
        model.encoder.layers = all_layers


def frame_hidden_state(model, input_values: torch.Tensor, layer: int) -> torch.Tensor:
    """Hidden state `layer` of one unpadded clip, frame by frame: (1, frames, dim). The same
    partial forward pass the pooled embeddings come from (transformer layers above `layer` are
    skipped); step 4's frame cache stores it so fine-tuning can start from there. `input_values`
    is the clip prepared as by normalise_like_feature_extractor, shape (1, samples)."""
    with _first_transformer_layers(model, max(layer, 1)):
        return model(input_values, output_hidden_states=True).hidden_states[layer]


class _ClipByClipFeatureEncoder(torch.nn.Module):
    """The model's CNN feature encoder applied to each clip of a padded batch on its own
    samples only, its frames then zero-padded to the batch's frame count."""

    def __init__(self, encoder: torch.nn.Module, lengths: list[int]):
        super().__init__()
        self.encoder = encoder
        self.lengths = lengths

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        per_clip = [self.encoder(input_values[row : row + 1, :length]) for row, length in enumerate(self.lengths)]
        longest = max(features.shape[-1] for features in per_clip)
        batch = per_clip[0].new_zeros((len(per_clip), per_clip[0].shape[1], longest))
        for row, features in enumerate(per_clip):
            batch[row, :, : features.shape[-1]] = features[0]
        return batch


class _ClipByClipPositionalEmbedding(torch.nn.Module):
    """The encoder's positional embedding applied to each clip's own frames only, zero past
    them (where the attention mask hides every frame anyway)."""

    def __init__(self, embedding: torch.nn.Module, frames: list[int]):
        super().__init__()
        self.embedding = embedding
        self.frames = frames

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(hidden_states)
        for row, count in enumerate(self.frames):
            out[row, :count] = self.embedding(hidden_states[row : row + 1, :count])[0]
        return out


@contextlib.contextmanager
def _clip_by_clip(model, lengths: list[int], frames: list[int]):
    """Run the CNN feature encoder and the positional embedding clip by clip inside the batched
    forward pass (see the module docstring for why each must never see padding); on CPU the
    convolutions measured faster per clip than batched anyway. The transformer, where batching
    pays, still runs on the padded batch with its attention mask. Swaps the two modules for the
    duration, so one model must not serve two threads at once."""
    encoder, position = model.feature_extractor, model.encoder.pos_conv_embed
    model.feature_extractor = _ClipByClipFeatureEncoder(encoder, lengths)
    model.encoder.pos_conv_embed = _ClipByClipPositionalEmbedding(position, frames)
    try:
        yield
    finally:
        model.feature_extractor = encoder
        model.encoder.pos_conv_embed = position


def _precision_context(loaded: LoadedModel):
    if loaded.precision == "bfloat16" and loaded.bf16_mode == "autocast":
        return torch.autocast(device_type=torch.device(loaded.device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _padding_guard(loaded: LoadedModel, path: str, lengths: list[int], frames: list[int]):
    guard = _clip_by_clip if path == "clip-by-clip" else batched_exact
    with guard(loaded.model, lengths, frames), warnings.catch_warnings():
        # WavLM passes a boolean padding mask beside its float position bias to torch's
        # attention, which warns on every padded batch; the two combine as intended.
        warnings.filterwarnings("ignore", message=".*mismatched key_padding_mask and attn_mask.*")
        yield


def _embed_batch(
    loaded: LoadedModel, batch: HostBatch, layers: list[int], num_frames: np.ndarray, path: str
) -> np.ndarray:
    """One forward pass over clips padded to the longest; (clips, layers, dim) float32."""
    model = loaded.model
    input_values, attention_mask = batch.to(loaded.device)
    if loaded.bf16_mode == "weights":
        input_values = input_values.to(torch.bfloat16)
    clip_guard: contextlib.AbstractContextManager = contextlib.nullcontext()
    if batch.padded:
        clip_guard = _padding_guard(loaded, path, batch.lengths, [int(n) for n in num_frames])

    with (
        torch.inference_mode(),
        _precision_context(loaded),
        _first_transformer_layers(model, max(*layers, 1)),
        clip_guard,
    ):
        hidden_states = model(input_values, attention_mask=attention_mask, output_hidden_states=True).hidden_states
        pooled = pool_hidden_states(hidden_states, layers, num_frames)
    return pooled.cpu().numpy()


def embed_waveforms(
    loaded: LoadedModel,
    waveforms: Sequence[np.ndarray],
    layers: Sequence[int] | None = None,
    batch_seconds: float | None = None,
    padding: str | None = None,
    background: bool | None = None,
) -> np.ndarray:
    """Mean-pooled hidden states, float32 ``(clips, len(layers), dim)`` in the input order.

    ``waveforms``: 1-D float arrays at 16 kHz, each at least ``MIN_SAMPLES`` long.
    ``batch_seconds``: padded audio per forward pass (0: one clip per pass).
    ``padding``: how a padded batch is kept exact, one of ``PADDING_PATHS`` (default:
    :func:`default_padding_path` for the model's device); both give the same embeddings.
    ``layers``: hidden-state indices to keep (default all): 0 is the transformer's input
    (feature projection + convolutional positional embedding, plus the encoder layer norm in
    post-norm models such as base; ``loaded.facts`` says which), i is the output of transformer
    layer i, as in transformers' ``output_hidden_states``. All come from one forward pass that stops
    at the highest layer kept, and each clip is pooled over its own frames only.
    ``background``: prepare the next batch in a worker thread (default: on cuda only).
    """
    layers = _check_layers(loaded, layers)
    _check_waveforms(waveforms)
    padding = default_padding_path(loaded.device) if padding is None else padding
    if padding not in PADDING_PATHS:
        raise ValueError(f"padding must be one of {', '.join(PADDING_PATHS)}; got {padding!r}")
    batch_seconds = DEFAULT_BATCH_SECONDS if batch_seconds is None else batch_seconds
    lengths = [len(x) for x in waveforms]
    all_frames = frame_counts(loaded, lengths)  # an empty int64 array for no clips
    result = np.empty((len(waveforms), len(layers), loaded.dim), dtype=np.float32)
    cuda = torch.device(loaded.device).type == "cuda"

    def prepare(batch: list[int]) -> HostBatch:
        return host_batch([normalise_like_feature_extractor(loaded, waveforms[i]) for i in batch], pin=cuda)

    # On cuda the next batch is normalised, padded and pinned while this one runs; on CPU the
    # thread would only take cycles from the model's own threads.
    with prefetched(plan_batches(lengths, batch_seconds), prepare, cuda if background is None else background) as ready:
        for batch, prepared in ready:
            result[batch] = _embed_batch(loaded, prepared, layers, all_frames[batch], padding)
    if not np.all(np.isfinite(result)):
        raise FloatingPointError(f"{loaded.spec} produced non-finite embeddings ({loaded.precision})")
    return result
