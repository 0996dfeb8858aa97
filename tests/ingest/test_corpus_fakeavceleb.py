import json
import re

import pandas as pd
import pytest
from audio_factory import write_mp4

from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.formats.manifest import MANIFEST_COLUMNS, read_manifest, write_manifest
from deepfake_pipeline.ingest.corpora import CorpusLayoutError
from deepfake_pipeline.ingest.corpora.fakeavceleb import (
    fakeavceleb_clips,
    find_dataset_dir,
    flag_duplicates,
    identity_split,
    load_or_make_split,
    read_metadata,
)
from deepfake_pipeline.ingest.shards import ClipSpec

HEADER10 = "source,target1,target2,method,category,type,race,gender,filename,path"


@pytest.mark.slow
def test_real_metadata_parses(real_data_dir):
    meta = read_metadata(real_data_dir / "fakeavceleb_metadata" / "meta_data.csv")
    assert len(meta) == 21566
    assert meta["type"].value_counts().to_dict() == {
        "FakeVideo-FakeAudio": 10857,
        "FakeVideo-RealAudio": 9709,
        "RealVideo-RealAudio": 500,
        "RealVideo-FakeAudio": 500,
    }
    assert meta["filename"].str.endswith(".mp4").all()
    assert meta["path"].str.startswith("FakeAVCeleb_v1.2/").all()


def test_nine_name_header_variant_reads_the_same(tmp_path):
    row = (
        "id00076,-,-,real,A,RealVideo-RealAudio,African,men,00109.mp4,"
        "FakeAVCeleb_v1.2/RealVideo-RealAudio/African/men/id00076"
    )
    ten = tmp_path / "ten.csv"
    ten.write_text(HEADER10 + "\n" + row + "\n")
    nine = tmp_path / "nine.csv"
    nine.write_text("source,target1,target2,method,category,type,race,gender,path,\n" + row + "\n")
    swapped = tmp_path / "swapped.csv"
    swapped.write_text(
        "source,target1,target2,method,category,type,race,gender,path,\n"
        "id00076,-,-,real,A,RealVideo-RealAudio,African,men,"
        "FakeAVCeleb_v1.2/RealVideo-RealAudio/African/men/id00076,00109.mp4\n"
    )
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
            ("FakeVideo-RealAudio", "wav2lip", "00001_1.mp4", n),  # same audio as the real clip
            ("FakeVideo-FakeAudio", "fsgan-wav2lip", "00001_2.mp4", 200 + n),
        ):
            race = "Asian (East)" if n % 2 else "African"  # the real corpus has races with spaces
            folder = f"FakeAVCeleb_v1.2/{category}/{race}/men/{identity}"
            write_mp4(root / folder / fname, seconds=0.6, seed=seed)
            lines.append(f"{identity},-,-,{method},A,{category},{race},men,{fname},{folder}")
    (root / "FakeAVCeleb_v1.2" / "meta_data.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_fakeavceleb_ingest_labels_split_and_duplicates(tmp_path, capsys):
    _write_corpus(tmp_path / "raw")
    args = [
        "--corpus",
        "fakeavceleb",
        "--root",
        str(tmp_path / "raw"),
        "--interim-dir",
        str(tmp_path / "out"),
        "--jobs",
        "1",
        "--seed",
        "3",
    ]
    assert preprocess(args) == 0
    out = capsys.readouterr().out
    manifests = {
        s: read_manifest(tmp_path / "out" / f"fakeavceleb_{s}" / "manifest.csv") for s in ("train", "dev", "eval")
    }
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
    (root / "FakeAVCeleb_v1.2" / "meta_data.csv").write_text(
        "\n".join(
            [
                HEADER10,
                "id00220,-,-,real,A,RealVideo-RealAudio,African,women,00001.mp4,"
                "FakeAVCeleb_v1.2/RealVideo-RealAudio/African/women/id00220",
                f"id00220,id03658,-,faceswap-wav2lip,D,FakeVideo-FakeAudio,African,women,00027_id03658_wavtolip.mp4,{folder}",
                f"id00220,id03658,-,wav2lip,D,{second_type},African,women,00027_id03658_wavtolip.mp4,{folder}",
            ]
        )
        + "\n"
    )


def test_a_file_the_metadata_lists_twice_is_one_clip(tmp_path, capsys):
    """meta_data.csv v1.2 lists 22 files twice (methods faceswap-wav2lip and wav2lip): one clip
    each, said in the log; today they became two rows with the same utt_id."""
    _listed_twice(tmp_path / "raw", "FakeVideo-FakeAudio")
    assert (
        preprocess(
            [
                "--corpus",
                "fakeavceleb",
                "--root",
                str(tmp_path / "raw"),
                "--interim-dir",
                str(tmp_path / "out"),
                "--jobs",
                "1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "meta_data.csv:4" in out and "meta_data.csv:3" in out
    everything = pd.concat([read_manifest(p) for p in (tmp_path / "out").glob("fakeavceleb_*/manifest.csv")])
    assert len(everything) == 2 and everything["utt_id"].is_unique


def test_a_file_the_metadata_lists_under_both_labels_is_refused(tmp_path, capsys):
    _listed_twice(tmp_path / "raw", "FakeVideo-RealAudio")
    assert (
        preprocess(
            [
                "--corpus",
                "fakeavceleb",
                "--root",
                str(tmp_path / "raw"),
                "--interim-dir",
                str(tmp_path / "out"),
                "--jobs",
                "1",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "meta_data.csv:4" in err and "line 3" in err


# The parser alone (no audio): meta_data.csv as in FakeAVCeleb_v1.2, and the category folders
# beside it (fakeavceleb_clips checks that they exist, not what is in them).
LAYOUT = (
    "expected layout:\n"
    "  <root>/[FakeAVCeleb_v1.2/]meta_data.csv\n"
    "  <root>/[FakeAVCeleb_v1.2/]{RealVideo-RealAudio,RealVideo-FakeAudio,FakeVideo-RealAudio,"
    "FakeVideo-FakeAudio}/<race>/<gender>/<identity>/<file>.mp4"
)
TYPES = "('RealVideo-RealAudio', 'RealVideo-FakeAudio', 'FakeVideo-RealAudio', 'FakeVideo-FakeAudio')"


def _metadata_only(root, rows, header=HEADER10):
    dataset = root / "FakeAVCeleb_v1.2"
    (dataset / "RealVideo-RealAudio").mkdir(parents=True)
    (dataset / "meta_data.csv").write_text("\n".join([header, *rows]) + "\n")
    return dataset


def _saved_split(path, assignment, seed=0):
    path.write_text(
        json.dumps({"seed": seed, "fractions": {"train": 0.7, "dev": 0.15, "eval": 0.15}, "assignment": assignment})
    )
    return path


def test_read_metadata_refusals_name_the_file_the_line_and_what_was_expected(tmp_path):
    path = tmp_path / "meta_data.csv"
    # Trailing empty names (a header ending in commas) are dropped before the header is shown.
    path.write_text("source,target1,target2,method,category,type,race,sex,filename,path,,\n")
    with pytest.raises(
        ValueError,
        match="^"
        + re.escape(
            f"{path}: unrecognised header ['source', 'target1', 'target2', 'method', 'category', 'type', "
            "'race', 'sex', 'filename', 'path']; expected "
            "source,target1,target2,method,category,type,race,gender,filename,path"
        )
        + "$",
    ):
        read_metadata(path)
    path.write_text(
        HEADER10 + "\n"
        "id00076,-,-,real,A,RealVideo-RealAudio,African,men,00109.mp4,FakeAVCeleb_v1.2/RealVideo-RealAudio/African/men/id00076\n"
        "id00076,-,-,real,A,RealVideo-RealAudio,African,men,00110.mp4\n"
    )
    with pytest.raises(ValueError, match="^" + re.escape(f"{path}:3: expected 10 values, got 9") + "$"):
        read_metadata(path)
    path.write_text(
        HEADER10 + "\n"
        "id00076,-,-,real,A,RealVideo-RealAudio,African,men,00109.mp4,FakeAVCeleb_v1.2/RealVideo-RealAudio/African/men/id00076\n"
        "id00076,-,-,rtvc,B,FakeAudio-RealVideo,African,men,00109_fake.mp4,FakeAVCeleb_v1.2/RealVideo-FakeAudio/African/men/id00076\n"
    )
    with pytest.raises(
        ValueError,
        match="^"
        + re.escape(f"{path}:3: unknown type values ['FakeAudio-RealVideo'] (the first on this line); expected {TYPES}")
        + "$",
    ):
        read_metadata(path)
    # an empty file is refused by name, not with a StopIteration traceback
    path.write_text("")
    with pytest.raises(ValueError, match="^" + re.escape(f"{path}: unrecognised header []; expected ")):
        read_metadata(path)


def test_read_metadata_header_only_and_a_quoted_line_break(tmp_path):
    path = tmp_path / "meta_data.csv"
    path.write_text(HEADER10 + "\n")
    empty = read_metadata(path)
    assert len(empty) == 0
    assert list(empty.columns) == [
        "source",
        "target1",
        "target2",
        "method",
        "category",
        "type",
        "race",
        "gender",
        "filename",
        "path",
        "line",
    ]
    # A quoted value may hold a line break (csv.reader with newline=""): kept as written, \r\n too.
    path.write_bytes(
        HEADER10.encode() + b"\r\n"
        b'id00076,-,-,"faceswap\r\nwav2lip",A,RealVideo-RealAudio,African,men,00109.mp4,'
        b"FakeAVCeleb_v1.2/RealVideo-RealAudio/African/men/id00076\r\n"
    )
    expected = pd.DataFrame(
        [
            {
                "source": "id00076",
                "target1": "-",
                "target2": "-",
                "method": "faceswap\r\nwav2lip",
                "category": "A",
                "type": "RealVideo-RealAudio",
                "race": "African",
                "gender": "men",
                "filename": "00109.mp4",
                "path": "FakeAVCeleb_v1.2/RealVideo-RealAudio/African/men/id00076",
                "line": 2,
            }
        ]
    )
    pd.testing.assert_frame_equal(read_metadata(path), expected)
    # the line a refusal names is the physical line the row starts on, after a value spanning two
    path.write_bytes(
        HEADER10.encode() + b"\r\n"
        b'id00076,-,-,"faceswap\r\nwav2lip",A,RealVideo-RealAudio,African,men,00109.mp4,'
        b"FakeAVCeleb_v1.2/RealVideo-RealAudio/African/men/id00076\r\n"
        b"id00076,-,-,real,A,RealVideo-RealAudio,African,men,00110.mp4\r\n"
    )
    with pytest.raises(ValueError, match="^" + re.escape(f"{path}:4: expected 10 values, got 9") + "$"):
        read_metadata(path)


def test_find_dataset_dir_two_levels_down_and_its_refusals(tmp_path):
    deep = tmp_path / "downloads" / "FakeAVCeleb_v1.2"
    deep.mkdir(parents=True)
    (deep / "meta_data.csv").write_text(HEADER10 + "\n")
    assert find_dataset_dir(tmp_path) == deep
    missing = tmp_path / "nowhere"
    with pytest.raises(
        CorpusLayoutError, match="^" + re.escape(f"corpus root {missing} does not exist\n{LAYOUT}") + "$"
    ):
        find_dataset_dir(missing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        CorpusLayoutError, match="^" + re.escape(f"no meta_data.csv under {tmp_path / 'empty'}\n{LAYOUT}") + "$"
    ):
        find_dataset_dir(tmp_path / "empty")
    # meta_data.csv with no category folder beside it
    with pytest.raises(
        CorpusLayoutError, match="^" + re.escape(f"no category folders beside {deep}/meta_data.csv\n{LAYOUT}") + "$"
    ):
        fakeavceleb_clips(tmp_path, tmp_path / "split.json")


def test_clips_written_out_by_hand_for_a_saved_split(tmp_path):
    dataset = _metadata_only(
        tmp_path / "raw",
        [
            "id00001,-,-,real,A,RealVideo-RealAudio,African,men,00001.mp4,"
            "FakeAVCeleb_v1.2/RealVideo-RealAudio/African/men/id00001",
            "id00002,-,-,rtvc,B,RealVideo-FakeAudio,Asian (East),women,00002_fake.mp4,"
            "FakeAVCeleb_v1.2/RealVideo-FakeAudio/Asian (East)/women/id00002",
            "id00001,id00002,-,wav2lip,C,FakeVideo-RealAudio,African,men,00003_id00002_wavtolip.mp4,"
            "FakeAVCeleb_v1.2/FakeVideo-RealAudio/African/men/id00001",
            "id00003,id00001,-,fsgan-wav2lip,D,FakeVideo-FakeAudio,Caucasian (European),men,00004_id00001_wavtolip.mp4,"
            "FakeAVCeleb_v1.2/FakeVideo-FakeAudio/Caucasian (European)/men/id00003",
            # a folder that names no category is kept whole, under the dataset folder
            "id00003,-,-,real,A,RealVideo-RealAudio,Caucasian (European),men,00005.mp4,"
            "Caucasian (European)/men/id00003",
        ],
    )
    split_file = _saved_split(
        tmp_path / "split.json", {"id00001": "train", "id00002": "eval", "id00003": "eval", "id00004": "dev"}
    )
    eval_clips = [
        ClipSpec(
            "FAVC_RealVideo-FakeAudio_Asian_East__women_id00002_00002_fake",
            f"{dataset}/RealVideo-FakeAudio/Asian (East)/women/id00002/00002_fake.mp4",
            1,
            "rtvc",
            "id00002",
            (("category", "RealVideo-FakeAudio"), ("method", "rtvc")),
        ),
        ClipSpec(
            "FAVC_FakeVideo-FakeAudio_Caucasian_European__men_id00003_00004_id00001_wavtolip",
            f"{dataset}/FakeVideo-FakeAudio/Caucasian (European)/men/id00003/00004_id00001_wavtolip.mp4",
            1,
            "rtvc",
            "id00003",
            (("category", "FakeVideo-FakeAudio"), ("method", "fsgan-wav2lip")),
        ),
        ClipSpec(
            "FAVC_Caucasian_European__men_id00003_00005",
            f"{dataset}/Caucasian (European)/men/id00003/00005.mp4",
            0,
            "-",
            "id00003",
            (("category", "RealVideo-RealAudio"), ("method", "real")),
        ),
    ]
    train_clips = [
        ClipSpec(
            "FAVC_RealVideo-RealAudio_African_men_id00001_00001",
            f"{dataset}/RealVideo-RealAudio/African/men/id00001/00001.mp4",
            0,
            "-",
            "id00001",
            (("category", "RealVideo-RealAudio"), ("method", "real")),
        ),
        ClipSpec(
            "FAVC_FakeVideo-RealAudio_African_men_id00001_00003_id00002_wavtolip",
            f"{dataset}/FakeVideo-RealAudio/African/men/id00001/00003_id00002_wavtolip.mp4",
            0,
            "-",
            "id00001",
            (("category", "FakeVideo-RealAudio"), ("method", "wav2lip")),
        ),
    ]
    # Rows of other splits are skipped, not an end: the first row here is a train row.
    assert fakeavceleb_clips(tmp_path / "raw", split_file, splits=("eval",)) == {"eval": eval_clips}
    assert fakeavceleb_clips(tmp_path / "raw", split_file) == {"train": train_clips, "dev": [], "eval": eval_clips}


def test_a_new_split_file_is_written_in_full(tmp_path):
    _metadata_only(
        tmp_path / "raw",
        [
            "id00001,-,-,real,A,RealVideo-RealAudio,African,men,00001.mp4,FakeAVCeleb_v1.2/RealVideo-RealAudio/African/men/id00001"
        ],
    )
    first = tmp_path / "interim" / "deeper" / "fakeavceleb_identity_split.json"  # its folders do not exist yet
    fakeavceleb_clips(tmp_path / "raw", first)  # the default seed is 0
    assert first.read_text() == (
        '{\n "assignment": {\n  "id00001": "train"\n },\n'
        ' "fractions": {\n  "dev": 0.15,\n  "eval": 0.15,\n  "train": 0.7\n },\n'
        ' "seed": 0\n}'
    )
    second = first.parent / "other_identity_split.json"  # its folder exists now
    fakeavceleb_clips(tmp_path / "raw", second, seed=5)
    assert second.read_text() == first.read_text().replace('"seed": 0', '"seed": 5')


def test_the_same_seed_draws_the_same_split_into_a_fresh_file(tmp_path):
    meta = pd.DataFrame({"source": [f"id{n:05d}" for n in range(40)] * 2})
    a = load_or_make_split(meta, tmp_path / "a.json", 7)
    b = load_or_make_split(meta, tmp_path / "b.json", 7)
    assert a == b
    assert sorted(a) == [f"id{n:05d}" for n in range(40)]
    assert pd.Series(a).value_counts().to_dict() == {"train": 28, "dev": 6, "eval": 6}


def test_a_saved_split_that_lacks_identities_is_refused(tmp_path):
    split_file = _saved_split(tmp_path / "split.json", {"id00001": "train"})
    meta = pd.DataFrame({"source": [f"id{n:05d}" for n in (7, 1, 6, 5, 4, 3, 2, 1)]})
    with pytest.raises(
        ValueError,
        match="^"
        + re.escape(
            f"{split_file} has no split for identities ['id00002', 'id00003', 'id00004', 'id00005', 'id00006']; "
            "delete it to draw a new split (every later stage must then be rerun)"
        )
        + "$",
    ):
        load_or_make_split(meta, split_file, 0)


def _repeated(root, count):
    """`count` files listed a second time (another method, as in v1.2), in another order."""
    folder = "FakeAVCeleb_v1.2/FakeVideo-FakeAudio/African/women/id00220"
    names = [f"0002{n}_id03658_wavtolip.mp4" for n in range(count)]
    rows = [f"id00220,id03658,-,faceswap-wav2lip,D,FakeVideo-FakeAudio,African,women,{name},{folder}" for name in names]
    rows += [f"id00220,id03658,-,wav2lip,D,FakeVideo-FakeAudio,African,women,{name},{folder}" for name in names[::-1]]
    return _metadata_only(root, rows)


def test_the_log_line_for_files_listed_twice(tmp_path, capsys):
    dataset = _repeated(tmp_path / "three", 3)
    clips = fakeavceleb_clips(tmp_path / "three", tmp_path / "three.json")
    meta = dataset / "meta_data.csv"
    assert capsys.readouterr().out == (
        f"[preprocess] {meta} lists 3 files a second time; each is one clip with its first line's values "
        "(meta_data.csv:5 repeats meta_data.csv:4, meta_data.csv:6 repeats meta_data.csv:3, "
        "meta_data.csv:7 repeats meta_data.csv:2)\n"
    )
    kept = [clip for split in clips.values() for clip in split]
    assert [clip.utt_id for clip in kept] == [
        f"FAVC_FakeVideo-FakeAudio_African_women_id00220_0002{n}_id03658_wavtolip" for n in range(3)
    ]
    assert {clip.extra for clip in kept} == {(("category", "FakeVideo-FakeAudio"), ("method", "faceswap-wav2lip"))}
    dataset = _repeated(tmp_path / "four", 4)
    fakeavceleb_clips(tmp_path / "four", tmp_path / "four.json")
    assert capsys.readouterr().out == (
        f"[preprocess] {dataset / 'meta_data.csv'} lists 4 files a second time; each is one clip with its first "
        "line's values (meta_data.csv:6 repeats meta_data.csv:5, meta_data.csv:7 repeats meta_data.csv:4, "
        "meta_data.csv:8 repeats meta_data.csv:3, ...)\n"
    )


def test_the_refusal_of_a_file_listed_under_both_labels_names_both_lines(tmp_path):
    folder = "FakeAVCeleb_v1.2/FakeVideo-FakeAudio/African/women/id00220"
    dataset = _metadata_only(
        tmp_path / "raw",
        [
            "id00220,-,-,real,A,RealVideo-RealAudio,African,women,00001.mp4,FakeAVCeleb_v1.2/RealVideo-RealAudio/African/women/id00220",
            f"id00220,id03658,-,faceswap-wav2lip,D,FakeVideo-FakeAudio,African,women,00027_id03658_wavtolip.mp4,{folder}",
            f"id00220,id03658,-,wav2lip,D,FakeVideo-RealAudio,African,women,00027_id03658_wavtolip.mp4,{folder}",
        ],
    )
    with pytest.raises(
        ValueError,
        match="^"
        + re.escape(
            f"{dataset / 'meta_data.csv'}:4: FakeVideo-FakeAudio/African/women/id00220/00027_id03658_wavtolip.mp4 "
            "is already on line 3 with the other audio label (FakeVideo-FakeAudio there, FakeVideo-RealAudio here): "
            "fix meta_data.csv so each file has one label"
        )
        + "$",
    ):
        fakeavceleb_clips(tmp_path / "raw", tmp_path / "split.json")


def test_flag_duplicates_across_splits_by_hand(tmp_path):
    def manifest(split, rows):
        frame = pd.DataFrame(
            [
                dict(
                    zip(
                        MANIFEST_COLUMNS,
                        ("u", "fakeavceleb", split, 0, "-", "id1", "x.mp4", 0.6, 44100, 9600, 0, 0, "h"),
                        strict=True,
                    )
                )
                | row
                for row in rows
            ]
        )
        (tmp_path / split).mkdir()
        write_manifest(frame, tmp_path / split)
        return tmp_path / split

    # Each split's first row repeats the audio of a RealVideo-RealAudio clip, so both flagged rows
    # are the first of their manifest.
    train = manifest(
        "train",
        [
            {"utt_id": "FAVC_b", "audio_sha1": "aa", "category": "FakeVideo-RealAudio"},
            {"utt_id": "FAVC_a", "audio_sha1": "aa", "category": "RealVideo-RealAudio"},
        ],
    )
    dev = manifest(
        "dev",
        [
            {"utt_id": "FAVC_d", "audio_sha1": "cc", "category": "FakeVideo-RealAudio"},
            {"utt_id": "FAVC_c", "audio_sha1": "cc", "category": "RealVideo-RealAudio"},
            {"utt_id": "FAVC_e", "audio_sha1": "ee", "category": "FakeVideo-FakeAudio"},
        ],
    )
    flagged = flag_duplicates([train, dev])
    assert flagged[["utt_id", "duplicate_of"]].values.tolist() == [["FAVC_b", "FAVC_a"], ["FAVC_d", "FAVC_c"]]
    assert flagged.index.is_unique  # one label per row: .loc on it finds one row
    assert read_manifest(dev)["duplicate_of"].tolist() == ["FAVC_c", "", ""]
