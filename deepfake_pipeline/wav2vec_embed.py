"""Mean-pooled hidden states of every layer of a frozen Wav2Vec2, for many clips at once.

Padding never changes an embedding:
- each clip is normalised (zero mean, unit variance) over its own samples only;
- a layer-normalised feature encoder (XLS-R, large models) gets zero padding plus an attention
  mask, and each clip is pooled over its own frames only, so the padded tail is invisible
  (its convolution frames are dropped, the transformer masks it and the positional convolution
  sees the zeros it would see at the clip's end anyway);
- a group-normalised feature encoder (wav2vec2-base) normalises each channel over the whole
  time axis, so padding would leak into every frame: such models are batched only across clips
  of identical length and otherwise run one clip at a time.
Clips are sorted by length inside the call so batches waste little padding; the output is in the
input order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch

from .wav2vec_loading import LoadedModel

SAMPLE_RATE = 16000
# The CNN feature encoder's receptive field: shorter clips give no frame at all.
MIN_SAMPLES = 400
# Padded audio-seconds per forward pass, by device. On CPU one clip's matrices already run near
# the matmul peak: batching measured no faster (bench/bench_embeddings.py), and the padding it
# adds is wasted work, so each clip runs alone. On a GPU batching is what fills the device;
# 64 s of audio keeps all layers' hidden states of a batch near 25 x 50 x 1024 x 4 B x 64 = 330 MB.
DEFAULT_BATCH_SECONDS = {"cpu": 0.0, "cuda": 64.0}


def waveform_too_short(num_samples: int) -> bool:
    """True when a clip is shorter than the feature encoder's receptive field (400 samples,
    25 ms at 16 kHz) and would give no frame to pool."""
    return num_samples < MIN_SAMPLES


def frame_counts(loaded: LoadedModel, num_samples: Sequence[int]) -> np.ndarray:
    """Frames the CNN feature encoder gives for clips of these lengths (about 50 per second)."""
    lengths = torch.as_tensor(np.asarray(num_samples, dtype=np.int64))
    return loaded.model._get_feat_extract_output_lengths(lengths).numpy().astype(np.int64)


def normalise_like_feature_extractor(loaded: LoadedModel, waveform: np.ndarray) -> np.ndarray:
    """The model's expected input for one clip, using only that clip's samples: what
    Wav2Vec2FeatureExtractor does to a clip that is not padded."""
    from transformers import Wav2Vec2FeatureExtractor

    waveform = np.asarray(waveform, dtype=np.float32)
    if not loaded.do_normalize:
        return waveform
    return Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm([waveform], attention_mask=None)[0]


def plan_batches(lengths: Sequence[int], group_norm_encoder: bool, batch_seconds: float) -> list[list[int]]:
    """Indices of the clips, longest first, cut into batches whose padded audio stays within
    ``batch_seconds``. With a group-normalised encoder a batch holds only equal-length clips."""
    budget_samples = batch_seconds * SAMPLE_RATE
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        if current:
            longest = lengths[current[0]]  # sorted longest first, so the head sets the padding
            fits = longest * (len(current) + 1) <= budget_samples
            same_length = lengths[index] == longest
            if fits and (same_length or not group_norm_encoder):
                current.append(index)
                continue
            batches.append(current)
        current = [index]
    if current:
        batches.append(current)
    return batches


def _check_layers(loaded: LoadedModel, layers: Sequence[int] | None) -> list[int]:
    if layers is None:
        return list(range(loaded.num_layers))
    layers = [int(layer) for layer in layers]
    bad = [layer for layer in layers if not 0 <= layer < loaded.num_layers]
    if bad or not layers or len(set(layers)) != len(layers):
        raise ValueError(
            f"layers must be distinct indices in 0..{loaded.num_layers - 1} for {loaded.spec} "
            f"(0 = transformer input, i = transformer layer i); got {layers}"
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
    model.encoder.layers = torch.nn.ModuleList(list(all_layers)[:count])
    try:
        yield
    finally:
        model.encoder.layers = all_layers


def _precision_context(loaded: LoadedModel):
    if loaded.precision == "bfloat16" and loaded.bf16_mode == "autocast":
        return torch.autocast(device_type=torch.device(loaded.device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _embed_batch(
    loaded: LoadedModel, inputs: list[np.ndarray], layers: list[int], num_frames: np.ndarray
) -> np.ndarray:
    """One forward pass over clips padded to the longest; (clips, layers, dim) float32."""
    model = loaded.model
    longest = max(len(x) for x in inputs)
    batch = np.zeros((len(inputs), longest), dtype=np.float32)
    for row, x in enumerate(inputs):
        batch[row, : len(x)] = x
    input_values = torch.from_numpy(batch).to(loaded.device)
    if loaded.bf16_mode == "weights":
        input_values = input_values.to(torch.bfloat16)
    padded = any(len(x) != longest for x in inputs)
    attention_mask = None
    if padded:
        if loaded.group_norm_encoder:  # plan_batches never does this; guard the invariant
            raise RuntimeError("a group-norm feature encoder must not see padding")
        mask = np.zeros((len(inputs), longest), dtype=np.int64)
        for row, x in enumerate(inputs):
            mask[row, : len(x)] = 1
        attention_mask = torch.from_numpy(mask).to(loaded.device)

    with torch.inference_mode(), _precision_context(loaded), _first_transformer_layers(model, max(*layers, 1)):
        hidden_states = model(input_values, attention_mask=attention_mask, output_hidden_states=True).hidden_states
        pooled = torch.empty((len(inputs), len(layers), loaded.dim), dtype=torch.float32)
        for column, layer in enumerate(layers):
            states = hidden_states[layer]
            for row, frames in enumerate(num_frames):
                pooled[row, column] = states[row, :frames].float().mean(dim=0).cpu()
    return pooled.numpy()


def embed_waveforms(
    loaded: LoadedModel,
    waveforms: Sequence[np.ndarray],
    layers: Sequence[int] | None = None,
    batch_seconds: float | None = None,
) -> np.ndarray:
    """Mean-pooled hidden states, float32 ``(clips, len(layers), dim)`` in the input order.

    ``waveforms``: 1-D float arrays at 16 kHz, each at least ``MIN_SAMPLES`` long.
    ``batch_seconds``: padded audio per forward pass; default by device (``DEFAULT_BATCH_SECONDS``).
    ``layers``: hidden-state indices to keep (default all): 0 is the transformer's input
    (feature projection + convolutional positional embedding, plus the encoder layer norm in
    post-norm models such as base), i is the output of transformer layer i, as in transformers'
    ``output_hidden_states``. All come from one forward pass that stops at the highest layer
    kept, and each clip is pooled over its own frames only.
    """
    layers = _check_layers(loaded, layers)
    _check_waveforms(waveforms)
    if batch_seconds is None:
        batch_seconds = DEFAULT_BATCH_SECONDS.get(torch.device(loaded.device).type, 0.0)
    lengths = [len(x) for x in waveforms]
    all_frames = frame_counts(loaded, lengths) if lengths else np.zeros(0, dtype=np.int64)
    result = np.empty((len(waveforms), len(layers), loaded.dim), dtype=np.float32)
    for batch in plan_batches(lengths, loaded.group_norm_encoder, batch_seconds):
        inputs = [normalise_like_feature_extractor(loaded, waveforms[i]) for i in batch]
        result[batch] = _embed_batch(loaded, inputs, layers, all_frames[batch])
    if not np.all(np.isfinite(result)):
        raise FloatingPointError(f"{loaded.spec} produced non-finite embeddings ({loaded.precision})")
    return result
