"""The projection head: standardise the input embedding (statistics of the training split),
optionally mix all layers with learned softmax weights, then a small MLP ending in an
L2-normalised vector (128-d by default)."""

import torch
from torch import nn
from torch.nn import functional as F


class LayerMix(nn.Module):
    """Softmax-weighted sum over the layer axis: (batch, layers, dim) -> (batch, dim).
    Starts from equal weights, so the first epoch sees the plain layer average."""

    def __init__(self, num_layers: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_layers))

    def weights(self) -> torch.Tensor:
        return torch.softmax(self.logits, dim=0)

    def forward(self, layers: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bld,l->bd", layers, self.weights())


class ProjectionHead(nn.Module):
    """input (batch, dim) — or (batch, layers, dim) with `num_layers` set — to (batch, out_dim)
    unit vectors. `mean`/`std` are buffers so a checkpoint carries them."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int = 256,
        out_dim: int = 128,
        num_layers: int | None = None,
        dropout: float = 0.1,
    ):
        super().__init__()
        stats_shape = (num_layers, in_dim) if num_layers else (in_dim,)
        self.register_buffer("mean", torch.zeros(stats_shape))
        self.register_buffer("std", torch.ones(stats_shape))
        self.mix = LayerMix(num_layers) if num_layers else None
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, out_dim),
        )

    @torch.no_grad()
    def fit_standardiser(self, train_inputs: torch.Tensor) -> None:
        """Per-feature mean/std over the training clips, so layers of very different scales
        (Wav2Vec2 has a few huge-valued dimensions) enter the MLP and the mix on equal terms."""
        self.mean.copy_(train_inputs.mean(dim=0))
        self.std.copy_(train_inputs.std(dim=0).clamp_min(1e-6))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        standardised = (inputs - self.mean) / self.std
        if self.mix is not None:
            standardised = self.mix(standardised)
        return F.normalize(self.mlp(standardised), dim=-1)
