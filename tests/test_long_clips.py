"""Long clips in bounded memory (issue 11): step 1 rejects a clip above --max-duration (reason
too_long, its duration in rejects.csv, nothing of it in the store) and keeps it when the limit is
raised; step 2 refuses, in one line, a stored clip whose forward pass would not fit the memory
budget, before any work."""

import numpy as np
import pandas as pd
import soundfile as sf
from audio_factory import write_clip

from deepfake_pipeline.cli.features import main as features
from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.formats.wavestore import WaveStore

LONG_S = 150.0


def _corpus(root):
    for i, folder in enumerate(("real", "real", "fake", "fake")):
        write_clip(root / folder / f"short{i}.wav", seconds=1.0 + 0.2 * i, seed=i)
    # A few minutes of cheap audio: a tone with a little noise, 16-bit PCM.
    t = np.arange(int(LONG_S * 16000)) / 16000
    tone = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.01 * np.random.default_rng(0).standard_normal(len(t))
    sf.write(root / "fake" / "long.wav", tone.astype(np.float32), 16000, subtype="PCM_16")


def _step1(root, interim, *extra):
    return preprocess(["--corpus", "folder", "--root", str(root), "--interim-dir", str(interim),
                       "--jobs", "1", *extra])


def test_a_clip_over_max_duration_is_rejected_with_its_duration_and_kept_when_raised(tmp_path, capsys):
    root = tmp_path / "corpus"
    _corpus(root)
    assert _step1(root, tmp_path / "interim") == 0
    out = capsys.readouterr().out
    split_dir = tmp_path / "interim" / "corpus_all"
    manifest = pd.read_csv(split_dir / "manifest.csv", dtype=str, keep_default_na=False)
    rejects = pd.read_csv(split_dir / "rejects.csv", dtype=str, keep_default_na=False)
    assert len(manifest) == 4 and not manifest["source_path"].str.endswith("long.wav").any()
    assert rejects["reason"].tolist() == ["too_long"]
    assert rejects["source_path"].iloc[0].endswith("long.wav")
    assert f"{LONG_S:.1f} s > 60 s" in rejects["detail"].iloc[0]
    assert "rejected 1 clips (too_long 1)" in out           # the summary counts them
    store = WaveStore(split_dir)                             # not decoded into the store
    stored = sum(np.load(p, mmap_mode="r").shape[0] for p in (split_dir / "waves").glob("shard_*.npy"))
    assert stored == manifest["num_samples"].astype(int).sum() < 10 * 16000
    assert max(len(store.waveform(i)) for i in range(len(store))) < 2 * 16000

    raised = tmp_path / "interim_raised"
    assert _step1(root, raised, "--max-duration", "200") == 0
    manifest = pd.read_csv(raised / "corpus_all" / "manifest.csv", dtype=str, keep_default_na=False)
    long_row = manifest[manifest["source_path"].str.endswith("long.wav")]
    assert len(long_row) == 1 and float(long_row["duration_s"].iloc[0]) == LONG_S
    assert not (raised / "corpus_all" / "rejects.csv").read_text().strip().count("\n")

    # Step 2 refuses that clip in one line when the memory budget cannot hold its forward pass.
    capsys.readouterr()
    assert features(["--splits", "corpus_all", "--interim-dir", str(raised), "--processed-dir",
                     str(tmp_path / "processed"), "--model", "random:tiny", "--memory-gb", "1"]) == 2
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "Traceback" not in err, err
    assert "corpus_all" in error_lines[0] and f"lasts {LONG_S:.1f} s" in error_lines[0]
    assert "--memory-gb" in error_lines[0] and "--max-duration" in error_lines[0]
    assert not (tmp_path / "processed" / "corpus_all" / "spectral.csv").exists()


def test_max_duration_must_exceed_min_duration(tmp_path, capsys):
    assert _step1(tmp_path, tmp_path / "interim", "--max-duration", "0.1") == 2
    assert "--max-duration" in capsys.readouterr().err
