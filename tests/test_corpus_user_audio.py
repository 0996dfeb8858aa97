import os

import pandas as pd
import pytest
from audio_factory import write_clip

from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.formats.manifest import read_manifest
from deepfake_pipeline.ingest.corpora import CorpusLayoutError
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


def test_csv_repeated_utt_ids_are_refused_naming_the_lines(tmp_path):
    for name in "abc":
        write_clip(tmp_path / f"{name}.wav", seed=ord(name))
    # Renaming x, x, x_1 gave x, x_1, x_1: a clash nobody asked for.
    (tmp_path / "ids.csv").write_text("path,label,utt_id\na.wav,real,x\nb.wav,fake,x\nc.wav,fake,x_1\n")
    with pytest.raises(ValueError, match=r"ids.csv:3: utt_id 'x' is already on line 2"):
        csv_clips(tmp_path / "ids.csv")
    (tmp_path / "ids2.csv").write_text("path,label,utt_id\na.wav,real,x y\nb.wav,fake,x_y\n")
    with pytest.raises(ValueError, match=r"ids2.csv:3: utt_id 'x_y'.*line 2"):
        csv_clips(tmp_path / "ids2.csv")


def test_csv_listing_one_file_twice_is_refused_even_under_both_labels(tmp_path, capsys):
    write_clip(tmp_path / "clips" / "a.wav", seed=1)
    write_clip(tmp_path / "clips" / "b.wav", seed=2)
    (tmp_path / "twice.csv").write_text("path,label\nclips/a.wav,real\nclips/b.wav,fake\n"
                                        f"{tmp_path / 'clips' / '..' / 'clips' / 'a.wav'},fake\n")
    with pytest.raises(ValueError, match=r"twice.csv:4: .*a.wav is already on line 2"):
        csv_clips(tmp_path / "twice.csv")
    assert preprocess(["--corpus", "csv", "--root", str(tmp_path / "twice.csv"),
                       "--interim-dir", str(tmp_path / "out"), "--jobs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "twice.csv:4" in err[0]


@pytest.mark.parametrize("split", ["../../escape", "a/b", "", " ", "..", "dev set"])
def test_csv_split_must_be_a_plain_name(tmp_path, capsys, split):
    write_clip(tmp_path / "data" / "a.wav", seed=1)
    (tmp_path / "data" / "l.csv").write_text(f"path,label,split\na.wav,real,{split}\n")
    interim = tmp_path / "deep" / "er" / "interim"
    code = preprocess(["--corpus", "csv", "--root", str(tmp_path / "data" / "l.csv"),
                       "--interim-dir", str(interim), "--jobs", "1"])
    if split.strip() == "":  # an empty split means the default, `all`
        assert code == 0 and (interim / "l_all" / "manifest.csv").is_file()
        return
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and "l.csv:2" in err[0]
    assert "letters, digits" in err[0]
    assert not (tmp_path / "deep" / "escape").exists() and not list(tmp_path.glob("**/*escape*"))


def test_ids_made_from_paths_never_clash(tmp_path):
    for name in ("a.wav", "a.flac", "a_1.wav", "a 1.wav"):
        write_clip(tmp_path / "real" / name, seed=len(name))
    ids = [c.utt_id for c in folder_clips(tmp_path)["all"]]
    assert len(set(ids)) == 4
    (tmp_path / "l.csv").write_text("path,label\nreal/a.wav,real\nreal/a.flac,real\nreal/a_1.wav,real\n")
    ids = [c.utt_id for c in csv_clips(tmp_path / "l.csv")["all"]]
    assert len(set(ids)) == 3 and ids[2] == "a_1"


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


def _labels(clips):
    return {c.utt_id: c.label for c in clips}


def test_link_to_an_ancestor_inside_real_does_not_relabel_fake_clips(tmp_path, capsys):
    """`real/up -> ..` used to list every fake/ clip a second time under real/, as bona fide."""
    mine = tmp_path / "mine"
    write_clip(mine / "real" / "a.wav", seed=1)
    write_clip(mine / "fake" / "b.wav", seed=2)
    (mine / "real" / "up").symlink_to("..", target_is_directory=True)
    (mine / "fake" / "root").symlink_to(mine, target_is_directory=True)
    clips = folder_clips(mine)["all"]
    assert _labels(clips) == {"real_a": 0, "fake_b": 1}
    log = [line for line in capsys.readouterr().out.splitlines() if "not following" in line]
    assert len(log) == 2
    assert any("real/up" in line and "above" in line for line in log)


def test_links_leaving_the_corpus_or_crossing_labels_are_not_followed(tmp_path, capsys):
    write_clip(tmp_path / "elsewhere" / "linked.wav", seed=4)
    mine = tmp_path / "mine"
    write_clip(mine / "fake" / "own.wav", seed=5)
    write_clip(mine / "fake" / "deep" / "x.wav", seed=6)
    (mine / "fake" / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (mine / "fake" / "ext.wav").symlink_to(tmp_path / "elsewhere" / "linked.wav")
    write_clip(mine / "real" / "r.wav", seed=7)
    (mine / "real" / "sneaky.wav").symlink_to(mine / "fake" / "own.wav")       # a fake clip
    (mine / "real" / "sneaky_dir").symlink_to(mine / "fake" / "deep", target_is_directory=True)
    clips = folder_clips(mine)["all"]
    assert _labels(clips) == {"fake_own": 1, "fake_deep_x": 1, "real_r": 0}
    assert {c.source_path for c in clips} == {str((mine / p).resolve()) for p in
                                              ("fake/own.wav", "fake/deep/x.wav", "real/r.wav")}
    log = [line for line in capsys.readouterr().out.splitlines() if "not following" in line]
    assert len(log) == 4
    assert sum("outside" in line for line in log) == 2


def test_links_into_an_unlabelled_part_of_the_corpus_keep_the_label_of_their_folder(tmp_path, capsys):
    mine = tmp_path / "mine"
    write_clip(mine / "pool" / "p1.wav", seed=1)
    write_clip(mine / "pool" / "sub" / "p2.wav", seed=2)
    (mine / "real").mkdir()
    (mine / "real" / "p1.wav").symlink_to(mine / "pool" / "p1.wav")
    (mine / "fake").mkdir()
    (mine / "fake" / "sub").symlink_to(mine / "pool" / "sub", target_is_directory=True)
    (mine / "pool" / "sub" / "back").symlink_to(mine / "pool", target_is_directory=True)
    clips = folder_clips(mine)["all"]
    assert _labels(clips) == {"real_p1": 0, "fake_sub_p2": 1}
    # The same pool file under both labels is refused, not given one of them.
    (mine / "fake" / "p1.wav").symlink_to(mine / "pool" / "p1.wav")
    with pytest.raises(CorpusLayoutError, match="fake/p1.wav.*real/p1.wav|real/p1.wav.*fake/p1.wav"):
        folder_clips(mine)


def test_label_folders_that_hold_one_another_are_refused(tmp_path):
    mine = tmp_path / "mine"
    write_clip(mine / "fake" / "b.wav", seed=2)
    (mine / "real").symlink_to(mine / "fake", target_is_directory=True)
    with pytest.raises(CorpusLayoutError, match="real"):
        folder_clips(mine)
    (mine / "real").unlink()
    (mine / "real").symlink_to(mine, target_is_directory=True)
    with pytest.raises(CorpusLayoutError, match="real"):
        folder_clips(mine)


def test_a_linked_label_folder_is_walked(tmp_path):
    write_clip(tmp_path / "librispeech" / "s1" / "a.flac", seed=1)
    write_clip(tmp_path / "mine" / "fake" / "b.wav", seed=2)
    (tmp_path / "mine" / "real").symlink_to(tmp_path / "librispeech", target_is_directory=True)
    assert _labels(folder_clips(tmp_path / "mine")["all"]) == {"real_s1_a": 0, "fake_b": 1}


def test_link_loop_and_broken_link_are_rejects_not_a_crash(tmp_path, capsys):
    mine = tmp_path / "mine"
    write_clip(mine / "real" / "a.wav", seed=1)
    write_clip(mine / "fake" / "b.wav", seed=2)
    (mine / "fake" / "x.wav").symlink_to(mine / "fake" / "y.wav")
    (mine / "fake" / "y.wav").symlink_to(mine / "fake" / "x.wav")
    (mine / "fake" / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    assert preprocess(["--corpus", "folder", "--root", str(mine), "--interim-dir", str(tmp_path / "out"),
                       "--jobs", "1"]) == 0
    assert "PREPROCESS split=mine_all clips=2" in capsys.readouterr().out
    rejects = pd.read_csv(tmp_path / "out" / "mine_all" / "rejects.csv")
    assert dict(zip(rejects["utt_id"], rejects["reason"])) == {
        "fake_gone": "broken_link", "fake_x": "broken_link", "fake_y": "broken_link"}


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
