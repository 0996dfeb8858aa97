import pandas as pd
import pytest
from audio_factory import write_asvspoof_layout

from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.formats.manifest import read_manifest
from deepfake_pipeline.formats.wavestore import WaveStore
from deepfake_pipeline.ingest.corpora import CorpusLayoutError
from deepfake_pipeline.ingest.corpora.asvspoof import asvspoof_clips, read_protocol

REAL_COUNTS = {"train": (25380, 2580), "dev": (24844, 2548), "eval": (71237, 7355)}
REAL_ATTACKS = {"train": {f"A0{i}" for i in range(1, 7)}, "dev": {f"A0{i}" for i in range(1, 7)},
                "eval": {f"A{i:02d}" for i in range(7, 20)}}


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
    code = preprocess(["--corpus", "asvspoof2019", "--root", str(tmp_path), "--splits", "train",
                       "--interim-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "ASVspoof2019_LA_cm_protocols" in err and "expected layout" in err


def test_missing_root_stops_at_once(tmp_path, capsys):
    code = preprocess(["--corpus", "asvspoof2019", "--root", str(tmp_path / "absent"),
                       "--interim-dir", str(tmp_path / "out")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_ingest_writes_manifest_store_and_rejects(tmp_path, capsys):
    protocols = write_asvspoof_layout(tmp_path / "raw", splits=("dev",), per_split=7)
    flac_dir = tmp_path / "raw" / "LA" / "ASVspoof2019_LA_dev" / "flac"
    (flac_dir / "LA_D_1000004.flac").unlink()                     # listed but missing
    (flac_dir / "LA_D_1000005.flac").write_bytes(b"not audio")    # corrupt
    code = preprocess(["--corpus", "asvspoof2019", "--root", str(tmp_path / "raw"), "--splits", "dev",
                       "--interim-dir", str(tmp_path / "out"), "--jobs", "1"])
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
    assert dict(zip(rejects["utt_id"], rejects["reason"])) == {"LA_D_1000004": "missing",
                                                                "LA_D_1000005": "unreadable"}
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
    code = preprocess(["--corpus", "asvspoof2019", "--root", str(tmp_path / "raw"), "--splits", "dev",
                       "--interim-dir", str(tmp_path / "out"), "--jobs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and "LA_D_1000001" in err[0]
    assert not (tmp_path / "out" / "asvspoof2019_dev").exists()
