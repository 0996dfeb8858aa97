"""Load a frozen self-supervised speech model (wav2vec2 / XLS-R, HuBERT, WavLM, data2vec-audio:
``ssl_families``) for feature extraction: from a Hugging Face id (cached or downloaded), from a
local folder written by ``save_pretrained``, or as an untrained ``random:<arch>`` model of a known
shape for smoke runs and benchmarks.

Every way ends in the same :class:`LoadedModel`, frozen (``eval()``, no gradients) and placed on
the requested device in the requested precision. Failures that the user must fix (unknown arch,
missing folder, weights not available offline, bf16 on a CPU without native bf16) raise
:class:`ModelLoadError` with a message that says what to do.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from deepfake_pipeline.features import ssl_weights
from deepfake_pipeline.features.ssl_families import (  # noqa: F401  (re-exported)
    FAMILIES,
    RANDOM_ARCHS,
    RANDOM_PREFIX,
    ModelLoadError,
    build_random,
    describe_arch,
    family_facts,
    model_class,
    random_config,
    unsupported_message,
)
from deepfake_pipeline.formats.model_identity import ModelIdentity, ModelIdentityError, identify

PRECISIONS = ("float32", "bfloat16")


@dataclass
class LoadedModel:
    model: torch.nn.Module
    spec: str
    revision: str | None  # hub commit hash when known
    untrained: bool
    arch: str  # shape summary, e.g. "wav2vec2-12L-768d-groupnorm"; the same for random and real weights
    num_layers: int  # hidden states returned: 0 (input of transformer layer 1) to the last layer's output
    dim: int
    do_normalize: bool
    device: str
    precision: str
    bf16_mode: str | None = None  # "autocast" or "weights" when precision is bfloat16
    facts: dict = field(default_factory=dict)  # ssl_families.family_facts: what each hidden state is
    identity: ModelIdentity | None = None  # which model this is (formats/model_identity.py)

    @property
    def tag(self) -> str:
        """The file name of its embeddings (no other model's)."""
        assert self.identity is not None  # load_model sets it
        return self.identity.tag(self.precision)


def _looks_like_path(spec: str) -> bool:
    """A hub id is ``name`` or ``org/name``; anything else with separators is meant as a folder."""
    return spec.startswith(("/", "./", "../", "~", ".")) or "\\" in spec or spec.count("/") > 1


def _missing_weights_message(spec: str, error: Exception) -> str:
    return (
        f"could not load model weights for '{spec}' ({type(error).__name__}: {error}).\n"
        "If this is a Hugging Face id (check its spelling), the weights are neither in the local "
        "cache nor downloadable right now. Either:\n"
        "  - run once on a machine with internet access (the weights are then cached), or\n"
        f"  - download them elsewhere: `hf download {spec} --local-dir /path/to/folder` "
        f"(older clients: `huggingface-cli download {spec} --local-dir /path/to/folder`), copy the "
        "folder here and pass `--model /path/to/folder`, or\n"
        "  - point HF_HOME at a Hugging Face cache that already holds the model.\n"
        "Set HF_HUB_OFFLINE=1 to skip network retries when there is no internet. Or use "
        "`--model random:base` for an untrained smoke run."
    )


def _hub_commit_hash(spec: str, model) -> str | None:
    """Commit of the cached hub snapshot the weights came from: the cache stores files under
    ``.../snapshots/<commit>/``. None when it cannot be told."""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(spec, "config.json")
    if isinstance(cached, str):
        snapshot = Path(cached).parent.name
        if re.fullmatch(r"[0-9a-f]{40}", snapshot):
            return snapshot
    return getattr(model.config, "_commit_hash", None)


HUB_PROBE_SECONDS = 3.0
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _hub_unreachable() -> str | None:
    """Why the Hugging Face hub cannot be reached, or None. One TCP connection with a short
    timeout: without it, a machine with no network spent ~30 s in the hub client's retries before
    saying what to do. Behind a proxy the direct connection proves nothing, so it is not tried."""
    import os
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants as hub_constants

    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return None
    host = urlparse(hub_constants.ENDPOINT).hostname
    try:
        socket.create_connection((host, 443), timeout=HUB_PROBE_SECONDS).close()
    except OSError as error:
        return f"{host} cannot be reached within {HUB_PROBE_SECONDS:g} s ({error}): no network here?"
    return None


def _from_pretrained(cls, spec: str, **kwargs):
    """Cache first, so a cached model loads instantly without network retries; the network is
    tried only when the cache lacks it, offline mode is off and the hub answers at all."""
    from huggingface_hub import constants as hub_constants

    try:
        return cls.from_pretrained(spec, local_files_only=True, **kwargs)
    except OSError:
        if hub_constants.HF_HUB_OFFLINE:
            raise
    unreachable = _hub_unreachable()
    if unreachable:
        raise OSError(f"not in the local cache, and {unreachable}")
    return cls.from_pretrained(spec, **kwargs)


def _load_pretrained(spec: str):
    from transformers import AutoConfig, Wav2Vec2FeatureExtractor

    local = Path(spec).expanduser()
    is_local = local.exists()
    if not is_local and _looks_like_path(spec):
        raise ModelLoadError(
            f"model folder '{spec}' does not exist. Pass a folder written by save_pretrained "
            "(config.json + model weights), a Hugging Face id such as facebook/wav2vec2-base, "
            "or random:base for an untrained model."
        )
    source = str(local) if is_local else spec
    local_help = (
        f"'{spec}' is not a usable model folder: it needs the config.json and weights that "
        "save_pretrained writes (or `hf download <id> --local-dir <folder>`)"
    )
    # transformers builds a default config from a folder without config.json instead of failing
    if is_local and not (local / "config.json").is_file():
        raise ModelLoadError(f"{local_help}; no config.json in it.")
    try:
        # AutoConfig reports the checkpoint's own model type (Wav2Vec2Config would relabel it)
        config = _from_pretrained(AutoConfig, source)
    except (OSError, ValueError) as error:  # ValueError: config.json unreadable or without model_type
        if is_local:
            raise ModelLoadError(f"{local_help} ({error}).") from error
        raise ModelLoadError(_missing_weights_message(spec, error)) from error
    if config.model_type not in FAMILIES:
        raise ModelLoadError(unsupported_message(spec, config.model_type))
    with ssl_weights.quiet_weight_loading() as report:
        try:
            # weights_only: a pytorch_model.bin is a pickle, never to be loaded as one that may run code
            model, info = _from_pretrained(
                model_class(config.model_type),
                source,
                output_loading_info=True,
                ignore_mismatched_sizes=True,
                weights_only=True,
            )
        except Exception as error:
            refused = ssl_weights.refusal(spec, local if is_local else None, error)
            if refused is not None:
                raise refused from error
            report.show()  # what transformers said of a load that failed for a reason not told here
            if not isinstance(error, OSError):
                raise
            if is_local:
                raise ModelLoadError(f"{local_help} ({error}).") from error
            raise ModelLoadError(_missing_weights_message(spec, error)) from error
    ssl_weights.check_loaded(spec, is_local, model, info)

    # Every family's checkpoints describe their input with Wav2Vec2FeatureExtractor. One without
    # preprocessor_config.json gets its default (normalise), which is what wav2vec2-base and XLS-R
    # were trained with.
    do_normalize = True
    with contextlib.suppress(OSError):
        do_normalize = bool(_from_pretrained(Wav2Vec2FeatureExtractor, source).do_normalize)

    revision = None if is_local else _hub_commit_hash(spec, model)
    return model, revision, do_normalize


def native_bf16_support(device: torch.device) -> tuple[bool, str]:
    """Whether bf16 matrix products run natively here, and what was checked. Without native
    support oneDNN emulates bf16 through float32 and is several times slower than float32
    (measured: 5-8x on an AVX-512 Ice Lake core), so it is no speed-up."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(), f"torch.cuda.is_bf16_supported() on {device}"
    if device.type == "cpu":
        capabilities = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
        native = [flag for flag in ("avx512_bf16", "amx_bf16") if capabilities.get(flag)]
        name = capabilities.get("cpu_name", "this CPU")
        if native:
            return True, f"{name} has {', '.join(native)}"
        return False, f"{name} has neither avx512_bf16 nor amx_bf16"
    return False, f"no bf16 check for device type {device.type!r}"


def load_model(
    spec: str,
    device: str = "cpu",
    precision: str = "float32",
    *,
    bf16_mode: str = "weights",
    allow_emulated_bf16: bool = False,
) -> LoadedModel:
    """Load ``spec`` frozen for inference.

    ``precision='bfloat16'`` runs the model in bf16 and still returns float32 embeddings.
    ``bf16_mode='weights'`` (default) casts the weights to bf16 once; ``'autocast'`` keeps float32
    weights and casts them at every matrix product, which in inference mode is redone on every
    forward pass (autocast caches casts only for weights that require grad). Both give the same
    embeddings within ~0.6% (bench/bench_embeddings.py). bf16 is refused on hardware without native
    bf16, where it is several times slower than float32, unless ``allow_emulated_bf16`` (tests and
    the benchmark use it to check the numbers).
    """
    if precision not in PRECISIONS:
        raise ModelLoadError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if bf16_mode not in ("autocast", "weights"):
        raise ModelLoadError(f"unknown bf16_mode {bf16_mode!r}; choose autocast or weights")
    try:
        torch_device = torch.device(device)
    except RuntimeError as error:
        raise ModelLoadError(f"unknown device {device!r} ({error}); use cpu or cuda") from error
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu")
    if torch_device.type == "cuda" and precision == "float32":
        # TF32 convolutions and products moved a clip's embedding by 2e-4 between padded and
        # unpadded batches on an H200: float32 means float32.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    if precision == "bfloat16":
        native, reason = native_bf16_support(torch_device)
        if not native and not allow_emulated_bf16:
            raise ModelLoadError(
                f"bfloat16 needs native bf16 support and {reason}; here bf16 is emulated and "
                "several times slower than float32. Use --precision float32."
            )
        if not native:
            warnings.warn(f"bf16 is emulated ({reason}): expect it to be slower than float32", stacklevel=2)

    if spec.startswith(RANDOM_PREFIX):
        model = build_random(spec[len(RANDOM_PREFIX) :])
        revision, do_normalize, untrained = None, True, True
    else:
        model, revision, do_normalize = _load_pretrained(spec)
        untrained = False
    identity = _identity(spec, model, revision)

    model.eval()
    model.requires_grad_(False)
    model.to(torch_device)
    if precision == "bfloat16" and bf16_mode == "weights":
        model.to(torch.bfloat16)
    config = model.config
    return LoadedModel(
        model=model,
        spec=spec,
        revision=revision,
        untrained=untrained,
        arch=describe_arch(config),
        num_layers=config.num_hidden_layers + 1,
        dim=config.hidden_size,
        do_normalize=do_normalize,
        device=str(torch_device),
        precision=precision,
        bf16_mode=bf16_mode if precision == "bfloat16" else None,
        facts={**family_facts(config), "input_normalised": do_normalize},
        identity=identity,
    )


def weights_sha256(model: torch.nn.Module) -> str:
    """SHA-256 over the model's parameters and buffers, name by name, as float32 on the CPU."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        values = tensor.detach().to("cpu", torch.float32 if tensor.is_floating_point() else tensor.dtype).contiguous()
        digest.update(f"{name}\0{tuple(values.shape)}\0".encode())
        digest.update(values.numpy().tobytes() if values.dtype == torch.bool else values.numpy())
    return digest.hexdigest()


def _identity(spec: str, model, revision) -> ModelIdentity:
    """Which model was loaded: a random model with the digest of the weights it drew, a folder
    with the digest of its files, a hub id with the commit its weights came from."""
    from dataclasses import replace

    try:
        identity = identify(spec)
    except ModelIdentityError as error:
        raise ModelLoadError(str(error)) from None
    if identity.source == "random":
        return replace(identity, weights_sha256=weights_sha256(model))
    if identity.source == "hub":
        return replace(identity, revision=revision)
    return identity
