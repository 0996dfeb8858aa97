"""Running part of the transformer of a self-supervised speech model (any family step 2 loads:
wav2vec2 / XLS-R, HuBERT, WavLM, data2vec-audio), so that a contiguous block of transformer layers
can be fine-tuned from cached inputs instead of recomputing the whole model every epoch.

Layer numbering follows the step-2 embeddings (docs/DESIGN.md): hidden state 0 is the input of
transformer layer 1, hidden state i the output of transformer layer i. Unfreezing layers
first..last and pooling layer `pooled` (>= last) needs hidden state first-1, which the frame
cache stores (computed by features.ssl_embed.frame_hidden_state, the pass step 2 pools), and
runs layers first..pooled.

In the pre-norm ("stable layer norm") variant (XLS-R, large HuBERT and WavLM), the encoder's final
layer norm follows the last layer; transformers 5 reports the last hidden state *before* that norm,
so a pooled hidden state never includes it. Pass `final_norm=True` only to reproduce
`last_hidden_state` itself.

Families differ in how a layer is called. wav2vec2, HuBERT and data2vec-audio layers take the
4-d mask transformers' create_bidirectional_mask builds and return the hidden states. WavLM layers
take the 2-d frame mask and a relative position bias, and return both: the bias is made once by
transformer layer 1 (the only one holding its embedding table) and passed on unchanged, so a block
starting higher up asks layer 1's attention for it (a frozen module outside the block unless the
block starts at layer 1, which then trains the table too)."""

import warnings

import torch
from torch import nn
from transformers.masking_utils import create_bidirectional_mask

from deepfake_pipeline.common.errors import PipelineError


class BlockError(PipelineError, ValueError):
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
    """Transformer layers first..pooled of a loaded model (the same modules, not copies),
    taking cached hidden state first-1 and returning the mean-pooled hidden state `pooled`.
    Only layers first..last are trainable; layers after `last` run frozen, in eval mode, with the
    gradient flowing through them to the block."""

    def __init__(self, model, first: int, last: int, pooled: int, final_norm: bool = False):
        super().__init__()
        check_block(model, first, last, pooled)
        self.first, self.last, self.pooled = first, last, pooled
        self.config = model.config
        self.layers = nn.ModuleList(model.encoder.layers[first - 1 : pooled])
        # a plain list, so the bias source is not registered (nor saved) as part of the block
        self._bias_source = [model.encoder.layers[0].attention] if model.config.model_type == "wavlm" else []
        stable = getattr(model.config, "do_stable_layer_norm", False)  # data2vec-audio: post-norm only
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
        for layer in list(self.layers)[self.last - self.first + 1 :]:
            layer.eval()
        if self.final_norm is not None:
            self.final_norm.eval()
        return self

    def forward(self, hidden: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
        if self._bias_source:
            hidden = self._relative_position_layers(hidden, frame_mask)
        else:
            attention_mask = create_bidirectional_mask(
                config=self.config, inputs_embeds=hidden, attention_mask=frame_mask
            )
            for layer in self.layers:
                hidden = layer(hidden, attention_mask=attention_mask)
        if self.final_norm is not None:
            hidden = self.final_norm(hidden)
        return masked_mean(hidden, frame_mask)

    def _relative_position_layers(self, hidden: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
        """WavLM: the bias layer 1 makes for this many frames (it depends on frame distances only,
        so padding leaves each clip's share as it is alone), repeated per clip and head."""
        attention = self._bias_source[0]
        batch, frames, _ = hidden.shape
        bias = attention.compute_bias(frames, frames).to(hidden.device)
        bias = bias.unsqueeze(0).repeat(batch, 1, 1, 1).view(batch * attention.num_heads, frames, frames)
        mask = None if frame_mask is None else frame_mask.to(torch.bool)
        with warnings.catch_warnings():
            # torch warns when a boolean padding mask meets a float bias; they combine as intended
            warnings.filterwarnings("ignore", message=".*mismatched key_padding_mask and attn_mask.*")
            for layer in self.layers:
                hidden, _ = layer(hidden, attention_mask=mask, position_bias=bias)
        return hidden
