"""A corpus split's folder as step 1 leaves it: float32 shards holding the concatenated 16 kHz
mono samples of consecutive manifest rows (`waves/shard_N.npy`), the manifest, and `info.json`
(counts, settings, `store_dtype`, whether it is the demo corpus).

The samples are stored exactly as the decoder produced them (full scale 1.0, values beyond it
kept), so features computed from the store equal those computed from the decoded audio. Every
reader goes through WaveStore.waveform. A store of another dtype (step 1 before the float32
store wrote int16, clipping peaks and rounding quiet passages to zero) is refused, not misread.
"""

import json
from pathlib import Path

import numpy as np

from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.errors import PipelineError
from deepfake_pipeline.formats import versions
from deepfake_pipeline.formats.manifest import read_manifest

# The one sample rate of the pipeline: every clip is stored, and every model is fed, at 16 kHz.
SAMPLE_RATE = 16000
# What the shards hold; info.json's `store_dtype` says it and every reader checks it.
STORE_DTYPE = "float32"


class StoreError(PipelineError, ValueError):
    """The split's waveform store is not one this code writes: the message says what to rerun."""


def shard_path(split_dir, shard: int) -> Path:
    return Path(split_dir) / "waves" / f"shard_{shard:05d}.npy"


def write_shard(split_dir, shard: int, samples: np.ndarray, on_written=None) -> Path:
    """One shard, written whole (atomic rename); `samples` must already be float32."""
    if samples.dtype != np.dtype(STORE_DTYPE):
        raise TypeError(f"the waveform store holds {STORE_DTYPE}, got {samples.dtype}")
    return atomic.save_npy(shard_path(split_dir, shard), samples, on_written=on_written)


def info_path(split_dir) -> Path:
    return Path(split_dir) / "info.json"


def write_info(split_dir, info: dict) -> Path:
    """info.json is written last: its presence marks a finished split."""
    return atomic.write_text(
        info_path(split_dir), json.dumps(versions.stamp("split_info", info), indent=1, sort_keys=True)
    )


def read_info(split_dir) -> dict:
    """A finished split's info.json; {} when the split is not finished. One of a format this
    code does not read is refused (StoreError) with the command that writes it again."""
    path = info_path(split_dir)
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
    except ValueError as error:
        raise StoreError(
            f"{path} is damaged ({error}): rerun preprocess_datasets.py for this corpus with --overwrite"
        ) from None
    problem = versions.version_problem("split_info", info) if isinstance(info, dict) else "is not a JSON object"
    if problem:
        joiner = " " if problem.endswith(", or") else ": "
        raise StoreError(f"{path} {problem}{joiner}rerun preprocess_datasets.py for this corpus with --overwrite")
    return info


def _older_store(split_dir, found) -> StoreError:
    return StoreError(
        f"{split_dir} holds a waveform store of {found} samples from an older step 1 (it clipped peaks "
        f"above full scale and rounded quiet passages to zero); this code reads {STORE_DTYPE}: rerun "
        "preprocess_datasets.py for this corpus with --overwrite, then the later steps"
    )


class WaveStore:
    """One corpus split: `.manifest` (DataFrame), `.info` (dict), `waveform(i)` (float32)."""

    def __init__(self, split_dir):
        self.split_dir = Path(split_dir)
        self.info = read_info(self.split_dir)
        if not self.info:
            raise FileNotFoundError(
                f"{self.split_dir} is not a finished corpus split (no info.json): "
                "run preprocess_datasets.py for it first"
            )
        dtype = self.info.get("store_dtype")
        if dtype != STORE_DTYPE:
            raise _older_store(self.split_dir, dtype or "unmarked")
        self.manifest = read_manifest(self.split_dir)
        self._shards = {}

    @property
    def split_id(self) -> str:
        return self.info["split_id"]

    def __len__(self) -> int:
        return len(self.manifest)

    def __getstate__(self):
        # Sent to worker processes without the memory maps (pickling one copies its data).
        return {**self.__dict__, "_shards": {}}

    def rows(self, positions) -> "WaveStore":
        """The same store restricted to some manifest rows (renumbered from 0): small to send to
        a worker process."""
        view = object.__new__(WaveStore)
        view.__dict__.update(self.__getstate__())
        view.manifest = self.manifest.iloc[np.asarray(positions)].reset_index(drop=True)
        return view

    def _shard(self, shard: int) -> np.ndarray:
        if shard not in self._shards:
            path = shard_path(self.split_dir, shard)
            try:
                samples = np.load(path, mmap_mode="r")
            except (OSError, ValueError, EOFError) as error:  # missing, cut short, not an .npy
                raise StoreError(
                    f"{path} is missing, damaged or cut short ({error}): rerun preprocess_datasets.py for "
                    "this corpus with --overwrite"
                ) from None
            if samples.dtype != np.dtype(STORE_DTYPE):
                raise _older_store(self.split_dir, f"{samples.dtype} (shard {shard})")
            self._shards[shard] = samples
        return self._shards[shard]

    def waveform(self, i: int) -> np.ndarray:
        """Clip i of the manifest: float32 samples at 16 kHz, exactly as step 1 decoded them."""
        row = self.manifest.iloc[i]
        start = int(row["offset"])
        return np.array(self._shard(int(row["shard"]))[start : start + int(row["num_samples"])])
