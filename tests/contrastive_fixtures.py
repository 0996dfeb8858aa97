"""Small builders shared by the contrastive tests: a waveform-store split, and step-2 style
embeddings with a planted bona fide / spoof signal."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from deepfake_pipeline.formats.manifest import MANIFEST_COLUMNS
from deepfake_pipeline.formats.wavestore import STORE_DTYPE, WaveStore, write_shard


def make_split(interim_dir, split_id, n_clips=8, seed=0, durations_s=(0.4, 0.9), demo=True) -> WaveStore:
    """A split of noisy tones of varied lengths in one shard, half bona fide; returns its WaveStore."""
    rng = np.random.default_rng(seed)
    folder = Path(interim_dir) / split_id
    (folder / "waves").mkdir(parents=True, exist_ok=True)
    rows, chunks, offset = [], [], 0
    for i in range(n_clips):
        n = int(rng.uniform(*durations_s) * 16000)
        t = np.arange(n) / 16000
        label = i % 2
        wave = 0.3 * np.sin(2 * np.pi * (150 + 100 * label + 10 * i) * t) + 0.05 * rng.standard_normal(n)
        # The levels an int16 file would hold, stored as the float32 the store keeps.
        samples = np.clip(wave * 32768, -32768, 32767).astype(np.int16).astype(np.float32) / 32768
        chunks.append(samples)
        rows.append(
            {
                "utt_id": f"{split_id}_{i:04d}",
                "corpus": "tiny",
                "split": split_id,
                "label": label,
                "attack": "-" if label == 0 else f"A0{1 + i % 3}",
                "speaker": f"S{i % 3}",
                "source_path": f"clip{i}.wav",
                "duration_s": n / 16000,
                "orig_sr": 16000,
                "num_samples": n,
                "shard": 0,
                "offset": offset,
                "audio_sha1": f"{i:040d}",
            }
        )
        offset += n
    write_shard(folder, 0, np.concatenate(chunks))
    pd.DataFrame(rows, columns=MANIFEST_COLUMNS).to_csv(folder / "manifest.csv", index=False)
    (folder / "info.json").write_text(
        json.dumps(
            {"corpus": "tiny", "split": split_id, "split_id": split_id, "demo": demo, "store_dtype": STORE_DTYPE}
        )
    )
    return WaveStore(folder)


def planted_embeddings(n, layers=3, dim=16, signal=1.5, seed=0, bonafide_share=0.3):
    """(features (n, layers, dim), labels, attacks): layer 1 carries a class shift on a few
    dimensions, the other layers are noise."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) > bonafide_share).astype(np.int64)
    features = rng.standard_normal((n, layers, dim)).astype(np.float32)
    features[:, 1, :4] += signal * (1 - 2 * labels)[:, None]
    attacks = np.where(labels == 0, "-", np.array(["A01", "A02"])[rng.integers(0, 2, n)])
    return features, labels, attacks


@pytest.fixture
def one_torch_thread():
    """The tiny models here are far too small to gain from threads, and on a busy machine the
    spinning of a second one makes each forward pass many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
