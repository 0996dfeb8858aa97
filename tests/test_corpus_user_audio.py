import os

import pytest
from audio_factory import write_clip

from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.formats.manifest import read_manifest
from deepfake_pipeline.ingest.corpora.user_audio import csv_clips, folder_clips


@pytest.mark.parametrize("path_column", ["path", "file", "filename", "relpath"])
def test_csv_relative_paths_resolve_against_the_csv_folder(tmp_path, monkeypatch, path_column):
    data = tmp_path / "mydata"
    write_clip(data / "clips" / "a.wav", seed=1)
    write_clip(data / "clips" / "b.wav", seed=2)
    (data / "list.csv").write_text(f"{path_column},label,speaker\nclips/a.wav,real,s1\nclips/b.wav,fake,s2\n")
    monkeypatch.chdir(tmp_path)  # not the CSV's folder
    clips = csv_clips("mydata/list.csv")["all"]
    assert [c.source_path for c in clips] == [str((data / "clips" / n).resolve()) for n in ("a.wav", "b.wav")]
    assert [c.label for c in clips] == [0, 1] and [c.speaker for c in clips] == ["s1", "s2"]


def test_csv_label_spellings_and_split_column(tmp_path):
    for name in "abcdef":
        write_clip(tmp_path / f"{name}.flac", seed=ord(name))
    (tmp_path / "l.csv").write_text("path,label,split,attack\na.flac,bonafide,train,-\nb.flac,spoof,train,X\n"
                                    "c.flac,0,test,-\nd.flac,1,test,Y\ne.flac,real,test,-\nf.flac,FAKE,test,Z\n")
    clips = csv_clips(tmp_path / "l.csv")
    assert sorted(clips) == ["test", "train"]
    assert [c.label for c in clips["test"]] == [0, 1, 0, 1]
    assert [c.attack for c in clips["train"]] == ["-", "X"]


def test_csv_bad_label_and_missing_columns(tmp_path):
    (tmp_path / "bad.csv").write_text("path,label\na.wav,maybe\n")
    with pytest.raises(ValueError, match="bad.csv:2"):
        csv_clips(tmp_path / "bad.csv")
    (tmp_path / "nolabel.csv").write_text("audio,kind\na.wav,real\n")
    with pytest.raises(FileNotFoundError, match="path column"):
        csv_clips(tmp_path / "nolabel.csv")


def test_folder_with_real_and_fake_subfolders(tmp_path, capsys):
    write_clip(tmp_path / "mine" / "real" / "x" / "one.wav", seed=1)
    write_clip(tmp_path / "mine" / "fake" / "one.wav", seed=2)
    write_clip(tmp_path / "mine" / "fake" / "two.flac", seed=3)
    (tmp_path / "mine" / "fake" / "notes.txt").write_text("not audio")
    assert preprocess(["--corpus", "folder", "--root", str(tmp_path / "mine"),
                       "--interim-dir", str(tmp_path / "out"), "--jobs", "1"]) == 0
    manifest = read_manifest(tmp_path / "out" / "mine_all" / "manifest.csv")
    assert dict(zip(manifest["utt_id"], manifest["label"])) == {
        "fake_one": 1, "fake_two": 1, "real_x_one": 0}
    assert "PREPROCESS split=mine_all clips=3" in capsys.readouterr().out


def test_folder_follows_linked_folders_once_and_keeps_broken_links(tmp_path):
    write_clip(tmp_path / "elsewhere" / "linked.wav", seed=4)
    write_clip(tmp_path / "mine" / "fake" / "own.wav", seed=5)
    (tmp_path / "mine" / "fake" / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere" / "loop").symlink_to(tmp_path / "mine", target_is_directory=True)
    (tmp_path / "mine" / "fake" / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    clips = folder_clips(tmp_path / "mine")["all"]
    assert sorted(c.utt_id for c in clips) == ["fake_gone", "fake_more_linked", "fake_own"]
    assert {c.label for c in clips} == {1}


def test_folder_without_label_subfolders_is_unlabelled(tmp_path):
    write_clip(tmp_path / "score_me" / "clip.wav")
    clips = folder_clips(tmp_path / "score_me")["all"]
    assert [c.label for c in clips] == [-1]


def test_real_clips_as_a_csv_corpus(real_data_dir, tmp_path, capsys):
    import csv

    rows = list(csv.DictReader(open(real_data_dir / "MANIFEST.csv")))
    with open(tmp_path / "real.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "speaker"])
        for row in rows:
            writer.writerow([os.path.join(real_data_dir, row["relpath"]), row["label"], row["dataset"]])
    assert preprocess(["--corpus", "csv", "--root", str(tmp_path / "real.csv"), "--name", "real",
                       "--interim-dir", str(tmp_path / "out"), "--jobs", "2"]) == 0
    manifest = read_manifest(tmp_path / "out" / "real_all" / "manifest.csv")
    assert len(manifest) == len(rows) and (manifest["label"] == 0).sum() == 54
    assert set(manifest["orig_sr"]) == {16000, 22050, 24000, 44100, 48000} & set(manifest["orig_sr"])
    assert len(set(manifest["orig_sr"])) >= 4
