"""What is trained: the projection head alone on cached pooled embeddings, or an unfrozen block
of transformer layers plus the head on cached frame-level inputs; and the data sources that feed
each."""

import numpy as np
import torch
from torch import nn

from deepfake_pipeline.contrastive.frame_cache import FrameCache
from deepfake_pipeline.contrastive.head import ProjectionHead
from deepfake_pipeline.contrastive.unfreeze import UnfrozenBlock


class EmbeddingSource:
    """Pooled embeddings of one split: (clips, dim) or (clips, layers, dim) float32."""

    def __init__(self, features: np.ndarray):
        self.features = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.features)

    def batch(self, indices):
        return self.features[torch.as_tensor(indices)]


class FrameSource:
    """Frame-level cached hidden states of one split, padded per batch with a frame mask."""

    def __init__(self, cache: FrameCache, rows=None):
        self.cache = cache
        # The split's clips are the cache's `rows` (clips left out of evaluation are cached too).
        self.rows = np.arange(len(cache)) if rows is None else np.asarray(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, indices):
        return self.cache.batch(self.rows[np.asarray(indices)])


class SubsetSource:
    """Some clips of a source (a cross-validation fold's part), renumbered from 0."""

    def __init__(self, source, indices):
        self.source = source
        self.indices = np.asarray(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def batch(self, indices):
        return self.source.batch(self.indices[np.asarray(indices)])


class ContrastiveModel(nn.Module):
    """`block` is None (frozen features: the source yields pooled embeddings) or an
    UnfrozenBlock (the source yields (frames, frame_mask) and the block pools them)."""

    def __init__(self, head: ProjectionHead, block: UnfrozenBlock | None = None):
        super().__init__()
        self.head = head
        self.block = block

    def pooled(self, inputs) -> torch.Tensor:
        """The pooled input, on the model's device and in its dtype (float32 in training, float64
        in `train.project`)."""
        device, dtype = self.head.mean.device, self.head.mean.dtype
        if self.block is None:
            return inputs.to(device=device, dtype=dtype)
        frames, frame_mask = inputs
        return self.block(frames.to(device=device, dtype=dtype), frame_mask.to(device))

    def forward(self, inputs) -> torch.Tensor:
        return self.head(self.pooled(inputs))

    def parameter_groups(self, head_lr: float, block_lr: float) -> list:
        groups = [{"params": list(self.head.parameters()), "lr": head_lr}]
        if self.block is not None:
            block_params = [p for layer in self.block.trainable_layers() for p in layer.parameters()]
            groups.append({"params": block_params, "lr": block_lr})
        return groups

    @torch.no_grad()
    def fit_standardiser(self, source, batch_size: int) -> None:
        """Standardise the head's input with training-split statistics of the pooled input as it
        is before any training (for an unfrozen block: its initial output)."""
        was_training = self.training
        self.eval()
        pooled = [
            self.pooled(source.batch(np.arange(start, min(start + batch_size, len(source)))))
            for start in range(0, len(source), batch_size)
        ]
        self.head.fit_standardiser(torch.cat(pooled))
        self.train(was_training)
