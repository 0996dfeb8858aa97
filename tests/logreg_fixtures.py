"""Builders of tiny corpus splits with the files steps 1 and 2 write (manifest, waveform shard,
info.json, spectral.csv, embeddings + metadata), for the step-3 tests. The features are drawn
directly, not computed from the audio, so each test decides exactly where the signal lies."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_pipeline import __version__
from deepfake_pipeline.formats.feature_files import (
    FEATURE_COLUMNS,
    SPECTRAL_COLUMNS,
    embeddings_paths,
    model_tag,
    write_embeddings,
    write_spectral,
)
from deepfake_pipeline.formats.manifest import MANIFEST_COLUMNS, manifest_sha256
from deepfake_pipeline.formats.model_identity import identify
from deepfake_pipeline.formats.wavestore import STORE_DTYPE, write_shard

SR = 16000


def _clip(rng, lead_s, speech_s, trail_s):
    """Near-silent padding (about -80 dB) around a burst of noise standing in for speech."""
    parts = [
        rng.normal(0, 1e-5, int(lead_s * SR)),
        rng.normal(0, 0.3, int(speech_s * SR)),
        rng.normal(0, 1e-5, int(trail_s * SR)),
    ]
    return np.clip(np.concatenate(parts), -1, 1)


def make_split(
    interim_dir,
    processed_dir,
    split_id,
    labels,
    speakers,
    attacks=None,
    *,
    seed=0,
    demo=False,
    silence_leak=False,
    spectral=None,
    embeddings=None,
    model="random:base",
    embed_meta=None,
    silences=None,
):
    """Write one split. `spectral`: (n, 15) array or None; `embeddings`: (n, layers, dim) or None.
    With `silence_leak`, bona fide clips get 0.4 s of leading silence and spoofed ones 0.05 s;
    without it both draw the same amount. `silences`: (n, 3) seconds of leading silence, speech
    and trailing silence per clip, instead of drawn ones. Returns the split folder."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=int)
    n = len(labels)
    attacks = attacks if attacks is not None else ["-" if y == 0 else f"A0{1 + i % 2}" for i, y in enumerate(labels)]
    split_dir = Path(interim_dir) / split_id
    (split_dir / "waves").mkdir(parents=True, exist_ok=True)
    samples, rows, offset = [], [], 0
    for i in range(n):
        if silences is not None:
            wave = _clip(rng, *silences[i])
        else:
            if silence_leak:
                lead = 0.4 if labels[i] == 0 else 0.05
            else:
                lead = rng.uniform(0.05, 0.4)
            wave = _clip(rng, lead, rng.uniform(0.3, 0.5), rng.uniform(0.05, 0.2))
        # The levels a 16-bit file would hold, stored as the float32 the store keeps.
        pcm = np.round(wave * 32767).astype(np.int16).astype(np.float32) / 32768
        samples.append(pcm)
        utt = f"{split_id}_{i:04d}"
        rows.append(
            {
                "utt_id": utt,
                "corpus": split_id.rsplit("_", 1)[0],
                "split": split_id.rsplit("_", 1)[-1],
                "label": int(labels[i]),
                "attack": attacks[i],
                "speaker": speakers[i],
                "source_path": f"/audio/{utt}.flac",
                "duration_s": len(pcm) / SR,
                "orig_sr": SR,
                "num_samples": len(pcm),
                "shard": 0,
                "offset": offset,
                "audio_sha1": hashlib.sha1(pcm.tobytes()).hexdigest(),
            }
        )
        offset += len(pcm)
    write_shard(split_dir, 0, np.concatenate(samples))
    pd.DataFrame(rows, columns=MANIFEST_COLUMNS).to_csv(split_dir / "manifest.csv", index=False)
    (split_dir / "info.json").write_text(
        json.dumps(
            {
                "corpus": rows[0]["corpus"],
                "split": rows[0]["split"],
                "split_id": split_id,
                "demo": demo,
                "store_dtype": STORE_DTYPE,
            }
        )
    )
    out = Path(processed_dir) / split_id
    out.mkdir(parents=True, exist_ok=True)
    if spectral is not None:
        table = pd.DataFrame(np.asarray(spectral, dtype=float), columns=FEATURE_COLUMNS)
        table.insert(0, "label", labels)
        table.insert(0, "file", [r["utt_id"] for r in rows])
        write_spectral(
            table[SPECTRAL_COLUMNS],
            out / "spectral.csv",
            {
                "kind": "spectral",
                "manifest_sha256": manifest_sha256(split_dir),
                "code_version": __version__,
                "num_clips": n,
                "split_id": split_id,
                "demo": demo,
            },
        )
    if embeddings is not None:
        embeddings = np.asarray(embeddings, dtype=np.float16)
        array_path, meta_path = embeddings_paths(split_id, model_tag(model), processed_dir)
        array_path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "model": model,
            "revision": None,
            "untrained": model.startswith("random:"),
            "arch": "base",
            "precision": "float32",
            "dtype": "float16",
            "layers": list(range(embeddings.shape[1])),
            "pooling": "mean",
            "sample_rate": SR,
            "dim": int(embeddings.shape[2]),
            "manifest_sha256": manifest_sha256(split_dir),
            "code_version": __version__,
            "model_identity": identify(model).as_json(),
            "num_clips": n,
            "split_id": split_id,
            "demo": demo,
        }
        meta.update(embed_meta or {})
        write_embeddings(array_path, meta_path, embeddings, meta)
    return split_dir


def retie_spectral(processed_dir, split_dir):
    """After a test changes only manifest columns that are not audio (conditions, duplicate_of),
    the spectral features stay right: bring their record of the manifest up to date, as readers
    refuse features computed from another manifest."""
    split_dir = Path(split_dir)
    path = Path(processed_dir) / split_dir.name / "spectral.csv"
    meta = json.loads(path.with_suffix(".json").read_text())
    write_spectral(
        pd.read_csv(path, dtype={"file": str}, keep_default_na=False),
        path,
        {**meta, "manifest_sha256": manifest_sha256(split_dir)},
    )


def balanced_design(n_speakers, per_speaker, seed=0):
    """Labels and speakers: every speaker has bona fide and spoofed clips (as in ASVspoof)."""
    rng = np.random.default_rng(seed)
    speakers = np.repeat([f"SPK{s:03d}" for s in range(n_speakers)], per_speaker)
    labels = np.tile(np.array([0, 1] * (per_speaker // 2) + [1] * (per_speaker % 2)), n_speakers)
    order = rng.permutation(len(labels))
    return labels[order], speakers[order]


def informative(labels, n_features, signal_columns, strength=1.5, seed=0):
    """Gaussian features; `signal_columns` are shifted by `strength` for bona fide clips."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(labels), n_features))
    for column in signal_columns:
        x[:, column] += strength * (np.asarray(labels) == 0)
    return x


def layered(labels, n_layers, dim, signal_layer, strength=1.5, seed=0):
    """(n, n_layers, dim) embeddings where only `signal_layer` separates the classes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(labels), n_layers, dim))
    x[:, signal_layer, :3] += strength * (np.asarray(labels) == 0)[:, None]
    return x


def prefers_other_C_on_test(n, seed, test_like: bool, n_columns=4):
    """Data on which dev and test prefer different C. Train/dev: f1 = label signal + large
    shared noise, f2 = that shared noise; weak regularisation learns f1 - f2, cancelling the
    noise, while strong regularisation keeps about f1 alone. Test (`test_like`): f1 carries
    little shared noise and f2 is independent noise, so f1 - f2 is the worse rule there.
    Columns beyond the first two are zero (they carry nothing). Returns (x, labels)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    shared = rng.normal(0, 0.5 if test_like else 3, n)
    # Equal class means of the shared noise, so that strong regularisation (weights following
    # each column's class-mean difference) gives f2 no weight at all.
    for label in (0, 1):
        shared[labels == label] -= shared[labels == label].mean()
    f1 = 1.0 * (labels == 0) + shared + rng.normal(0, 0.3, n)
    f2 = rng.normal(0, 3, n) if test_like else shared
    x = np.zeros((n, n_columns))
    x[:, 0], x[:, 1] = f1, f2
    return x, labels


def silence_features_by_hand(split_dir):
    """(duration, leading silence, trailing silence) per clip, from the stored samples with
    librosa.effects.trim at the shortcut's documented settings (top_db 40, frame 2048, hop 512)."""
    import librosa

    split_dir = Path(split_dir)
    manifest = pd.read_csv(split_dir / "manifest.csv")
    rows = []
    for shard, offset, length in zip(manifest["shard"], manifest["offset"], manifest["num_samples"], strict=True):
        samples = np.array(
            np.load(split_dir / "waves" / f"shard_{shard:05d}.npy", mmap_mode="r")[offset : offset + length]
        )
        _, (start, end) = librosa.effects.trim(samples, top_db=40, frame_length=2048, hop_length=512)
        rows.append((length / 16000, start / 16000, (length - end) / 16000))
    return np.array(rows), manifest["label"].to_numpy()


def sklearn_logreg(C):
    """Step 3's model as sklearn spells it: StandardScaler + LogisticRegression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression(C=C, max_iter=5000, random_state=0))])


def silence_only_auc_by_hand(interim_dir, train, dev, test, C_grid) -> float:
    """Step 3's silence-only shortcut computed here: sklearn fitted on train's silences for each
    C, the C with the best dev ROC-AUC (the smaller on a tie), its ROC-AUC on test."""
    from sklearn.metrics import roc_auc_score

    features = {name: silence_features_by_hand(Path(interim_dir) / name) for name in (train, dev, test)}
    best = None
    for C in sorted(C_grid):
        model = sklearn_logreg(C).fit(*features[train])
        x, labels = features[dev]
        auc = roc_auc_score(labels == 0, -model.decision_function(x))
        if best is None or auc > best[0]:
            best = (auc, model)
    x, labels = features[test]
    return float(roc_auc_score(labels == 0, -best[1].decision_function(x)))
