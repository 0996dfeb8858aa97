import json

import pandas as pd
import pytest
from audio_factory import write_mp4

from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.formats.manifest import read_manifest
from deepfake_pipeline.ingest.corpora.fakeavceleb import CATEGORIES, identity_split, read_metadata

HEADER10 = "source,target1,target2,method,category,type,race,gender,filename,path"


def test_real_metadata_parses(real_data_dir):
    meta = read_metadata(real_data_dir / "fakeavceleb_metadata" / "meta_data.csv")
    assert len(meta) == 21566
    assert meta["type"].value_counts().to_dict() == {
        "FakeVideo-FakeAudio": 10857, "FakeVideo-RealAudio": 9709,
        "RealVideo-RealAudio": 500, "RealVideo-FakeAudio": 500}
    assert meta["filename"].str.endswith(".mp4").all()
    assert meta["path"].str.startswith("FakeAVCeleb_v1.2/").all()


def test_nine_name_header_variant_reads_the_same(tmp_path):
    row = "id00076,-,-,real,A,RealVideo-RealAudio,African,men,00109.mp4,FakeAVCeleb_v1.2/RealVideo-RealAudio/African/men/id00076"
    ten = tmp_path / "ten.csv"
    ten.write_text(HEADER10 + "\n" + row + "\n")
    nine = tmp_path / "nine.csv"
    nine.write_text("source,target1,target2,method,category,type,race,gender,path,\n" + row + "\n")
    swapped = tmp_path / "swapped.csv"
    swapped.write_text("source,target1,target2,method,category,type,race,gender,path,\n"
                       "id00076,-,-,real,A,RealVideo-RealAudio,African,men,"
                       "FakeAVCeleb_v1.2/RealVideo-RealAudio/African/men/id00076,00109.mp4\n")
    expected = read_metadata(ten)
    pd.testing.assert_frame_equal(read_metadata(nine), expected)
    pd.testing.assert_frame_equal(read_metadata(swapped), expected)
    assert expected.loc[0, "filename"] == "00109.mp4"


def test_identity_split_is_grouped_seeded_and_proportional():
    sources = [f"id{i:05d}" for i in range(200)] * 3
    a, b, c = identity_split(sources, 0), identity_split(sources, 0), identity_split(sources, 1)
    assert a == b and a != c
    counts = pd.Series(a).value_counts()
    assert counts["train"] == 140 and counts["dev"] == 30 and counts["eval"] == 30


def _write_corpus(root, identities=6):
    lines = [HEADER10]
    for n in range(identities):
        identity = f"id{n:05d}"
        for category, method, fname, seed in (
            ("RealVideo-RealAudio", "real", "00001.mp4", n),
            ("RealVideo-FakeAudio", "rtvc", "00001_fake.mp4", 100 + n),
            ("FakeVideo-RealAudio", "wav2lip", "00001_1.mp4", n),       # same audio as the real clip
            ("FakeVideo-FakeAudio", "fsgan-wav2lip", "00001_2.mp4", 200 + n),
        ):
            race = "Asian (East)" if n % 2 else "African"  # the real corpus has races with spaces
            folder = f"FakeAVCeleb_v1.2/{category}/{race}/men/{identity}"
            write_mp4(root / folder / fname, seconds=0.6, seed=seed)
            lines.append(f"{identity},-,-,{method},A,{category},{race},men,{fname},{folder}")
    (root / "FakeAVCeleb_v1.2" / "meta_data.csv").write_text("\n".join(lines) + "\n")


def test_fakeavceleb_ingest_labels_split_and_duplicates(tmp_path, capsys):
    _write_corpus(tmp_path / "raw")
    args = ["--corpus", "fakeavceleb", "--root", str(tmp_path / "raw"), "--interim-dir",
            str(tmp_path / "out"), "--jobs", "1", "--seed", "3"]
    assert preprocess(args) == 0
    out = capsys.readouterr().out
    manifests = {s: read_manifest(tmp_path / "out" / f"fakeavceleb_{s}" / "manifest.csv")
                 for s in ("train", "dev", "eval")}
    everything = pd.concat(manifests.values())
    assert len(everything) == 24
    assert not everything["utt_id"].str.contains(r"\s|[()]").any()  # ids go into `utt_id score` files
    assert (everything["label"] == everything["category"].str.endswith("FakeAudio").astype(int)).all()
    speakers = {s: set(m["speaker"]) for s, m in manifests.items()}
    assert not (speakers["train"] & speakers["dev"]) and not (speakers["train"] & speakers["eval"])
    assert not (speakers["dev"] & speakers["eval"])
    duplicates = everything[everything["duplicate_of"] != ""]
    assert set(duplicates["category"]) == {"FakeVideo-RealAudio"} and len(duplicates) == 6
    originals = everything.set_index("utt_id").loc[duplicates["duplicate_of"], "category"]
    assert set(originals) == {"RealVideo-RealAudio"}
    assert "6 clips share their decoded audio" in out
    saved = json.loads((tmp_path / "out" / "fakeavceleb_identity_split.json").read_text())
    assert saved["seed"] == 3
    # A later run with another seed keeps the saved split, so every stage sees the same one.
    assert preprocess(args[:-1] + ["4"]) == 0
    assert "using the saved identity split" in capsys.readouterr().err
    again = read_manifest(tmp_path / "out" / "fakeavceleb_train" / "manifest.csv")
    assert again["utt_id"].tolist() == manifests["train"]["utt_id"].tolist()
    assert set(everything["orig_sr"]) == {44100}
    # The attack names what made the fake AUDIO (rtvc for every fake track, as the corpus paper
    # says); the video method stays beside it.
    fakes = everything[everything["label"] == 1]
    assert set(fakes["attack"]) == {"rtvc"}
    assert set(fakes["method"]) == {"rtvc", "fsgan-wav2lip"}
    assert set(everything[everything["label"] == 0]["attack"]) == {"-"}


def _listed_twice(root, second_type):
    folder = "FakeAVCeleb_v1.2/FakeVideo-FakeAudio/African/women/id00220"
    write_mp4(root / folder / "00027_id03658_wavtolip.mp4", seconds=0.6, seed=1)
    write_mp4(root / "FakeAVCeleb_v1.2/RealVideo-RealAudio/African/women/id00220/00001.mp4", seconds=0.6, seed=2)
    (root / "FakeAVCeleb_v1.2" / "meta_data.csv").write_text("\n".join([
        HEADER10,
        f"id00220,-,-,real,A,RealVideo-RealAudio,African,women,00001.mp4,"
        "FakeAVCeleb_v1.2/RealVideo-RealAudio/African/women/id00220",
        f"id00220,id03658,-,faceswap-wav2lip,D,FakeVideo-FakeAudio,African,women,00027_id03658_wavtolip.mp4,{folder}",
        f"id00220,id03658,-,wav2lip,D,{second_type},African,women,00027_id03658_wavtolip.mp4,{folder}",
    ]) + "\n")


def test_a_file_the_metadata_lists_twice_is_one_clip(tmp_path, capsys):
    """meta_data.csv v1.2 lists 22 files twice (methods faceswap-wav2lip and wav2lip): one clip
    each, said in the log; today they became two rows with the same utt_id."""
    _listed_twice(tmp_path / "raw", "FakeVideo-FakeAudio")
    assert preprocess(["--corpus", "fakeavceleb", "--root", str(tmp_path / "raw"), "--interim-dir",
                       str(tmp_path / "out"), "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "meta_data.csv:4" in out and "meta_data.csv:3" in out
    everything = pd.concat([read_manifest(p) for p in (tmp_path / "out").glob("fakeavceleb_*/manifest.csv")])
    assert len(everything) == 2 and everything["utt_id"].is_unique


def test_a_file_the_metadata_lists_under_both_labels_is_refused(tmp_path, capsys):
    _listed_twice(tmp_path / "raw", "FakeVideo-RealAudio")
    assert preprocess(["--corpus", "fakeavceleb", "--root", str(tmp_path / "raw"), "--interim-dir",
                       str(tmp_path / "out"), "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "meta_data.csv:4" in err and "line 3" in err
