"""Reading the waveform store that step 1 writes: per corpus split, int16 shards holding the
concatenated 16 kHz mono samples of consecutive manifest rows."""

import json
from pathlib import Path

import numpy as np

from .manifest import read_manifest

SAMPLE_RATE = 16000


def shard_path(split_dir, shard: int) -> Path:
    return Path(split_dir) / "waves" / f"shard_{shard:05d}.npy"


class WaveStore:
    """One corpus split: `.manifest` (DataFrame), `.info` (dict), `waveform(i)` (float32)."""

    def __init__(self, split_dir):
        self.split_dir = Path(split_dir)
        info_path = self.split_dir / "info.json"
        if not info_path.is_file():
            raise FileNotFoundError(
                f"{self.split_dir} is not a finished corpus split (no info.json): "
                "run preprocess_datasets.py for it first"
            )
        self.info = json.loads(info_path.read_text())
        self.manifest = read_manifest(self.split_dir / "manifest.csv")
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
