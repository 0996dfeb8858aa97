import pandas as pd
import pytest
from audio_factory import write_asvspoof_layout

from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.formats.manifest import read_manifest
from deepfake_pipeline.formats.wavestore import WaveStore
from deepfake_pipeline.ingest.corpora import CorpusLayoutError
from deepfake_pipeline.ingest.corpora.asvspoof import asvspoof_clips, read_protocol

REAL_COUNTS = {"train": (25380, 2580), "dev": (24844, 2548), "eval": (71237, 7355)}
REAL_ATTACKS = {
    "train": {f"A0{i}" for i in range(1, 7)},
    "dev": {f"A0{i}" for i in range(1, 7)},
    "eval": {f"A{i:02d}" for i in range(7, 20)},
}


@pytest.mark.parametrize("split,name", [("train", "train.trn"), ("dev", "dev.trl"), ("eval", "eval.trl")])
def test_real_protocols_parse_with_official_counts(real_data_dir, split, name):
    entries = read_protocol(real_data_dir / "asvspoof2019_la_protocols" / f"ASVspoof2019.LA.cm.{name}.txt")
    total, bonafide = REAL_COUNTS[split]
    assert len(entries) == total
    assert sum(e["label"] == 0 for e in entries) == bonafide
    assert {e["attack"] for e in entries if e["label"] == 1} == REAL_ATTACKS[split]
    assert all(e["attack"] == "-" for e in entries if e["label"] == 0 and split != "eval")
    assert len({e["utt_id"] for e in entries}) == total


def test_malformed_protocol_line_names_file_and_line(tmp_path):
    bad = tmp_path / "p.txt"
    bad.write_text("LA_0069 LA_D_1047731 - - bonafide\nLA_0069 LA_D_1 - spoof\n")
    with pytest.raises(ValueError, match=r"p.txt:2"):
        read_protocol(bad)


@pytest.mark.parametrize("extra_level", [False, True])
def test_layout_found_with_or_without_kaggle_level(tmp_path, extra_level):
    protocols = write_asvspoof_layout(tmp_path, splits=("dev",), extra_level=extra_level)
    clips = asvspoof_clips(tmp_path, ("dev",))["dev"]
    assert [c.utt_id for c in clips] == [line.split()[1] for line in protocols["dev"]]
    assert all("enrolment" not in c.source_path for c in clips)


def test_missing_protocol_stops_with_expected_layout(tmp_path, capsys):
    write_asvspoof_layout(tmp_path, splits=("dev",))
    code = preprocess(
        [
            "--corpus",
            "asvspoof2019",
            "--root",
            str(tmp_path),
            "--splits",
            "train",
            "--interim-dir",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "ASVspoof2019_LA_cm_protocols" in err and "expected layout" in err


def test_missing_root_stops_at_once(tmp_path, capsys):
    code = preprocess(
        ["--corpus", "asvspoof2019", "--root", str(tmp_path / "absent"), "--interim-dir", str(tmp_path / "out")]
    )
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_ingest_writes_manifest_store_and_rejects(tmp_path, capsys):
    protocols = write_asvspoof_layout(tmp_path / "raw", splits=("dev",), per_split=7)
    flac_dir = tmp_path / "raw" / "LA" / "ASVspoof2019_LA_dev" / "flac"
    (flac_dir / "LA_D_1000004.flac").unlink()  # listed but missing
    (flac_dir / "LA_D_1000005.flac").write_bytes(b"not audio")  # corrupt
    code = preprocess(
        [
            "--corpus",
            "asvspoof2019",
            "--root",
            str(tmp_path / "raw"),
            "--splits",
            "dev",
            "--interim-dir",
            str(tmp_path / "out"),
            "--jobs",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    store = WaveStore(tmp_path / "out" / "asvspoof2019_dev")
    manifest = read_manifest(tmp_path / "out" / "asvspoof2019_dev" / "manifest.csv")
    kept = [line.split() for line in protocols["dev"] if line.split()[1] not in ("LA_D_1000004", "LA_D_1000005")]
    assert manifest["utt_id"].tolist() == [k[1] for k in kept]
    assert manifest["speaker"].tolist() == [k[0] for k in kept]
    assert manifest["attack"].tolist() == [k[3] for k in kept]
    assert manifest["label"].tolist() == [0 if k[4] == "bonafide" else 1 for k in kept]
    rejects = pd.read_csv(tmp_path / "out" / "asvspoof2019_dev" / "rejects.csv")
    assert dict(zip(rejects["utt_id"], rejects["reason"], strict=True)) == {
        "LA_D_1000004": "missing",
        "LA_D_1000005": "unreadable",
    }
    assert "rejected 2 clips" in out and "rejects.csv" in out
    assert "PREPROCESS split=asvspoof2019_dev clips=5" in out
    import soundfile as sf

    for i, utt in enumerate(manifest["utt_id"]):
        expected, _ = sf.read(flac_dir / f"{utt}.flac", dtype="float32")
        assert (store.waveform(i) == expected).all()


def test_a_repeated_protocol_line_is_refused_naming_both_lines(tmp_path, capsys):
    protocols = write_asvspoof_layout(tmp_path / "raw", splits=("dev",), per_split=4)
    protocol = tmp_path / "raw" / "LA" / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.dev.trl.txt"
    protocol.write_text("\n".join(protocols["dev"] + [protocols["dev"][1]]) + "\n")
    with pytest.raises(ValueError, match=r"dev.trl.txt:5.*LA_D_1000001.*line 2"):
        asvspoof_clips(tmp_path / "raw", ("dev",))
    code = preprocess(
        [
            "--corpus",
            "asvspoof2019",
            "--root",
            str(tmp_path / "raw"),
            "--splits",
            "dev",
            "--interim-dir",
            str(tmp_path / "out"),
            "--jobs",
            "1",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and "LA_D_1000001" in err[0]
    assert not (tmp_path / "out" / "asvspoof2019_dev").exists()


def test_refusals_name_what_is_wrong_and_the_expected_layout(tmp_path):
    """Each refusal's message, matched from its start: the unknown split with the choices, the
    missing audio folder, no protocol folder at all, a bad key, a clip listed twice."""
    from deepfake_pipeline.ingest.corpora.asvspoof import EXPECTED_LAYOUT

    write_asvspoof_layout(tmp_path / "raw", splits=("dev",))
    with pytest.raises(ValueError, match=r"^unknown ASVspoof 2019 LA split 'test': choose from train, dev, eval$"):
        asvspoof_clips(tmp_path / "raw", ("test",))
    flac_dir = tmp_path / "raw" / "LA" / "ASVspoof2019_LA_dev" / "flac"
    flac_dir.rename(tmp_path / "elsewhere")
    with pytest.raises(CorpusLayoutError) as missing_audio:
        asvspoof_clips(tmp_path / "raw", ("dev",))
    assert str(missing_audio.value) == f"missing audio folder {flac_dir}\n{EXPECTED_LAYOUT}"
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusLayoutError) as no_protocols:
        asvspoof_clips(tmp_path / "empty", ("dev",))
    assert (
        str(no_protocols.value)
        == f"no ASVspoof2019_LA_cm_protocols/ folder under {tmp_path / 'empty'}\n{EXPECTED_LAYOUT}"
    )
    bad_key = tmp_path / "key.txt"
    bad_key.write_text("LA_0069 LA_D_1 - - bonafide\nLA_0069 LA_D_2 - A01 maybe\n")
    with pytest.raises(ValueError, match=rf"^{bad_key}:2: key must be bonafide or spoof, got 'maybe'$"):
        read_protocol(bad_key)
    twice = tmp_path / "twice.txt"
    twice.write_text("LA_0069 LA_D_1 - - bonafide\nLA_0069 LA_D_2 - A01 spoof\nLA_0069 LA_D_1 - - bonafide\n")
    with pytest.raises(
        ValueError,
        match=rf"^{twice}:3: LA_D_1 is already on line 1: each clip must be listed once "
        r"\(is the protocol file damaged\? the official one lists none twice\)$",
    ):
        read_protocol(twice)


def test_blank_lines_inside_a_protocol_are_skipped_not_the_end(tmp_path):
    protocol = tmp_path / "p.txt"
    protocol.write_text("LA_0069 LA_D_1 - - bonafide\n\n   \nLA_0070 LA_D_2 - A01 spoof\n")
    assert read_protocol(protocol) == [
        {"speaker": "LA_0069", "utt_id": "LA_D_1", "attack": "-", "label": 0},
        {"speaker": "LA_0070", "utt_id": "LA_D_2", "attack": "A01", "label": 1},
    ]


def test_protocol_folder_is_searched_four_levels_down_and_no_deeper(tmp_path):
    from deepfake_pipeline.ingest.corpora.asvspoof import find_la_dir

    for depth in (4, 5):
        root = tmp_path / f"depth{depth}"
        # the protocol folder's own path below the root has `depth` parts
        la = root.joinpath(*[f"level{k}" for k in range(depth - 1)])
        (la / "ASVspoof2019_LA_cm_protocols").mkdir(parents=True)
        if depth == 4:
            assert find_la_dir(root) == la
        else:
            with pytest.raises(CorpusLayoutError, match=r"^no ASVspoof2019_LA_cm_protocols/ folder under"):
                find_la_dir(root)


def test_asv_scores_are_those_of_the_split_asked_for(tmp_path):
    from deepfake_pipeline.ingest.corpora.asvspoof import asv_scores_of

    write_asvspoof_layout(tmp_path, splits=("dev",))
    asv_dir = tmp_path / "LA" / "ASVspoof2019_LA_asv_scores"
    asv_dir.mkdir()
    for split in ("dev", "eval"):
        (asv_dir / f"ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt").write_text("LA_0069 bonafide target 1.0\n")
    for split in ("dev", "eval"):
        assert asv_scores_of(tmp_path, split) == {
            "format": "asvspoof2019",
            "path": str((asv_dir / f"ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt").resolve()),
        }
    assert asv_scores_of(tmp_path, "train") is None  # LA.zip ships none for train


def test_safe_id_keeps_letters_digits_dot_dash_underscore_and_trims_underscores():
    from deepfake_pipeline.ingest.corpora import safe_id

    assert safe_id("Speaker A/take 2.wav") == "Speaker_A_take_2.wav"
    assert safe_id("ABC-xyz_0.9") == "ABC-xyz_0.9"
    assert safe_id("__X_x_X__") == "X_x_X"
    assert safe_id(" (copy) ") == "copy"
    assert safe_id("  //  ") == "clip"


def test_demo_marker_counts_at_the_root_or_up_to_two_folders_above(tmp_path):
    from deepfake_pipeline.ingest.corpora import DEMO_MARKER, is_demo_root

    (tmp_path / DEMO_MARKER).write_text("generated\n")
    root = tmp_path / "a" / "b" / "c"
    root.mkdir(parents=True)
    assert is_demo_root(tmp_path) and is_demo_root(tmp_path / "a") and is_demo_root(tmp_path / "a" / "b")
    assert not is_demo_root(root)  # three folders below the marker: another corpus
