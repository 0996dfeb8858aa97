"""A split none of whose clips can be used (issue 17): step 1 writes its rejects.csv and stops in
one line counting the reasons, after finishing the corpus's other splits, and leaves no resume
state that would refuse the rerun once the clips are fixed; `eval_logreg.py --score` on files
that are all rejected lists each one with its reason and exits 1. Never a traceback."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_factory import write_clip

from deepfake_pipeline.cli import eval_logreg as eval_logreg_cli
from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.formats.manifest import read_rejects


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _bad_clips(folder: Path) -> list:
    """Two empty files and one silent clip."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "b0.wav").write_bytes(b"")
    (folder / "b1.wav").write_bytes(b"")
    sf.write(folder / "b2.wav", np.zeros(8000, np.float32), 16000)
    return [folder / f"b{i}.wav" for i in range(3)]


def _step1(csv, interim):
    return ["--corpus", "csv", "--root", str(csv), "--name", "toy", "--interim-dir", str(interim), "--jobs", "1"]


def _expect_refusal(capsys, returned, line):
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, captured.err
    assert returned == 2, captured.err
    assert _last_line(captured.err) == line
    return captured


def test_a_split_whose_every_clip_is_rejected_says_why_and_reruns_once_fixed(tmp_path, capsys):
    bad = _bad_clips(tmp_path / "clips")
    csv = tmp_path / "clips" / "clips.csv"
    csv.write_text("path,label\nb0.wav,real\nb1.wav,fake\nb2.wav,fake\n")
    interim = tmp_path / "interim"
    split_dir = interim / "toy_all"
    _expect_refusal(
        capsys,
        preprocess(_step1(csv, interim)),
        f"error: every one of the 3 clips of toy_all was rejected (empty 2, silent 1): see "
        f"{split_dir / 'rejects.csv'}, fix or replace those clips and rerun the same command",
    )
    rejects = read_rejects(split_dir)
    assert sorted(rejects["reason"]) == ["empty", "empty", "silent"]
    assert not (split_dir / "info.json").exists() and not (split_dir / "manifest.csv").exists()
    assert not (split_dir / "plan.json").exists(), "a plan left behind would refuse a corrected clip list"
    assert not (interim / "toy_all.lock").exists()

    # The clips fixed in place (same list, same paths): the same command now finishes the split.
    for i, path in enumerate(bad):
        write_clip(path, seconds=0.4, seed=i)
    assert preprocess(_step1(csv, interim)) == 0, capsys.readouterr().err
    info = json.loads((split_dir / "info.json").read_text())
    assert info["num_clips"] == 3 and info["num_rejected"] == 0
    assert read_rejects(split_dir).empty


def test_the_other_splits_are_finished_before_the_empty_one_is_named(tmp_path, capsys):
    folder = tmp_path / "clips"
    _bad_clips(folder)
    rows = ["path,label,split", *(f"b{i}.wav,{'real' if i % 2 else 'fake'},bad" for i in range(3))]
    for i in range(4):
        write_clip(folder / f"g{i}.wav", seconds=0.4, seed=i)
        rows.append(f"g{i}.wav,{'real' if i % 2 else 'fake'},good")
    (folder / "clips.csv").write_text("\n".join(rows) + "\n")
    interim = tmp_path / "interim"
    captured = _expect_refusal(
        capsys,
        preprocess(_step1(folder / "clips.csv", interim)),
        f"error: every one of the 3 clips of toy_bad was rejected (empty 2, silent 1): see "
        f"{interim / 'toy_bad' / 'rejects.csv'}, fix or replace those clips and rerun the same command",
    )
    assert json.loads((interim / "toy_good" / "info.json").read_text())["num_clips"] == 4
    assert "PREPROCESS split=toy_good clips=4" in captured.out
    assert not (interim / "toy_bad" / "info.json").exists()


@pytest.fixture(scope="module")
def spectral_run(tmp_path_factory):
    from logreg_fixtures import balanced_design, informative, make_split

    root = tmp_path_factory.mktemp("run")
    for i, split in enumerate(["toy_train", "toy_dev", "toy_eval"]):
        labels, speakers = balanced_design(4, 6, seed=i)
        make_split(
            root / "interim",
            root / "processed",
            split,
            labels,
            speakers,
            seed=i,
            spectral=informative(labels, 15, [0, 1], seed=10 + i),
        )
    assert (
        eval_logreg_cli.main(
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
                "--interim-dir",
                str(root / "interim"),
                "--processed-dir",
                str(root / "processed"),
                "--results-dir",
                str(root / "results"),
            ]
        )
        == 0
    )
    return root / "results" / "r"


@pytest.mark.slow
def test_scoring_an_empty_file_lists_it_as_rejected(spectral_run, tmp_path, capsys):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    capsys.readouterr()
    returned = eval_logreg_cli.main(["--score", str(empty), "--from-run", str(spectral_run)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, captured.err
    assert returned == 1
    # below the run's caveats and what the score means ("[eval_logreg --score] ..." lines)
    per_clip = [line for line in captured.out.splitlines() if not line.startswith("[eval_logreg --score]")]
    assert per_clip == [f"{empty.resolve()} rejected: empty (the file has 0 bytes)"]
