"""A corpus split's folder as step 1 leaves it: int16 shards holding the concatenated 16 kHz mono
samples of consecutive manifest rows (`waves/shard_N.npy`), the manifest, and `info.json` (counts,
settings, whether it is the demo corpus)."""

import json
from pathlib import Path

import numpy as np

from deepfake_pipeline.common import atomic
from deepfake_pipeline.formats.manifest import read_manifest

# The one sample rate of the pipeline: every clip is stored, and every model is fed, at 16 kHz.
SAMPLE_RATE = 16000


def shard_path(split_dir, shard: int) -> Path:
    return Path(split_dir) / "waves" / f"shard_{shard:05d}.npy"


def info_path(split_dir) -> Path:
    return Path(split_dir) / "info.json"


def write_info(split_dir, info: dict) -> Path:
    """info.json is written last: its presence marks a finished split."""
    return atomic.write_text(info_path(split_dir), json.dumps(info, indent=1, sort_keys=True))


def read_info(split_dir) -> dict:
    """A finished split's info.json; {} when the split is not finished."""
    path = info_path(split_dir)
    return json.loads(path.read_text()) if path.is_file() else {}


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
        self.manifest = read_manifest(self.split_dir)
        self._shards = {}

    @property
    def split_id(self) -> str:
        return self.info["split_id"]

    def __len__(self) -> int:
        return len(self.manifest)

    def _shard(self, shard: int) -> np.ndarray:
        if shard not in self._shards:
            self._shards[shard] = np.load(shard_path(self.split_dir, shard), mmap_mode="r")
        return self._shards[shard]

    def samples_int16(self, i: int) -> np.ndarray:
        row = self.manifest.iloc[i]
        start = int(row["offset"])
        return self._shard(int(row["shard"]))[start:start + int(row["num_samples"])]

    def waveform(self, i: int) -> np.ndarray:
        return self.samples_int16(i).astype(np.float32) / 32768.0
