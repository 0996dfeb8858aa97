"""Long clips in bounded memory (issue 11): step 1 rejects a clip above --max-duration (reason
too_long, its duration in rejects.csv, nothing of it in the store) and keeps it when the limit is
raised; step 2 refuses, in one line, a stored clip whose forward pass would not fit the memory
budget, before any work."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
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
    return preprocess(["--corpus", "folder", "--root", str(root), "--interim-dir", str(interim), "--jobs", "1", *extra])


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
    assert "rejected 1 clips (too_long 1)" in out  # the summary counts them
    store = WaveStore(split_dir)  # not decoded into the store
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
    assert (
        features(
            [
                "--splits",
                "corpus_all",
                "--interim-dir",
                str(raised),
                "--processed-dir",
                str(tmp_path / "processed"),
                "--model",
                "random:tiny",
                "--memory-gb",
                "1",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "Traceback" not in err, err
    assert "corpus_all" in error_lines[0] and f"lasts {LONG_S:.1f} s" in error_lines[0]
    assert "--memory-gb" in error_lines[0] and "--max-duration" in error_lines[0]
    assert not (tmp_path / "processed" / "corpus_all" / "spectral.csv").exists()


def test_max_duration_must_exceed_min_duration(tmp_path, capsys):
    assert _step1(tmp_path, tmp_path / "interim", "--max-duration", "0.1") == 2
    assert "--max-duration" in capsys.readouterr().err


def _stored_by_source(split_dir):
    store = WaveStore(split_dir)
    return {Path(row.source_path).name: (row, store.waveform(i)) for i, row in enumerate(store.manifest.itertuples())}


def test_crop_keeps_a_long_clip_as_its_first_seconds_and_records_what_was_cut(tmp_path, capsys):
    """The field's fixed-length front end (AASIST, RawNet2: the first 64,600 samples) instead of
    losing the clip; the kept samples are the file's own, read here with soundfile."""
    root = tmp_path / "corpus"
    _corpus(root)
    interim = tmp_path / "interim"
    assert _step1(root, interim, "--crop", "1.1") == 0
    split_dir = interim / "corpus_all"
    rows = _stored_by_source(split_dir)
    assert sorted(rows) == ["long.wav", "short0.wav", "short1.wav", "short2.wav", "short3.wav"]
    source, _ = sf.read(root / "fake" / "long.wav", dtype="float32")
    row, kept = rows["long.wav"]
    np.testing.assert_array_equal(kept, source[:17600])  # 1.1 s at 16 kHz
    assert (row.duration_s, float(row.source_duration_s), float(row.crop_start_s)) == (1.1, LONG_S, 0.0)
    row, kept = rows["short0.wav"]  # 1.0 s: shorter than the crop
    np.testing.assert_array_equal(kept, sf.read(root / "real" / "short0.wav", dtype="float32")[0])
    assert (float(row.source_duration_s), float(row.crop_start_s)) == (1.0, 0.0)
    assert json.loads((split_dir / "info.json").read_text())["crop"] == {"seconds": 1.1, "at": "start"}
    assert not (split_dir / "rejects.csv").read_text().strip().count("\n")

    centred = tmp_path / "centred"
    assert _step1(root, centred, "--crop", "1.1", "--crop-at", "centre") == 0
    row, kept = _stored_by_source(centred / "corpus_all")["long.wav"]
    start = (len(source) - 17600) // 2
    np.testing.assert_array_equal(kept, source[start : start + 17600])
    assert float(row.crop_start_s) == round(start / 16000, 4)

    # another crop on the same output is a changed input: refused, not mixed in
    capsys.readouterr()
    assert _step1(root, interim, "--crop", "2") == 2
    assert "crop" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, says",
    [
        (["--crop", "0.1"], "--crop 0.1 must lie between --min-duration (0.25) and --max-duration (60) seconds"),
        (["--crop", "90"], "--crop 90 must lie between --min-duration (0.25) and --max-duration (60) seconds"),
        (["--crop-at", "centre"], "--crop-at says where --crop cuts: give --crop SECONDS too"),
    ],
)
def test_crop_arguments_that_cannot_work_stop_at_once(tmp_path, capsys, args, says):
    assert _step1(tmp_path / "nowhere", tmp_path / "interim", *args) == 2
    assert f"error: {says}" in capsys.readouterr().err


@pytest.mark.slow
def test_score_takes_step_1s_length_options(tmp_path, capsys):
    from logreg_fixtures import balanced_design, informative, make_split

    from deepfake_pipeline.cli.eval_logreg import main as eval_logreg

    dirs = {name: tmp_path / name for name in ("interim", "processed", "results")}
    for i, split in enumerate(("train", "dev", "eval")):
        labels, speakers = balanced_design(4, 6, seed=i)
        make_split(
            dirs["interim"],
            dirs["processed"],
            f"toy_{split}",
            labels,
            speakers,
            seed=i,
            spectral=informative(labels, 15, [0], seed=10 + i),
        )
    assert (
        eval_logreg(
            [
                "--features",
                "spectral",
                "--train",
                "toy_train",
                "--dev",
                "toy_dev",
                "--test",
                "toy_eval",
                "--run",
                "r",
                "--n-boot",
                "0",
                "--C-grid",
                "1",
                *(f"--{k}-dir={v}" for k, v in dirs.items()),
            ]
        )
        == 0
    )
    root = tmp_path / "corpus"
    _corpus(root)
    long_clip = root / "fake" / "long.wav"
    capsys.readouterr()
    assert eval_logreg(["--score", str(long_clip), "--from-run", str(dirs["results"] / "r")]) == 1
    assert f"{long_clip} rejected: too_long ({LONG_S:.1f} s > 60 s (--max-duration))" in capsys.readouterr().out
    assert eval_logreg(["--score", str(long_clip), "--from-run", str(dirs["results"] / "r"), "--crop", "4"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("[eval_logreg --score]")]
    assert line.startswith(f"{long_clip} score=")
    assert eval_logreg(["--features", "spectral", "--cv", "toy_eval", "--crop", "4"]) == 2
    assert "--min-duration/--max-duration/--crop/--crop-at apply to --score only" in capsys.readouterr().err
