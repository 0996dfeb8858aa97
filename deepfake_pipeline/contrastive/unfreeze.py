"""Running part of a transformers Wav2Vec2 encoder, so that a contiguous block of transformer
layers can be fine-tuned from cached inputs instead of recomputing the whole model every epoch.

Layer numbering follows the step-2 embeddings (docs/DESIGN.md): hidden state 0 is the input of
transformer layer 1, hidden state i the output of transformer layer i. Unfreezing layers
first..last and pooling layer `pooled` (>= last) needs hidden state first-1, which the frame
cache stores (computed by features.ssl_embed.frame_hidden_state, the pass step 2 pools), and
runs layers first..pooled.

In the stable-layer-norm variant (large / XLS-R), the encoder's final layer norm follows the last
layer; transformers 5 reports the last hidden state *before* that norm, so a pooled hidden state
never includes it. Pass `final_norm=True` only to reproduce `last_hidden_state` itself."""

import torch
from torch import nn
from transformers.masking_utils import create_bidirectional_mask


class BlockError(ValueError):
    """The asked-for block of layers does not exist in this model."""


def num_transformer_layers(model) -> int:
    return len(model.encoder.layers)


def check_block(model, first: int, last: int, pooled: int) -> None:
    total = num_transformer_layers(model)
    if not 1 <= first <= last <= pooled <= total:
        raise BlockError(
            f"unfreezing layers {first}..{last} and pooling layer {pooled} needs "
            f"1 <= first <= last <= pooled <= {total} (this model has {total} transformer layers)"
        )


def masked_mean(hidden: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over valid frames: (batch, frames, dim) -> (batch, dim)."""
    if frame_mask is None:
        return hidden.mean(dim=1)
    weights = frame_mask.to(hidden.dtype)[..., None]
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


class UnfrozenBlock(nn.Module):
    """Transformer layers first..pooled of a loaded Wav2Vec2Model (the same modules, not copies),
    taking cached hidden state first-1 and returning the mean-pooled hidden state `pooled`.
    Only layers first..last are trainable; layers after `last` run frozen, in eval mode, with the
    gradient flowing through them to the block."""

    def __init__(self, model, first: int, last: int, pooled: int, final_norm: bool = False):
        super().__init__()
        check_block(model, first, last, pooled)
        self.first, self.last, self.pooled = first, last, pooled
        self.config = model.config
        self.layers = nn.ModuleList(model.encoder.layers[first - 1:pooled])
        stable = model.config.do_stable_layer_norm
        self.final_norm = model.encoder.layer_norm if (final_norm and stable) else None
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        for layer in self.trainable_layers():
            for parameter in layer.parameters():
                parameter.requires_grad_(True)

    def trainable_layers(self):
        return list(self.layers)[: self.last - self.first + 1]

    def train(self, mode: bool = True):
        super().train(mode)
        for layer in list(self.layers)[self.last - self.first + 1:]:
            layer.eval()
        if self.final_norm is not None:
            self.final_norm.eval()
        return self

    def forward(self, hidden: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
        attention_mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=frame_mask)
        for layer in self.layers:
            hidden = layer(hidden, attention_mask=attention_mask)
        if self.final_norm is not None:
            hidden = self.final_norm(hidden)
        return masked_mean(hidden, frame_mask)
