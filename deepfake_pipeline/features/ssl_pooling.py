"""Mean pooling of the kept hidden states where they were computed, one copy back per batch.

Each clip is averaged over its own frames only: a padded batch's frame mask, divided by each
clip's frame count, is one batched product per layer ((clips, 1, frames) x (clips, frames, dim)).
The per-clip, per-layer slices it replaces launched clips x layers small kernels per batch, and a
copy per clip and layer had made batched cuda runs slower than the naive way (H200 run,
docs/gpu_run_2026-11-29.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def pool_hidden_states(hidden_states: Sequence[torch.Tensor], layers: list[int], num_frames) -> torch.Tensor:
    """(clips, len(layers), dim) float32 on the states' device: hidden state `layers[k]`, shape
    (clips, frames, dim), averaged over the first `num_frames[row]` frames of each row."""
    first = hidden_states[layers[0]]
    clips, length, dim = first.shape
    counts = np.asarray(num_frames, dtype=np.int64)
    pooled = torch.empty((clips, len(layers), dim), dtype=torch.float32, device=first.device)
    if np.all(counts == length):  # told on the host: no wait for the device
        # no padded frame: a plain mean, the same reduction a clip alone gets
        for column, layer in enumerate(layers):
            pooled[:, column] = hidden_states[layer].float().mean(dim=1)
        return pooled
    frames = torch.from_numpy(counts).to(first.device)
    valid = torch.arange(length, device=first.device)[None, :] < frames[:, None]
    weights = (valid.to(torch.float32) / frames[:, None].to(torch.float32))[:, None, :]  # (clips, 1, frames)
    # products in float32 even inside autocast, which would run them in bf16
    with torch.autocast(first.device.type, enabled=False):
        for column, layer in enumerate(layers):
            pooled[:, column] = torch.bmm(weights, hidden_states[layer].float())[:, 0]
    return pooled
