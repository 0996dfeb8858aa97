"""The exact batched forward pass: one padded batch through the whole model, in which each clip
still gets what the model computes for it alone (``ssl_embed``'s ``"batched"`` padding path).

Only two places in the supported families (``ssl_families``) let padding reach a clip's own
frames once the transformer has its attention mask; each is patched for the duration of a batch:

- the CNN feature encoder's group norm (``feat_extract_norm == "group"``: wav2vec2-base, HuBERT
  base, WavLM base) normalises each channel over the whole time axis. :class:`MaskedGroupNorm`
  takes its statistics over each clip's own frames only, with the module's eps and affine
  parameters. Every other conv layer is unnormalised, or layer-normalised per frame ("layer":
  XLS-R, large models, data2vec-audio), and has no padding of its own (stride, no pad), so a
  clip's valid frames there only ever see that clip's samples (tests/test_batched_exact.py checks
  it frame by frame against each clip alone).
- the positional convolutions. transformers (5.24: the post-norm and stable-layer-norm encoders
  of wav2vec2, HuBERT and WavLM, and data2vec-audio's) zero the padded frames before
  ``pos_conv_embed``, which makes a single convolution exact: past a clip's end it reads zeros,
  as it reads its own zero padding when alone. But a batch norm before the convolution (some
  HuBERTs: ``conv_pos_batch_norm``) maps those zeros to its shift, and data2vec-audio's stack of
  convolutions (each conv -> layer norm -> GELU) leaves non-zero values there for the next one.
  :func:`zeroed_padding_before_positional_convs` zeroes the padded frames at the input of every
  Conv1d inside ``pos_conv_embed``, so each sees the zeros it sees alone; for a single
  convolution it is a no-op kept so that exactness does not rest on the encoder's own zeroing.
"""

from __future__ import annotations

import contextlib

import torch


def _output_dtype(like: torch.Tensor) -> torch.dtype:
    # Under autocast, torch's group_norm runs (and returns) float32 on cuda and cpu alike; the next
    # conv casts down again. Without it, the module returns its input's dtype (bf16 weights mode).
    if torch.is_autocast_enabled(like.device.type):
        return torch.float32
    return like.dtype


class MaskedGroupNorm(torch.nn.Module):
    """``group_norm`` of one padded batch, each row's statistics over its first ``frames[row]``
    frames only: what the wrapped ``nn.GroupNorm`` gives a clip of that many frames alone.
    Frames past a row's count get finite values that no valid frame of a later layer reads."""

    def __init__(self, norm: torch.nn.GroupNorm, frames: torch.Tensor):
        super().__init__()
        self.norm = norm
        self.frames = frames  # (batch,) int64, on the batch's device

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        norm = self.norm
        batch, channels, length = hidden_states.shape
        per_group = channels // norm.num_groups
        # float32 statistics whatever the input's dtype, as torch's own kernels accumulate, and
        # outside autocast, which would run the products below in bf16
        with torch.autocast(hidden_states.device.type, enabled=False):
            x = hidden_states.float()
            valid = torch.arange(length, device=x.device)[None, :] < self.frames[:, None]
            weights = valid.to(x.dtype)[:, :, None]  # (batch, length, 1)
            count = (self.frames.to(x.dtype) * per_group)[:, None, None]

            def group_sums(values):  # (batch, channels, length) -> (batch, groups, 1) over valid frames
                return torch.bmm(values, weights).reshape(batch, norm.num_groups, per_group).sum(-1, keepdim=True)

            # Sums over time as one batched product each (no masked copy of the (batch, 512,
            # samples/5) activations); two passes, as E[x^2] - E[x]^2 loses digits to a large mean.
            mean = group_sums(x) / count
            centered = x - mean.repeat_interleave(per_group, dim=1)
            var = group_sums(centered.square()) / count
            centered.mul_(torch.rsqrt(var + norm.eps).repeat_interleave(per_group, dim=1))
            if norm.affine:
                centered.mul_(norm.weight.float()[None, :, None]).add_(norm.bias.float()[None, :, None])
        return centered.to(_output_dtype(hidden_states))


def _frames_after(conv_layers, num_samples: torch.Tensor, count: int) -> torch.Tensor:
    """Frames after the first ``count`` conv layers for clips of ``num_samples`` samples."""
    frames = num_samples
    for layer in list(conv_layers)[:count]:
        conv = layer.conv
        frames = torch.div(frames - conv.kernel_size[0], conv.stride[0], rounding_mode="floor") + 1
    return frames


@contextlib.contextmanager
def masked_group_norms(model, num_samples: torch.Tensor):
    """Swap every GroupNorm of the CNN feature encoder for its masked version, with the frame
    counts of the conv layer it follows (in every supported family: only the first layer)."""
    conv_layers = model.feature_extractor.conv_layers
    swapped = []
    for index, layer in enumerate(conv_layers):
        for name, child in list(layer.named_children()):
            if isinstance(child, torch.nn.GroupNorm):
                frames = _frames_after(conv_layers, num_samples, index + 1)
                setattr(layer, name, MaskedGroupNorm(child, frames))
                swapped.append((layer, name, child))
    try:
        yield
    finally:
        for layer, name, child in swapped:
            setattr(layer, name, child)


@contextlib.contextmanager
def zeroed_padding_before_positional_convs(model, frames: torch.Tensor):
    """Forward pre-hooks on every Conv1d inside ``encoder.pos_conv_embed`` that multiply its
    (batch, channels, frames) input by the batch's frame mask; removed afterwards."""

    def zero_padding(module, args):
        hidden_states = args[0]
        if hidden_states.shape[0] != len(frames) or hidden_states.dim() != 3:
            raise RuntimeError(
                f"positional convolution input of shape {tuple(hidden_states.shape)} for a batch of "
                f"{len(frames)}: expected (batch, channels, frames); transformers' layout changed?"
            )
        length = hidden_states.shape[-1]
        valid = torch.arange(length, device=hidden_states.device)[None, :] < frames[:, None]
        return (hidden_states * valid[:, None, :].to(hidden_states.dtype),) + tuple(args[1:])

    convs = [m for m in model.encoder.pos_conv_embed.modules() if isinstance(m, torch.nn.Conv1d)]
    handles = [conv.register_forward_pre_hook(zero_padding) for conv in convs]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def batched_exact(model, lengths: list[int], frames: list[int]):
    """Both patches for one padded batch of clips of ``lengths`` samples (``frames`` frames each
    after the whole CNN). One model must not serve two threads at once meanwhile."""
    device = next(model.parameters()).device
    num_samples = torch.tensor(lengths, dtype=torch.int64, device=device)
    num_frames = torch.tensor(frames, dtype=torch.int64, device=device)
    with masked_group_norms(model, num_samples), zeroed_padding_before_positional_convs(model, num_frames):
        yield
