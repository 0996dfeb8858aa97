"""Which model made a set of embeddings: one value, parsed once from what `--model` names.

- a Hugging Face id: the id and the commit of the snapshot its weights came from;
- a local folder (written by `save_pretrained`): a SHA-256 over the files `from_pretrained` reads
  there (config, preprocessor config, weights), so two checkpoints in folders of the same name
  are two models, and the same checkpoint copied to two folders is one;
- `random:<arch>`: the architecture and the seed its untrained weights are drawn with (and, once
  built, a digest of those weights, which also changes if torch draws them differently).

The identity gives each model a file tag no other model shares (`tag`), is written into every
embeddings JSON and run config, and is what step 2's reuse check and every reader compare
(`difference`): a name alone never decides that two sets of embeddings come from one model.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from deepfake_pipeline.common.errors import PipelineError

RANDOM_PREFIX = "random:"
# The seed `random:<arch>` weights are drawn with (features/ssl_families.build_random).
RANDOM_SEED = 0
# The files from_pretrained reads from a model folder. Other files a training framework keeps
# there (optimizer state, trainer logs) do not change the model and are not hashed.
MODEL_FILE_PATTERNS = (
    "config.json",
    "preprocessor_config.json",
    "*.safetensors",
    "*.safetensors.index.json",
    "pytorch_model*.bin",
    "pytorch_model.bin.index.json",
)
DIGEST_CHARS_IN_TAG = 12
_CHUNK = 1 << 22


class ModelIdentityError(PipelineError, ValueError):
    """`--model` names nothing this code can identify; the message says what to pass."""


@dataclass(frozen=True)
class ModelIdentity:
    source: str  # "hub", "local" or "random"
    name: str  # hub id, folder name, or architecture
    revision: str | None = None  # hub commit of the snapshot (None when it cannot be told)
    weights_sha256: str | None = None  # local: digest of the model files; random: of the built weights
    seed: int | None = None  # random: the seed its weights are drawn with
    path: str | None = None  # local: the folder as resolved when identified (informative only)

    def tag(self, precision: str = "float32") -> str:
        """The embeddings' file name: readable, and different for different models. Each source
        has its prefix; a hub id's `/` becomes `--`, which hub ids may not contain; the precision
        follows a `+`, which none of the names may contain."""
        if self.source == "random":
            tag = f"random-{_plain(self.name)}"
        elif self.source == "local":
            tag = f"local-{_plain(self.name)}-{str(self.weights_sha256)[:DIGEST_CHARS_IN_TAG]}"
        else:
            tag = "hub-" + _plain(self.name.replace("/", "--"))
        return tag if precision == "float32" else f"{tag}+{precision}"

    def describe(self) -> str:
        if self.source == "random":
            return f"random:{self.name} (untrained, seed {self.seed})"
        if self.source == "local":
            return f"the model folder {self.path} (files sha256 {str(self.weights_sha256)[:DIGEST_CHARS_IN_TAG]}...)"
        return f"{self.name} at commit {self.revision[:12] if self.revision else 'unknown'}"

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, payload) -> ModelIdentity | None:
        if not isinstance(payload, dict) or payload.get("source") not in ("hub", "local", "random"):
            return None
        return cls(**{key: payload.get(key) for key in cls.__dataclass_fields__})  # type: ignore[arg-type]


def _plain(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def difference(recorded: ModelIdentity | None, current: ModelIdentity | None) -> str | None:
    """Why `recorded` and `current` are not the same model (None: they are). A value one side
    could not tell (a hub commit outside the cache, a random model's weights before it was
    built) is not held against the other."""
    if recorded is None or current is None:
        return "one of them records no model identity (made by an older version of the pipeline)"
    if recorded.source != current.source:
        return f"{recorded.describe()} is not {current.describe()}"
    if recorded.source == "local":
        if recorded.weights_sha256 != current.weights_sha256:
            return (
                f"the model files differ (sha256 {str(recorded.weights_sha256)[:DIGEST_CHARS_IN_TAG]}... then, "
                f"{str(current.weights_sha256)[:DIGEST_CHARS_IN_TAG]}... now)"
            )
        return None
    if recorded.name != current.name:
        return f"{recorded.describe()} is not {current.describe()}"
    if recorded.source == "hub":
        if recorded.revision and current.revision and recorded.revision != current.revision:
            return f"{recorded.name} was at commit {recorded.revision[:12]}, now at {current.revision[:12]}"
        return None
    if recorded.seed != current.seed:
        return f"the untrained weights were drawn with seed {recorded.seed}, now {current.seed}"
    if recorded.weights_sha256 and current.weights_sha256 and recorded.weights_sha256 != current.weights_sha256:
        return (
            "the untrained weights differ although arch and seed are the same (another torch or transformers "
            "draws them differently)"
        )
    return None


def _looks_like_path(spec: str) -> bool:
    """A hub id is `name` or `org/name`; anything else with separators is meant as a folder."""
    return spec.startswith(("/", "./", "../", "~", ".")) or "\\" in spec or spec.count("/") > 1


def model_files(folder: Path) -> list:
    files = {p for pattern in MODEL_FILE_PATTERNS for p in folder.glob(pattern) if p.is_file()}
    return sorted(files, key=lambda p: p.name)


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    # Keyed by size and time too, so a file replaced in place is hashed again.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def folder_digest(folder: Path) -> str:
    """SHA-256 over each model file's name and content digest, in name order."""
    files = model_files(folder)
    if not files:
        raise ModelIdentityError(
            f"'{folder}' holds no model files (config.json and weights, as save_pretrained writes them)"
        )
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{path.name}\0{_file_sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)}\n".encode())
    return digest.hexdigest()


def cached_hub_commit(hub_id: str) -> str | None:
    """The commit of the snapshot the local Hugging Face cache holds for `hub_id` (no network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(hub_id, "config.json")
    except Exception:  # an id the hub client rejects as malformed: the loader says what is wrong
        return None
    if isinstance(cached, str):
        snapshot = Path(cached).parent.name
        if re.fullmatch(r"[0-9a-f]{40}", snapshot):
            return snapshot
    return None


def identify(spec: str) -> ModelIdentity:
    """The identity of what `--model spec` names, without loading the model: a folder is hashed,
    a hub id looked up in the local cache only; a random arch's weights are not built here."""
    spec = str(spec)
    if spec.startswith(RANDOM_PREFIX):
        return ModelIdentity(source="random", name=spec[len(RANDOM_PREFIX) :], seed=RANDOM_SEED)
    local = Path(spec).expanduser()
    if local.is_dir():
        resolved = local.resolve()
        return ModelIdentity(
            source="local", name=resolved.name, weights_sha256=folder_digest(resolved), path=str(resolved)
        )
    if _looks_like_path(spec) or local.exists():
        raise ModelIdentityError(f"model folder '{spec}' does not exist (or is not a folder)")
    return ModelIdentity(source="hub", name=spec, revision=cached_hub_commit(spec))
