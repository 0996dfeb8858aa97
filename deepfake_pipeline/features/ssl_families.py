"""The self-supervised speech model families step 2 embeds with, the facts about a checkpoint
that change what its hidden states mean, and the shapes of the untrained ``random:<arch>`` models.

wav2vec2 (and XLS-R, MMS), HuBERT, WavLM and data2vec-audio share one layout in transformers 5:
a CNN feature encoder (``feature_extractor``), a feature projection, an encoder with a
convolutional positional embedding (``encoder.pos_conv_embed``) and transformer layers
(``encoder.layers``), and hidden states recorded at the input of each transformer layer and at the
last layer's output. ``ssl_embed`` relies on exactly that layout. Where they differ matters for
what a stored embedding is, so those facts are read from the checkpoint's config and travel with
the embeddings (:func:`family_facts`):

- the CNN's normalisation: ``group`` (group norm over the whole clip in the first conv layer:
  wav2vec2-base, HuBERT base, WavLM base+) or ``layer`` (per frame in every conv layer: XLS-R,
  large models, data2vec-audio);
- the transformer's: ``post-norm`` (layer norm after each sub-block, and one before layer 1, so
  hidden state 0 is normalised) or ``pre-norm`` ("stable layer norm": inside each sub-block, and a
  final layer norm after the last layer that no stored hidden state includes);
- the positional embedding: one convolution (wav2vec2, HuBERT; HuBERT may put a batch norm before
  it), a stack of convolutions (data2vec-audio), or a convolution plus WavLM's gated relative
  position bias, computed by transformer layer 1 and handed to every later layer.
"""

from __future__ import annotations

import torch

from deepfake_pipeline.common.errors import PipelineError
from deepfake_pipeline.formats.model_identity import RANDOM_PREFIX, RANDOM_SEED  # noqa: F401  (re-exported)

# model_type in config.json -> transformers class of the bare model (no head)
FAMILIES = {
    "wav2vec2": "Wav2Vec2Model",
    "hubert": "HubertModel",
    "wavlm": "WavLMModel",
    "data2vec-audio": "Data2VecAudioModel",
}
_CONFIG_CLASSES = {
    "wav2vec2": "Wav2Vec2Config",
    "hubert": "HubertConfig",
    "wavlm": "WavLMConfig",
    "data2vec-audio": "Data2VecAudioConfig",
}

_TINY = dict(
    hidden_size=32,
    num_hidden_layers=3,
    num_attention_heads=2,
    intermediate_size=64,
    conv_dim=(32,) * 7,
    num_conv_pos_embedding_groups=2,
)
_LARGE = dict(
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    feat_extract_norm="layer",
    do_stable_layer_norm=True,
    conv_bias=True,
)
# Shapes of the untrained models: arch -> (family, config arguments). transformers' config
# defaults are each family's published base shape (facebook/wav2vec2-base, facebook/hubert-base-ls960,
# microsoft/wavlm-base, facebook/data2vec-audio-base); large = facebook/wav2vec2-xls-r-300m;
# the tiny ones run in seconds, with base's normalisation.
_RANDOM_ARCH_CONFIGS: dict[str, tuple[str, dict]] = {
    "base": ("wav2vec2", {}),
    "large": ("wav2vec2", _LARGE),
    "tiny": ("wav2vec2", {**_TINY, "num_conv_pos_embeddings": 16}),
    "hubert-base": ("hubert", {}),
    "hubert-tiny": ("hubert", {**_TINY, "num_conv_pos_embeddings": 16}),
    "wavlm-base": ("wavlm", {}),
    "wavlm-tiny": ("wavlm", {**_TINY, "num_conv_pos_embeddings": 16}),
    "data2vec-audio-base": ("data2vec-audio", {}),
    "data2vec-audio-tiny": ("data2vec-audio", _TINY),
}
RANDOM_ARCHS = tuple(_RANDOM_ARCH_CONFIGS)


class ModelLoadError(PipelineError, RuntimeError):
    """The model cannot be used as asked; the message says what the user should do."""


def unsupported_message(spec: str, model_type: str) -> str:
    return (
        f"'{spec}' is a {model_type!r} model; this pipeline embeds with self-supervised speech models "
        f"of the families {', '.join(FAMILIES)} (e.g. facebook/wav2vec2-base, facebook/wav2vec2-xls-r-300m, "
        "facebook/hubert-base-ls960, microsoft/wavlm-base-plus, facebook/data2vec-audio-base)."
    )


def model_class(model_type: str):
    import transformers

    return getattr(transformers, FAMILIES[model_type])


def family_facts(config) -> dict:
    """What a hidden state of this checkpoint is, from its config (stored in the embeddings'
    metadata and the run's config.json)."""
    family = config.model_type
    # data2vec-audio has neither setting: layer norm in every conv layer, post-norm encoder only
    cnn_norm = getattr(config, "feat_extract_norm", "layer")
    pre_norm = bool(getattr(config, "do_stable_layer_norm", False))
    if family == "data2vec-audio":
        position = f"{config.num_conv_pos_embeddings} convolutions (kernel {config.conv_pos_kernel_size})"
    else:
        position = f"convolution (kernel {config.num_conv_pos_embeddings})"
        if getattr(config, "conv_pos_batch_norm", False):
            position = "batch norm + " + position
    if family == "wavlm":
        position += " + gated relative position bias (made by layer 1, used by every layer)"
    projection = "layer norm + linear" if getattr(config, "feat_proj_layer_norm", True) else "linear"
    last = config.num_hidden_layers
    return {
        "family": family,
        "feature_encoder_norm": cnn_norm,
        "transformer_norm": "pre-norm" if pre_norm else "post-norm",
        "positional_embedding": position,
        "hidden_state_0": (
            f"CNN features -> {projection}, + positional embedding"
            + (" (no layer norm: pre-norm)" if pre_norm else " -> encoder layer norm")
            + " = input of transformer layer 1"
        ),
        "hidden_state_last": (
            f"output of transformer layer {last}"
            + (
                ", before the encoder's final layer norm (not last_hidden_state)"
                if pre_norm
                else " = last_hidden_state"
            )
        ),
    }


def describe_arch(config) -> str:
    """Shape summary, the same for random and real weights, e.g. wav2vec2-12L-768d-groupnorm."""
    norm = getattr(config, "feat_extract_norm", "layer")
    return f"{config.model_type}-{config.num_hidden_layers}L-{config.hidden_size}d-{norm}norm"


def random_config(arch: str):
    import transformers

    if arch not in _RANDOM_ARCH_CONFIGS:
        raise ModelLoadError(
            f"unknown untrained architecture 'random:{arch}'. Known: "
            + ", ".join(f"random:{name}" for name in RANDOM_ARCHS)
            + ". Or give a Hugging Face id (e.g. facebook/wav2vec2-base) or a local model folder."
        )
    family, shape = _RANDOM_ARCH_CONFIGS[arch]
    # Dropouts and SpecAugment only act in training mode; zero them anyway so the config says
    # plainly that nothing random happens at inference.
    no_randomness = dict(
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        layerdrop=0.0,
        mask_time_prob=0.0,
    )
    return getattr(transformers, _CONFIG_CLASSES[family])(**{**no_randomness, **shape})


def build_random(arch: str):
    config = random_config(arch)
    # Seeded inside a forked RNG so every call gives the same weights and the caller's global
    # random state is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        return model_class(config.model_type)(config)
