"""A run killed with SIGKILL at any point and started again with the same command ends with the
same manifests and store as an uninterrupted run."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from audio_factory import write_asvspoof_layout, write_clip
from write_watch import RenameOnlyWatch

from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.common.faults import CRASH_ENV

REPO_ROOT = Path(__file__).resolve().parent.parent
SPLIT = "asvspoof2019_dev"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    write_asvspoof_layout(root, splits=("dev",), per_split=30)
    (root / "LA" / "ASVspoof2019_LA_dev" / "flac" / "LA_D_1000007.flac").write_bytes(b"corrupt")
    reference = tmp_path_factory.mktemp("reference")
    assert preprocess(["--corpus", "asvspoof2019", "--root", str(root), "--splits", "dev",
                       "--interim-dir", str(reference), "--jobs", "1"]) == 0
    return root, reference / SPLIT


def _run(root, out, jobs, crash_after=None):
    env = dict(os.environ)
    env.pop(CRASH_ENV, None)
    if crash_after is not None:
        env[CRASH_ENV] = str(crash_after)
    # Output goes to a file, not a pipe: pool workers of a killed parent may linger a while
    # holding inherited pipes open, and a pipe would make us wait for them.
    log = out.parent / f"{out.name}-{crash_after}.log"
    with open(log, "w") as handle:
        process = subprocess.run(
            [sys.executable, str(REPO_ROOT / "preprocess_datasets.py"), "--corpus", "asvspoof2019",
             "--root", str(root), "--splits", "dev", "--interim-dir", str(out), "--jobs", str(jobs)],
            env=env, stdout=handle, stderr=subprocess.STDOUT)
    process.stdout = process.stderr = log.read_text()
    return process


def _snapshot(split_dir):
    files = {}
    for path in sorted(Path(split_dir).rglob("*")):
        if path.is_file() and path.parent.name != "parts":
            files[str(path.relative_to(split_dir))] = path.read_bytes()
    return files


# Four file events per shard (tmp written, renamed; rows tmp written, renamed) and 4 shards of
# 8 clips: these kill points fall mid-write, between the two renames, and between shards.
@pytest.mark.parametrize("jobs,crash_after", [(1, 1), (1, 2), (1, 7), (1, 13), (2, 2)])
def test_killed_run_resumes_to_identical_output(corpus, tmp_path, jobs, crash_after):
    root, reference = corpus
    killed = _run(root, tmp_path / "out", jobs, crash_after)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp_path / "out" / SPLIT / "manifest.csv").exists()
    resumed = _run(root, tmp_path / "out", jobs)
    assert resumed.returncode == 0, resumed.stderr
    if crash_after > 2:
        assert "resuming" in resumed.stderr
    assert not list((tmp_path / "out" / SPLIT).rglob("*.tmp*"))
    assert _snapshot(tmp_path / "out" / SPLIT) == _snapshot(reference)


def test_parallel_run_matches_serial_run(corpus, tmp_path):
    root, reference = corpus
    assert _run(root, tmp_path / "out", 2).returncode == 0
    assert _snapshot(tmp_path / "out" / SPLIT) == _snapshot(reference)


def test_changed_inputs_are_refused_not_mixed(corpus, tmp_path, capsys):
    root, _ = corpus
    args = ["--corpus", "asvspoof2019", "--root", str(root), "--splits", "dev",
            "--interim-dir", str(tmp_path), "--jobs", "1"]
    assert preprocess(args) == 0
    assert preprocess(args + ["--min-duration", "0.6"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert preprocess(args + ["--min-duration", "0.6", "--overwrite"]) == 0
    assert "too_short" in (tmp_path / SPLIT / "rejects.csv").read_text()


def test_every_file_appears_by_a_rename_never_written_in_place(corpus, tmp_path, monkeypatch):
    """A shard's samples and rows must be written to temporaries and renamed: a kill during an
    in-place write would leave a half-written part that the rerun takes as done."""
    root, reference = corpus
    watch = RenameOnlyWatch(monkeypatch, tmp_path / "out")
    assert preprocess(["--corpus", "asvspoof2019", "--root", str(root), "--splits", "dev",
                       "--interim-dir", str(tmp_path / "out"), "--jobs", "1"]) == 0
    assert watch.finish() == []
    assert len(watch.renamed_matching("waves/shard_*.npy")) == len(watch.renamed_matching("parts/shard_*.csv")) == 4
    assert watch.checks > 8          # checked at every rename and between every write and its rename
    assert _snapshot(tmp_path / "out" / SPLIT) == _snapshot(reference)


@pytest.mark.parametrize("column,value", [("label", "bonafide"), ("speaker", "SPK_other"), ("attack", "A09"),
                                          (None, None)])
def test_a_rerun_with_one_label_speaker_or_attack_changed_is_refused(tmp_path, capsys, column, value):
    """Same clips, same split, one field of one clip changed: the first run's shards were made
    for other clip lists, so the rerun must refuse rather than mix (None: nothing changed, the
    rerun is accepted)."""
    rows = [{"path": str(write_clip(tmp_path / "audio" / f"c{i}.wav", seconds=0.5, seed=i)),
             "label": "spoof" if i % 2 else "bonafide", "speaker": f"SPK{i % 2}", "attack": "A01" if i % 2 else "-"}
            for i in range(4)]
    listing = tmp_path / "clips.csv"
    pd.DataFrame(rows).to_csv(listing, index=False)
    args = ["--corpus", "csv", "--root", str(listing), "--name", "mine", "--interim-dir", str(tmp_path / "out"),
            "--jobs", "1"]
    assert preprocess(args) == 0
    manifest = (tmp_path / "out" / "mine_all" / "manifest.csv").read_bytes()
    capsys.readouterr()
    if column is not None:
        assert rows[1][column] != value
        rows[1][column] = value
    pd.DataFrame(rows).to_csv(listing, index=False)
    if column is None:
        assert preprocess(args) == 0
    else:
        assert preprocess(args) == 2
        assert "different inputs" in capsys.readouterr().err
    assert (tmp_path / "out" / "mine_all" / "manifest.csv").read_bytes() == manifest
