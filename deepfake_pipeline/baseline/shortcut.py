"""The shortcut check: how far clip duration and leading/trailing silence alone get.

In ASVspoof 2019 LA bona fide clips carry longer leading and trailing silences than spoofed
ones; a classifier on those durations alone reaches about 15% EER (Müller et al., "Speech is
Silver, Silence is Golden", Interspeech 2021). A model that does not clearly beat the same
logistic regression on these three numbers may have learned silence, not spoofing.

Silence is found with `librosa.effects.trim`: frames whose RMS is more than `top_db` below the
clip's loudest frame count as silent (frame 2048, hop 512 samples at 16 kHz; frames are centred,
so a silence is measured short by up to half a frame plus a hop, about 0.1 s). We use
top_db = 40 by default, our choice, not the paper's: quieter than -40 dB relative to the peak
sits below speech but above the recording noise floor of typical read-speech corpora; the
value is a command-line option and is recorded with every result. The per-clip table is cached
beside the split's features and reused only while the manifest and the settings are unchanged."""

import json
from pathlib import Path

import librosa
import numpy as np
import pandas as pd

from deepfake_pipeline.baseline import DEFAULT_TOP_DB  # noqa: E402
from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.progress import Progress
from deepfake_pipeline.formats.manifest import manifest_sha256
from deepfake_pipeline.formats.wavestore import SAMPLE_RATE, WaveStore

FRAME_LENGTH = 2048
HOP_LENGTH = 512
SILENCE_COLUMNS = ["duration_s", "leading_silence_s", "trailing_silence_s"]


def clip_silence(waveform: np.ndarray, top_db: float = DEFAULT_TOP_DB, sample_rate: int = SAMPLE_RATE) -> tuple:
    """(duration, leading silence, trailing silence) in seconds."""
    waveform = np.asarray(waveform, dtype=np.float32)
    n = len(waveform)
    if not np.any(waveform):
        # All-zero clip: librosa trims nothing (every frame equals the peak); it is all silence.
        return n / sample_rate, n / sample_rate, 0.0
    _, (start, end) = librosa.effects.trim(waveform, top_db=top_db, frame_length=FRAME_LENGTH, hop_length=HOP_LENGTH)
    return n / sample_rate, int(start) / sample_rate, (n - int(end)) / sample_rate


def _cache_paths(split_id, processed_dir, top_db) -> tuple:
    folder = Path(processed_dir) / split_id
    stem = f"silence_top_db{top_db:g}"
    return folder / f"{stem}.csv", folder / f"{stem}.json"


def silence_table(split_dir, processed_dir, top_db: float = DEFAULT_TOP_DB, use_cache: bool = True) -> pd.DataFrame:
    """Per clip of the split, in manifest order: utt_id, duration_s, leading_silence_s,
    trailing_silence_s, computed from the waveform store (the audio every feature saw)."""
    store = WaveStore(split_dir)
    split_id = Path(split_dir).name
    settings = {
        "manifest_sha256": manifest_sha256(split_dir),
        "top_db": float(top_db),
        "frame_length": FRAME_LENGTH,
        "hop_length": HOP_LENGTH,
        "librosa": librosa.__version__,  # type: ignore[attr-defined]  # set by librosa's lazy loader
    }
    table_path, meta_path = _cache_paths(split_id, processed_dir, top_db)
    if use_cache and table_path.is_file() and meta_path.is_file():
        if json.loads(meta_path.read_text()) == settings:
            table = pd.read_csv(table_path, dtype={"utt_id": str}, keep_default_na=False)
            if table["utt_id"].tolist() == store.manifest["utt_id"].tolist():
                return table
    progress = Progress(f"silence {split_id}", len(store))
    rows = []
    for i in range(len(store)):
        waveform = store.waveform(i)
        rows.append(clip_silence(waveform, top_db))
        progress.update(1, audio_seconds=len(waveform) / SAMPLE_RATE)
    table = pd.DataFrame(rows, columns=SILENCE_COLUMNS)
    table.insert(0, "utt_id", store.manifest["utt_id"].to_numpy())
    if use_cache:
        atomic.make_dirs(table_path.parent)
        atomic.write_csv(table, table_path)
        atomic.write_text(meta_path, json.dumps(settings, indent=1))
    return table


def silence_view(split_dir, processed_dir, top_db: float = DEFAULT_TOP_DB, rows=None) -> dict:
    """The shortcut's feature view of a split, ready for `logreg`: {"silence": (clips, 3)};
    `rows`: the manifest positions of the clips evaluated (all by default)."""
    table = silence_table(split_dir, processed_dir, top_db)
    values = table[SILENCE_COLUMNS].to_numpy(dtype=np.float64)
    return {"silence": values if rows is None else values[rows]}


def silence_view_of(split, processed_dir, top_db: float = DEFAULT_TOP_DB) -> dict:
    """`silence_view` of the clips of a feature_sets.SplitFeatures; of a union of training
    splits (formats/split_union.py), its members' stacked in its order."""
    members = split.members or (split,)
    return {
        "silence": np.concatenate(
            [silence_view(m.split_dir, processed_dir, top_db, m.rows)["silence"] for m in members]
        )
    }
