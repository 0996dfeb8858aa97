"""Step 1's resume and records: a run killed with SIGKILL at any point and started again with the
same command ends with the same manifests and store as an uninterrupted run; info.json's counts,
plan.json and the refusal of changed inputs, written out by hand."""

import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from audio_factory import write_asvspoof_layout, write_clip
from write_watch import RenameOnlyWatch

from deepfake_pipeline import __version__
from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.common.faults import CRASH_ENV
from deepfake_pipeline.formats.manifest import read_manifest
from deepfake_pipeline.formats.wavestore import read_info
from deepfake_pipeline.ingest.shards import ClipSpec, PlanMismatch, ingest_split, shard_size_for

REPO_ROOT = Path(__file__).resolve().parents[2]
SPLIT = "asvspoof2019_dev"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    write_asvspoof_layout(root, splits=("dev",), per_split=30)
    (root / "LA" / "ASVspoof2019_LA_dev" / "flac" / "LA_D_1000007.flac").write_bytes(b"corrupt")
    reference = tmp_path_factory.mktemp("reference")
    assert (
        preprocess(
            [
                "--corpus",
                "asvspoof2019",
                "--root",
                str(root),
                "--splits",
                "dev",
                "--interim-dir",
                str(reference),
                "--jobs",
                "1",
            ]
        )
        == 0
    )
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
            [
                sys.executable,
                str(REPO_ROOT / "preprocess_datasets.py"),
                "--corpus",
                "asvspoof2019",
                "--root",
                str(root),
                "--splits",
                "dev",
                "--interim-dir",
                str(out),
                "--jobs",
                str(jobs),
            ],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
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
@pytest.mark.slow
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


@pytest.mark.slow
def test_parallel_run_matches_serial_run(corpus, tmp_path):
    root, reference = corpus
    assert _run(root, tmp_path / "out", 2).returncode == 0
    assert _snapshot(tmp_path / "out" / SPLIT) == _snapshot(reference)


def test_changed_inputs_are_refused_not_mixed(corpus, tmp_path, capsys):
    root, _ = corpus
    args = [
        "--corpus",
        "asvspoof2019",
        "--root",
        str(root),
        "--splits",
        "dev",
        "--interim-dir",
        str(tmp_path),
        "--jobs",
        "1",
    ]
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
    assert (
        preprocess(
            [
                "--corpus",
                "asvspoof2019",
                "--root",
                str(root),
                "--splits",
                "dev",
                "--interim-dir",
                str(tmp_path / "out"),
                "--jobs",
                "1",
            ]
        )
        == 0
    )
    assert watch.finish() == []
    assert len(watch.renamed_matching("waves/shard_*.npy")) == len(watch.renamed_matching("parts/shard_*.csv")) == 4
    assert watch.checks > 8  # checked at every rename and between every write and its rename
    assert _snapshot(tmp_path / "out" / SPLIT) == _snapshot(reference)


@pytest.mark.parametrize(
    "column,value", [("label", "bonafide"), ("speaker", "SPK_other"), ("attack", "A09"), (None, None)]
)
def test_a_rerun_with_one_label_speaker_or_attack_changed_is_refused(tmp_path, capsys, column, value):
    """Same clips, same split, one field of one clip changed: the first run's shards were made
    for other clip lists, so the rerun must refuse rather than mix (None: nothing changed, the
    rerun is accepted)."""
    rows = [
        {
            "path": str(write_clip(tmp_path / "audio" / f"c{i}.wav", seconds=0.5, seed=i)),
            "label": "spoof" if i % 2 else "bonafide",
            "speaker": f"SPK{i % 2}",
            "attack": "A01" if i % 2 else "-",
        }
        for i in range(4)
    ]
    listing = tmp_path / "clips.csv"
    pd.DataFrame(rows).to_csv(listing, index=False)
    args = [
        "--corpus",
        "csv",
        "--root",
        str(listing),
        "--name",
        "mine",
        "--interim-dir",
        str(tmp_path / "out"),
        "--jobs",
        "1",
    ]
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


def test_shard_size_is_a_64th_of_the_split_within_8_and_512_clips():
    by_hand = {0: 8, 1: 8, 512: 8, 513: 9, 576: 9, 577: 10, 640: 10, 32768: 512, 32769: 512, 10**6: 512}
    assert {n: shard_size_for(n) for n in by_hand} == by_hand


def _wave(path, samples, seed):
    t = np.arange(samples) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * (150 + 40 * seed) * t)).astype(np.float32), 16000)
    return str(path)


def test_info_json_counts_written_out_by_hand(tmp_path):
    """Labels, attacks, rejects by reason and the hours of the clips kept: 5921 + 4000 + 8000 +
    4000 + 4000 = 25921 samples = 0.00045002 h, which rounds to 0.0005 (at 3601 s an hour: 0.0004)."""
    clips = [
        ClipSpec("b1", _wave(tmp_path / "b1.wav", 5921, 1), 0, speaker="S1"),
        ClipSpec("b3", _wave(tmp_path / "b3.wav", 4000, 6), 0, speaker="S3"),
        ClipSpec("b2", _wave(tmp_path / "b2.wav", 8000, 2), 0, speaker="S2"),
        ClipSpec("s1", _wave(tmp_path / "s1.wav", 4000, 3), 1, attack="A07", speaker="S1"),
        ClipSpec("s2", str(tmp_path / "absent.wav"), 1, attack="A08"),
        ClipSpec("s3", _wave(tmp_path / "s3.wav", 2000, 4), 1, attack="A08"),
        ClipSpec("u1", _wave(tmp_path / "u1.wav", 4000, 5), -1),
    ]
    printed = io.StringIO()
    summary = ingest_split(
        clips, tmp_path / "interim", "mycorpus", "eval", jobs=1, source_root="/data/x", stream=printed
    )
    assert re.fullmatch(
        r"\S+ \S+ \[preprocess mycorpus_eval\] 7/7 clips \(100\.0%\) \| .* \| rejected 2\n", printed.getvalue()
    )
    expected = {
        "corpus": "mycorpus",
        "split": "eval",
        "split_id": "mycorpus_eval",
        "demo": False,
        "source_root": "/data/x",
        "sample_rate": 16000,
        "store_dtype": "float32",
        "code_version": __version__,
        "min_duration_s": 0.25,
        "max_duration_s": 60.0,
        "num_clips": 5,
        "num_rejected": 2,
        "rejected_by_reason": {"missing": 1, "too_short": 1},
        "hours": 0.0005,
        "num_bonafide": 3,
        "num_spoof": 1,
        "num_unlabelled": 1,
        "spoof_per_attack": {"A07": 1},
    }
    assert (summary.split_id, summary.split_dir) == ("mycorpus_eval", tmp_path / "interim" / "mycorpus_eval")
    expected = {**expected, "format": "split_info", "format_version": 1}
    assert summary.info == expected
    assert read_info(summary.split_dir) == expected
    plan = json.loads((summary.split_dir / "plan.json").read_text())
    assert sorted(plan) == [
        "clips_sha256",
        "corpus",
        "max_duration_s",
        "min_duration_s",
        "num_clips",
        "plan_version",
        "shard_size",
        "split",
    ]
    assert (plan["corpus"], plan["split"], plan["num_clips"], plan["shard_size"]) == ("mycorpus", "eval", 7, 8)
    # a finished split is read back, not redone
    printed = io.StringIO()
    again = ingest_split(clips, tmp_path / "interim", "mycorpus", "eval", jobs=1, source_root="/data/x", stream=printed)
    assert printed.getvalue() == ""
    assert (again.split_id, again.split_dir, again.info) == (summary.split_id, summary.split_dir, expected)
    # the same clips with one speaker changed: refused, naming what changed
    changed = [*clips[:3], ClipSpec("s1", clips[3].source_path, 1, attack="A07", speaker="S9"), *clips[4:]]
    with pytest.raises(
        PlanMismatch,
        match=r"^.*mycorpus_eval holds output of a run with different inputs "
        r"\(clips_sha256 changed\)\. Pass --overwrite to rebuild it, or "
        r"--interim-dir for a separate copy\.$",
    ):
        ingest_split(changed, tmp_path / "interim", "mycorpus", "eval", jobs=1, source_root="/data/x")
    with pytest.raises(PlanMismatch, match=r"\(max_duration_s, min_duration_s changed\)"):
        ingest_split(clips, tmp_path / "interim", "mycorpus", "eval", jobs=1, min_duration_s=0.1, max_duration_s=30.0)
    # the defaults: no source root recorded, not the demo corpus
    plain = ingest_split(clips[:1], tmp_path / "other", "c", "dev", jobs=1)
    assert (plain.info["source_root"], plain.info["demo"]) == ("", False)


def test_manifest_cells_stay_text_and_name_their_corpus_and_split(tmp_path):
    """Ids and speakers that look like numbers or like pandas' missing values are kept as
    written; every row names its corpus and split; the demo flag reaches info.json."""
    clips = [
        ClipSpec("007", _wave(tmp_path / "a.wav", 8000, 1), 0, speaker="NA"),
        ClipSpec("012", _wave(tmp_path / "b.wav", 8000, 2), 1, attack="None", speaker="0012"),
    ]
    summary = ingest_split(clips, tmp_path / "interim", "mycorpus", "eval", jobs=1, demo=True)
    manifest = read_manifest(summary.split_dir)
    assert manifest["utt_id"].tolist() == ["007", "012"]
    assert manifest["speaker"].tolist() == ["NA", "0012"] and manifest["attack"].tolist() == ["-", "None"]
    assert set(manifest["corpus"]) == {"mycorpus"} and set(manifest["split"]) == {"eval"}
    assert summary.info["demo"] is True


def test_a_split_with_no_clips_is_written_empty(tmp_path):
    summary = ingest_split([], tmp_path / "interim", "mycorpus", "dev", jobs=1)
    assert (summary.info["num_clips"], summary.info["num_rejected"], summary.info["hours"]) == (0, 0, 0.0)
    assert len(read_manifest(summary.split_dir)) == 0


def test_repeated_ids_are_refused_naming_the_split(tmp_path):
    clips = [ClipSpec("x", "a.wav", 0), ClipSpec("x", "b.wav", 1), ClipSpec("y", "c.wav", 1)]
    with pytest.raises(
        ValueError,
        match=r"^1 utt_ids of mycorpus_dev are listed more than once \(e\.g\. \['x'\]\): "
        r"every clip needs its own id; fix the corpus list$",
    ):
        ingest_split(clips, tmp_path / "interim", "mycorpus", "dev", jobs=1)


def test_shards_cover_each_clip_once_and_a_resumed_split_says_so(tmp_path):
    """12 clips make two shards of 8 and 4 (one too short in each): each clip is in exactly one
    shard, the progress line counts the rejects of both, and a split whose second shard is lost
    resumes from the first, saying so."""
    clips = [
        ClipSpec(f"c{i:02d}", _wave(tmp_path / f"c{i}.wav", 2000 if i in (3, 10) else 8000, i), i % 2)
        for i in range(12)
    ]
    printed = io.StringIO()
    first = ingest_split(clips, tmp_path / "interim", "mycorpus", "eval", jobs=1, stream=printed)
    assert (first.info["num_clips"], first.info["num_rejected"]) == (10, 2)
    assert sorted(read_manifest(first.split_dir)["utt_id"]) == [f"c{i:02d}" for i in range(12) if i not in (3, 10)]
    progress = printed.getvalue().splitlines()
    assert [line.rsplit(" | ", 1)[1] for line in progress] == ["rejected 1", "rejected 2"]
    assert re.fullmatch(
        r"\S+ \S+ \[preprocess mycorpus_eval\] 12/12 clips \(100\.0%\) \| [\d.]+ clips/s \| "
        r"[1-9][\d.]* audio-s/s \| elapsed \S+ \| rejected 2",
        progress[-1],
    )
    (first.split_dir / "info.json").unlink()
    (first.split_dir / "parts" / "shard_00001.csv").unlink()
    printed = io.StringIO()
    again = ingest_split(clips, tmp_path / "interim", "mycorpus", "eval", jobs=1, stream=printed)
    lines = printed.getvalue().splitlines()
    assert re.fullmatch(r"\S+ \S+ \[preprocess mycorpus_eval\] resuming: 8 clips already done", lines[0])
    assert re.fullmatch(r"\S+ \S+ \[preprocess mycorpus_eval\] 12/12 clips \(100\.0%\) \| .* \| rejected 1", lines[-1])
    assert again.info == first.info
