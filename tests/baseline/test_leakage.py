"""A test split must be held out in fact, not only by name: step 3 compares it with the fitting
and choosing splits by audio content and by speaker, prints the counts on every run, refuses
copies beyond a handful unless --allow-overlap, and leaves FakeAVCeleb-style duplicates out."""

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from logreg_fixtures import balanced_design, informative, make_split, retie_spectral

from deepfake_pipeline.baseline import leakage
from deepfake_pipeline.cli.eval_logreg import main
from deepfake_pipeline.ingest.corpora.asvspoof import read_protocol


def _args(dirs, test="toy_eval", *extra):
    return [
        "--features",
        "spectral",
        "--train",
        "toy_train",
        "--dev",
        "toy_dev",
        "--test",
        test,
        "--run",
        "r",
        "--n-boot",
        "20",
        "--C-grid",
        "1",
        "--interim-dir",
        str(dirs["interim"]),
        "--processed-dir",
        str(dirs["processed"]),
        "--results-dir",
        str(dirs["results"]),
        *extra,
    ]


def _corpus(tmp_path, shared_speaker=False):
    dirs = {"interim": tmp_path / "interim", "processed": tmp_path / "processed", "results": tmp_path / "results"}
    for i, split in enumerate(("train", "dev", "eval")):
        labels, speakers = balanced_design(6, 8, seed=i)
        speakers = [f"{split}_{s}" for s in speakers]
        if shared_speaker and split == "eval":
            speakers[0] = "train_" + balanced_design(6, 8, seed=0)[1][0]
        make_split(
            dirs["interim"],
            dirs["processed"],
            f"toy_{split}",
            labels,
            speakers,
            seed=i,
            spectral=informative(labels, 15, [0, 3], seed=10 + i),
        )
    return dirs


def _copy_split(dirs, source, name):
    """The same clips under another split name: what a protocol mistake looks like."""
    for kind in ("interim", "processed"):
        shutil.copytree(dirs[kind] / source, dirs[kind] / name)
    info = dirs["interim"] / name / "info.json"
    info.write_text(info.read_text().replace(source, name))


@pytest.mark.slow
def test_a_copy_of_dev_used_as_test_is_refused_then_reported_with_allow_overlap(tmp_path, capsys):
    dirs = _corpus(tmp_path)
    _copy_split(dirs, "toy_dev", "toy_devcopy")
    assert main(_args(dirs, "toy_devcopy")) == 2
    err = capsys.readouterr().err
    assert "48 clips of test split toy_devcopy have the same audio as clips of toy_dev" in err
    assert "--allow-overlap" in err and not (dirs["results"] / "r").exists()
    assert main(_args(dirs, "toy_devcopy", "--allow-overlap")) == 0
    out = capsys.readouterr().out
    assert "overlap test=toy_devcopy vs toy_dev: 48 clips with the same audio" in out
    saved = json.loads((dirs["results"] / "r" / "metrics.json").read_text())["overlap"]["between_splits"]
    assert {(e["other"], e["copies"]) for e in saved} == {("toy_train", 0), ("toy_dev", 48)}


@pytest.mark.slow
def test_disjoint_splits_print_zero_counts_and_shared_speakers_warn(tmp_path, capsys):
    dirs = _corpus(tmp_path, shared_speaker=True)
    assert main(_args(dirs)) == 0
    out = capsys.readouterr().out
    assert "overlap test=toy_eval vs toy_dev: 0 clips with the same audio, 0 shared speakers" in out
    assert "overlap test=toy_eval vs toy_train: 0 clips with the same audio, 1 shared speakers" in out
    assert "WARNING: speakers are not disjoint" in out


@pytest.mark.slow
def test_copies_marked_in_the_manifest_are_left_out_and_counted(tmp_path, capsys):
    dirs = _corpus(tmp_path)
    manifest_path = dirs["interim"] / "toy_eval" / "manifest.csv"
    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    manifest["duplicate_of"] = ""
    manifest.loc[[1, 4, 7], "duplicate_of"] = manifest.loc[0, "utt_id"]
    manifest.to_csv(manifest_path, index=False)
    retie_spectral(dirs["processed"], manifest_path.parent)  # duplicate_of changed, not the audio
    assert main(_args(dirs)) == 0
    out = capsys.readouterr().out
    assert "toy_eval: 3 clips left out of evaluation as copies" in out
    saved = json.loads((dirs["results"] / "r" / "metrics.json").read_text())
    assert saved["tests"]["toy_eval"]["n_trials"] == len(manifest) - 3
    scored = (dirs["results"] / "r" / "scores" / "toy_eval.txt").read_text().split()[::2]
    assert set(manifest.loc[[1, 4, 7], "utt_id"]).isdisjoint(scored) and len(scored) == len(manifest) - 3


def test_the_official_2019_la_splits_keep_speakers_disjoint(real_data_dir):
    folder = real_data_dir / "asvspoof2019_la_protocols"
    splits = {}
    for split, name in (("train", "train.trn"), ("dev", "dev.trl"), ("eval", "eval.trl")):
        entries = read_protocol(folder / f"ASVspoof2019.LA.cm.{name}.txt")
        ids = np.array([e["utt_id"] for e in entries])
        # Content cannot be compared without the audio; utt ids stand in for distinct clips.
        splits[split] = SimpleNamespace(
            split_id=split, utt_ids=ids, audio_sha1=ids, speakers=np.array([e["speaker"] for e in entries])
        )
    found = leakage.check_holdout([splits["train"], splits["dev"]], [splits["eval"]], allow_overlap=False)
    assert [(e.other, e.copies, e.shared_speakers) for e in found] == [("train", 0, 0), ("dev", 0, 0)]
    dev_vs_train = leakage.overlap(splits["dev"], splits["train"])
    assert (dev_vs_train.copies, dev_vs_train.shared_speakers) == (0, 0)
