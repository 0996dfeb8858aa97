"""A padded batch assembled on the host, ready for one copy to the device: what ``ssl_embed``'s
background reader (``prefetch``) builds for the next batch while the current one runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class HostBatch:
    input_values: torch.Tensor  # (clips, longest) float32, zero past each clip's end
    attention_mask: torch.Tensor | None  # (clips, longest) int64, None when no clip is padded
    lengths: list[int]

    @property
    def padded(self) -> bool:
        return self.attention_mask is not None

    def to(self, device) -> tuple[torch.Tensor, torch.Tensor | None]:
        # non_blocking only overlaps from pinned memory; it is a plain copy otherwise
        values = self.input_values.to(device, non_blocking=True)
        mask = None if self.attention_mask is None else self.attention_mask.to(device, non_blocking=True)
        return values, mask


def host_batch(inputs: list[np.ndarray], pin: bool = False) -> HostBatch:
    """The clips (already normalised) zero-padded to the longest, with their attention mask;
    in page-locked memory when ``pin`` (cuda), so the copy can overlap the device's work."""
    lengths = [len(x) for x in inputs]
    longest = max(lengths)
    values = torch.zeros((len(inputs), longest), dtype=torch.float32, pin_memory=pin)
    for row, x in enumerate(inputs):
        values[row, : len(x)] = torch.from_numpy(np.asarray(x, dtype=np.float32))
    mask = None
    if any(length != longest for length in lengths):
        mask = torch.zeros((len(inputs), longest), dtype=torch.int64, pin_memory=pin)
        for row, length in enumerate(lengths):
            mask[row, :length] = 1
    return HostBatch(values, mask, lengths)
