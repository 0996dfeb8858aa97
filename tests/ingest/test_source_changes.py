"""Step 1 records each source file's size and modification time and refuses to reuse or resume
a split whose sources changed since, naming the files and saying to pass --overwrite."""

import os

import pandas as pd
import pytest
from audio_factory import write_clip

from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.formats.manifest import read_manifest

SPLIT = "mine_all"


def _corpus(root, n=3):
    for i in range(n):
        write_clip(root / ("real" if i % 2 == 0 else "fake") / f"c{i:02d}.wav", seconds=0.5, seed=i)
    return root


def _run(root, out, *extra):
    return preprocess(["--corpus", "folder", "--root", str(root), "--interim-dir", str(out), "--jobs", "1", *extra])


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_manifest_records_each_source_size_and_mtime(tmp_path):
    root = _corpus(tmp_path / "mine")
    assert _run(root, tmp_path / "out") == 0
    manifest = read_manifest(tmp_path / "out" / SPLIT)
    for row in manifest.itertuples():
        stat = os.stat(row.source_path)
        assert int(row.source_bytes) == stat.st_size and int(row.source_mtime_ns) == stat.st_mtime_ns


@pytest.mark.parametrize("same_size", [False, True])
def test_rerun_refuses_a_replaced_source(tmp_path, capsys, same_size):
    root = _corpus(tmp_path / "mine")
    assert _run(root, tmp_path / "out") == 0
    before = read_manifest(tmp_path / "out" / SPLIT).set_index("utt_id")["audio_sha1"]
    replaced = root / "fake" / "c01.wav"
    stat = replaced.stat()
    write_clip(replaced, seconds=0.5 if same_size else 0.7, seed=99)
    assert (replaced.stat().st_size == stat.st_size) == same_size
    os.utime(replaced, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5 * 10**9))
    capsys.readouterr()
    assert _run(root, tmp_path / "out") == 2
    line = _one_error_line(capsys)
    assert str(replaced) in line and "--overwrite" in line and "c00" not in line
    assert _run(root, tmp_path / "out", "--overwrite") == 0
    after = read_manifest(tmp_path / "out" / SPLIT).set_index("utt_id")["audio_sha1"]
    assert after["fake_c01"] != before["fake_c01"] and after["real_c00"] == before["real_c00"]


def test_resume_refuses_a_source_replaced_in_a_finished_shard(tmp_path, capsys):
    root = _corpus(tmp_path / "mine", n=20)  # shards of 8 clips: 3 shards
    split_dir = tmp_path / "out" / SPLIT
    assert _run(root, tmp_path / "out") == 0
    # As a run killed before its last shard leaves it: no info.json, no manifest, shard 2 undone.
    for name in ("info.json", "manifest.csv", "rejects.csv", "parts/shard_00002.csv", "waves/shard_00002.npy"):
        (split_dir / name).unlink()
    first = sorted(pd.read_csv(split_dir / "parts" / "shard_00000.csv")["source_path"])[0]
    write_clip(first, seconds=0.9, seed=77)
    capsys.readouterr()
    assert _run(root, tmp_path / "out") == 2
    line = _one_error_line(capsys)
    assert first in line and "--overwrite" in line
    assert not (split_dir / "info.json").exists()


def test_a_missing_source_that_appears_later_is_a_change(tmp_path, capsys):
    write_clip(tmp_path / "a.wav", seed=1)
    (tmp_path / "list.csv").write_text("path,label\na.wav,real\ngone.wav,fake\n")
    args = [
        "--corpus",
        "csv",
        "--root",
        str(tmp_path / "list.csv"),
        "--name",
        "mine",
        "--interim-dir",
        str(tmp_path / "out"),
        "--jobs",
        "1",
    ]
    assert preprocess(args) == 0
    assert "missing" in (tmp_path / "out" / SPLIT / "rejects.csv").read_text()
    write_clip(tmp_path / "gone.wav", seed=5)
    capsys.readouterr()
    assert preprocess(args) == 2
    line = _one_error_line(capsys)
    assert "gone.wav" in line and "a.wav" not in line.replace("gone.wav", "")
