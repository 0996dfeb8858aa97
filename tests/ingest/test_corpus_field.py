"""The field's evaluation corpora read from their own files, in their published formats: ASVspoof
2021 LA and DF keys, In-the-Wild's meta.csv and ASVspoof 5's protocol files. Every file here is
written by the test; the lines copy the published examples."""

import re

import pytest
from audio_factory import write_clip

from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.formats.manifest import read_manifest
from deepfake_pipeline.formats.wavestore import read_info
from deepfake_pipeline.ingest.corpora import CorpusLayoutError
from deepfake_pipeline.ingest.corpora.asvspoof5 import asvspoof5_clips
from deepfake_pipeline.ingest.corpora.asvspoof2021 import asv_scores_of, asvspoof2021_clips
from deepfake_pipeline.ingest.corpora.in_the_wild import in_the_wild_clips

LA_KEYS = [
    "LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval",
    "LA_0009 LA_E_1000001 none - - bonafide notrim eval",
    "LA_0012 LA_E_1000002 pstn usa_tx A13 spoof notrim progress",
    "LA_0012 LA_E_1000003 g722 sin_tx - bonafide notrim hidden_track",
]
DF_KEYS = [
    "LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -",
    "TEF2 DF_E_2000013 low_m4a vcc2020 Task1-team20 spoof notrim eval "
    "neural_vocoder_nonautoregressive Task1 team20 FF E",
    "LA_0048 DF_E_2000058 mp3m4a asvspoof - bonafide notrim eval bonafide - - - -",
]


def write_2021(root, track, lines, parts=1, keys_folder="keys"):
    key = root / keys_folder / track / "CM" / "trial_metadata.txt"
    key.parent.mkdir(parents=True)
    key.write_text("\n".join(lines) + "\n")
    for number, line in enumerate(lines):
        utt = line.split()[1]
        part = f"_part{number % parts:02d}" if parts > 1 else ""
        write_clip(root / f"ASVspoof2021_{track}_eval{part}" / "flac" / f"{utt}.flac", seed=number)
    return key


def test_2021_la_keeps_the_eval_subset_and_its_conditions(tmp_path):
    write_2021(tmp_path, "LA", LA_KEYS)
    clips = asvspoof2021_clips(tmp_path, "LA")["eval"]
    assert [c.utt_id for c in clips] == ["LA_E_9332881", "LA_E_1000001"]  # progress and hidden left out
    assert [c.label for c in clips] == [1, 0] and [c.attack for c in clips] == ["A07", "-"]
    assert dict(clips[0].extra) == {"codec": "alaw", "trans": "ita_tx", "subset": "eval"}
    everything = asvspoof2021_clips(tmp_path, "LA", subsets=None)["eval"]
    assert len(everything) == 4


def test_2021_df_reads_its_thirteen_columns_across_part_folders(tmp_path):
    # The keys folder's capitalisation differs between releases.
    write_2021(tmp_path / "nested", "DF", DF_KEYS, parts=2, keys_folder="Keys")
    clips = asvspoof2021_clips(tmp_path, "DF")["eval"]
    assert [c.utt_id for c in clips] == ["DF_E_2000013", "DF_E_2000058"]
    assert dict(clips[0].extra) == {
        "compr": "low_m4a",
        "source": "vcc2020",
        "vocoder": "neural_vocoder_nonautoregressive",
        "subset": "eval",
    }
    assert all(path.exists() for path in (tmp_path / c.source_path for c in clips))
    assert clips[0].speaker == "TEF2" and clips[0].attack == "Task1-team20"


def test_2021_malformed_key_line_names_file_and_line(tmp_path):
    write_2021(tmp_path, "LA", [LA_KEYS[0], "LA_0009 LA_E_1 alaw ita_tx A07 spoof eval"])
    with pytest.raises(ValueError, match=r"trial_metadata.txt:2: expected 8 fields"):
        asvspoof2021_clips(tmp_path, "LA")


def test_2021_unknown_subset_and_missing_keys_say_what_is_there(tmp_path):
    write_2021(tmp_path, "LA", LA_KEYS)
    with pytest.raises(ValueError, match=r"\['eval', 'hidden_track', 'progress'\]"):
        asvspoof2021_clips(tmp_path, "LA", subsets=("nonsense",))
    with pytest.raises(CorpusLayoutError, match="keys/DF/CM/trial_metadata.txt"):
        asvspoof2021_clips(tmp_path, "DF")


def test_2021_la_through_step_1_keeps_conditions_in_the_manifest(tmp_path, capsys):
    write_2021(tmp_path / "raw", "LA", LA_KEYS)
    code = preprocess(
        [
            "--corpus",
            "asvspoof2021_la",
            "--root",
            str(tmp_path / "raw"),
            "--interim-dir",
            str(tmp_path / "interim"),
            "--jobs",
            "1",
        ]
    )
    assert code == 0, capsys.readouterr().err
    manifest = read_manifest(tmp_path / "interim" / "asvspoof2021_la_eval")
    assert manifest["utt_id"].tolist() == ["LA_E_9332881", "LA_E_1000001"]
    assert manifest[["codec", "trans", "subset"]].values.tolist() == [["alaw", "ita_tx", "eval"], ["none", "-", "eval"]]
    assert read_info(tmp_path / "interim" / "asvspoof2021_la_eval")["num_spoof"] == 1


LA_LAYOUT = (
    "expected layout (ASVspoof2021_LA_eval.tar.gz and the keys, LA-keys-full.tar.gz, "
    "unpacked under the root):\n"
    "  <root>/keys/LA/CM/trial_metadata.txt\n"
    "  <root>/ASVspoof2021_LA_eval/flac/*.flac   (DF: the _partNN folders are fine)"
)


def test_2021_refusals_say_what_is_wrong_and_the_layout_expected(tmp_path):
    with pytest.raises(ValueError, match=r"^unknown ASVspoof 2021 track 'PA': choose LA or DF$"):
        asvspoof2021_clips(tmp_path, "PA")
    with pytest.raises(
        CorpusLayoutError,
        match="^" + re.escape(f"no keys/LA/CM/trial_metadata.txt under {tmp_path}\n{LA_LAYOUT}") + "$",
    ):
        asvspoof2021_clips(tmp_path, "LA")
    key = tmp_path / "keys" / "LA" / "CM" / "trial_metadata.txt"
    key.parent.mkdir(parents=True)
    key.write_text(
        "LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval\nLA_0009 LA_E_1 alaw ita_tx A07 spoof eval\n"
    )
    with pytest.raises(
        ValueError,
        match="^"
        + re.escape(
            f"{key}:2: expected 8 fields like `LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval`, "
            "got 'LA_0009 LA_E_1 alaw ita_tx A07 spoof eval'"
        )
        + "$",
    ):
        asvspoof2021_clips(tmp_path, "LA")
    key.write_text("LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval\n")
    # The LA keys beside the DF audio and an LA eval folder unpacked without its flac/: no LA audio.
    write_clip(tmp_path / "ASVspoof2021_DF_eval" / "flac" / "DF_E_2000011.flac")
    (tmp_path / "ASVspoof2021_LA_eval" / "docs").mkdir(parents=True)
    with pytest.raises(
        CorpusLayoutError,
        match="^" + re.escape(f"no ASVspoof2021_LA_eval*/flac/ folder under {tmp_path}\n{LA_LAYOUT}") + "$",
    ):
        asvspoof2021_clips(tmp_path, "LA")


def test_2021_a_missing_clip_points_into_the_tracks_own_audio_folder(tmp_path):
    # The whole evaluation package unpacked under one root: the DF audio sorts before the LA audio.
    write_2021(tmp_path, "LA", LA_KEYS[:2])
    write_clip(tmp_path / "ASVspoof2021_DF_eval" / "flac" / "DF_E_2000011.flac")
    (tmp_path / "ASVspoof2021_LA_eval" / "flac" / "LA_E_1000001.flac").unlink()
    clips = asvspoof2021_clips(tmp_path, "LA")["eval"]
    assert [c.source_path for c in clips] == [
        str(tmp_path / "ASVspoof2021_LA_eval" / "flac" / "LA_E_9332881.flac"),
        str(tmp_path / "ASVspoof2021_LA_eval" / "flac" / "LA_E_1000001.flac"),
    ]


def test_2021_asv_keys_of_one_la_subset_for_the_tdcf(tmp_path):
    # LA-keys-full and DF-keys-full unpacked together, with the older releases' capital K.
    keys = tmp_path / "release" / "Keys"
    write_2021(tmp_path / "release", "LA", LA_KEYS, keys_folder="Keys")
    (keys / "DF" / "CM").mkdir(parents=True)
    (keys / "DF" / "CM" / "trial_metadata.txt").write_text(
        "LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -\n"
    )
    (keys / "LA" / "ASV" / "ASVTorch_Kaldi").mkdir(parents=True)
    (keys / "LA" / "ASV" / "trial_metadata.txt").write_text(
        "LA_0009 LA_E_5013670 alaw ita_tx bonafide target notrim eval\n"
    )
    (keys / "LA" / "ASV" / "ASVTorch_Kaldi" / "score.txt").write_text("LA_0009 LA_E_5013670 3.2\n")
    folder = str(keys.resolve())
    assert asv_scores_of(tmp_path, "LA") == {"format": "asvspoof2021", "root": folder, "track": "LA", "subset": "eval"}
    assert asv_scores_of(tmp_path, "LA", ("progress",)) == {
        "format": "asvspoof2021",
        "root": folder,
        "track": "LA",
        "subset": "progress",
    }
    assert asv_scores_of(tmp_path, "LA", None) is None  # several subsets: no single t-DCF
    assert asv_scores_of(tmp_path, "LA", ("eval", "progress")) is None
    assert asv_scores_of(tmp_path, "DF") is None  # DF has no ASV scores, even beside LA's
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(
        CorpusLayoutError, match="^" + re.escape(f"no keys/LA/CM/trial_metadata.txt under {empty}\n{LA_LAYOUT}") + "$"
    ):
        asv_scores_of(empty, "LA")


def test_in_the_wild_meta_labels_and_speakers(tmp_path):
    folder = tmp_path / "release_in_the_wild"
    folder.mkdir()
    (folder / "meta.csv").write_text("file,speaker,label\n0.wav,Alec Guinness,spoof\n1.wav,Barack Obama,bona-fide\n")
    clips = in_the_wild_clips(tmp_path)["eval"]
    assert [(c.utt_id, c.speaker, c.label, c.attack) for c in clips] == [
        ("0", "Alec Guinness", 1, "-"),
        ("1", "Barack Obama", 0, "-"),
    ]
    assert clips[0].source_path == str(folder / "0.wav")


def test_in_the_wild_refuses_other_columns_and_labels(tmp_path):
    (tmp_path / "meta.csv").write_text("path,label\n0.wav,spoof\n")
    with pytest.raises(ValueError, match="file,speaker,label"):
        in_the_wild_clips(tmp_path)
    (tmp_path / "meta.csv").write_text("file,speaker,label\n0.wav,A,maybe\n")
    with pytest.raises(ValueError, match=r"meta.csv:2"):
        in_the_wild_clips(tmp_path)


def test_asvspoof5_protocol_fields_attacks_and_audio_folders(tmp_path):
    protocols = tmp_path / "ASVspoof5_protocols"
    protocols.mkdir()
    (protocols / "ASVspoof5.dev.track_1.tsv").write_text(
        "D_0062 D_0000000001 F - - - AC3 A11 spoof -\nD_0755 D_0000000002 M - - - bonafide bonafide bonafide -\n"
    )
    write_clip(tmp_path / "flac_D" / "D_0000000001.flac")
    clips = asvspoof5_clips(tmp_path, ("dev",))["dev"]
    assert [(c.utt_id, c.label, c.attack, c.speaker) for c in clips] == [
        ("D_0000000001", 1, "A11", "D_0062"),
        ("D_0000000002", 0, "-", "D_0755"),
    ]
    assert dict(clips[0].extra) == {"codec": "-", "codec_q": "-", "attack_tag": "AC3"}
    assert clips[0].source_path == str(tmp_path / "flac_D" / "D_0000000001.flac")
    with pytest.raises(CorpusLayoutError, match="ASVspoof5.train.tsv"):
        asvspoof5_clips(tmp_path, ("train",))


ITW_LAYOUT = (
    "expected layout (release_in_the_wild.zip unpacked under the root):\n"
    "  <root>/release_in_the_wild/meta.csv   (columns file,speaker,label)\n"
    "  <root>/release_in_the_wild/0.wav ..."
)
ASV5_LAYOUT = (
    "expected layout (ASVspoof5_protocols.tar.gz and the flac_*.tar files unpacked under the root):\n"
    "  <root>/ASVspoof5_protocols/ASVspoof5.{train,dev.track_1,eval.track_1}.tsv\n"
    "  <root>/flac_T/*.flac, <root>/flac_D/*.flac, <root>/flac_E_eval/*.flac"
)


def test_in_the_wild_cells_stay_text_and_refusals_are_worded_whole(tmp_path):
    folder = tmp_path / "release_in_the_wild"
    folder.mkdir()
    (folder / "meta.csv").write_text("file,speaker,label\n0.wav,NA,spoof\n1.wav,007,bona-fide\n2.wav, ,spoof\n")
    clips = in_the_wild_clips(tmp_path)["eval"]
    assert [(c.utt_id, c.speaker, c.label, c.attack) for c in clips] == [
        ("0", "NA", 1, "-"),
        ("1", "007", 0, "-"),
        ("2", "-", 1, "-"),
    ]
    (folder / "meta.csv").write_text("file,speaker,label\n0.wav,007,spoof\n")  # an all-digit column stays text
    assert [c.speaker for c in in_the_wild_clips(tmp_path)["eval"]] == ["007"]
    (folder / "meta.csv").write_text("file,speaker,label\n")
    with pytest.raises(
        CorpusLayoutError, match="^" + re.escape(f"{folder / 'meta.csv'} lists no clips\n{ITW_LAYOUT}") + "$"
    ):
        in_the_wild_clips(tmp_path)
    (folder / "meta.csv").write_text("path,who,label\n0.wav,A,spoof\n")
    with pytest.raises(
        ValueError,
        match="^"
        + re.escape(f"{folder / 'meta.csv'}: expected the columns file,speaker,label, found path,who,label")
        + "$",
    ):
        in_the_wild_clips(tmp_path)
    (folder / "meta.csv").unlink()
    with pytest.raises(CorpusLayoutError, match="^" + re.escape(f"no meta.csv under {tmp_path}\n{ITW_LAYOUT}") + "$"):
        in_the_wild_clips(tmp_path)


def test_asvspoof5_audio_is_looked_up_across_its_folders(tmp_path):
    """A clip is taken where it is, in any flac_D* folder; a clip found nowhere points into the
    first audio folder (step 1 then rejects it as missing), or to <root>/flac_D when there is none."""
    protocols = tmp_path / "ASVspoof5_protocols"
    protocols.mkdir()
    (protocols / "ASVspoof5.dev.track_1.tsv").write_text(
        "D_0062 D_0000000001 F - - - AC3 A11 spoof -\n"
        "D_0755 D_0000000002 M - - - bonafide bonafide bonafide -\n"
        "D_0755 D_0000000003 M - - - bonafide bonafide bonafide -\n"
    )
    assert [c.source_path for c in asvspoof5_clips(tmp_path, ("dev",))["dev"]] == [
        str(tmp_path / "flac_D" / f"D_000000000{i}.flac") for i in (1, 2, 3)
    ]
    audio = tmp_path / "unpacked"  # not beside the protocols: the first audio folder is not <root>/flac_D
    write_clip(audio / "flac_D" / "D_0000000001.flac")
    write_clip(audio / "flac_D_part2" / "D_0000000002.flac")
    write_clip(audio / "flac_T" / "D_0000000003.flac")  # another split's folder: not looked in
    assert [c.source_path for c in asvspoof5_clips(tmp_path, ("dev",))["dev"]] == [
        str(audio / "flac_D" / "D_0000000001.flac"),
        str(audio / "flac_D_part2" / "D_0000000002.flac"),
        str(audio / "flac_D" / "D_0000000003.flac"),
    ]


def test_asvspoof5_refusals_are_worded_whole(tmp_path):
    with pytest.raises(ValueError, match=r"^unknown ASVspoof 5 split 'test': choose from train, dev, eval$"):
        asvspoof5_clips(tmp_path, ("test",))
    with pytest.raises(
        CorpusLayoutError,
        match="^"
        + re.escape(f"no ASVspoof5_protocols/ASVspoof5.eval.track_1.tsv under {tmp_path}\n{ASV5_LAYOUT}")
        + "$",
    ):
        asvspoof5_clips(tmp_path, ("eval",))
    protocol = tmp_path / "ASVspoof5_protocols" / "ASVspoof5.train.tsv"
    protocol.parent.mkdir()
    protocol.write_text("T_0001 T_0000000001 F - - - bonafide bonafide\n")
    with pytest.raises(
        ValueError,
        match="^"
        + re.escape(
            f"{protocol}:1: expected 10 fields like `D_0062 D_0000000001 F - - - AC3 A11 spoof -`, got "
            "'T_0001 T_0000000001 F - - - bonafide bonafide'"
        )
        + "$",
    ):
        asvspoof5_clips(tmp_path, ("train",))


# ---------------------------------------------------------------- what the parsers share (protocols.py)


def test_protocol_fields_skip_blank_lines_and_name_a_bad_key(tmp_path):
    from deepfake_pipeline.ingest.corpora.protocols import read_fields

    path = tmp_path / "keys.txt"
    path.write_text("S1 u1 bonafide\n\n  \nS2 u2 spoof\n")
    assert read_fields(path, ("speaker", "utt", "label"), "S u key") == [
        {"speaker": "S1", "utt": "u1", "label": 0},
        {"speaker": "S2", "utt": "u2", "label": 1},
    ]
    path.write_text("S1 u1 bonafide\nS2 u2 maybe\n")
    with pytest.raises(ValueError, match=rf"^{path}:2: the key must be bonafide or spoof, got 'maybe'$"):
        read_fields(path, ("speaker", "utt", "label"), "S u key")


def test_search_reaches_four_folders_down_and_no_deeper(tmp_path):
    from deepfake_pipeline.ingest.corpora.protocols import SEARCH_DEPTH, find_below, find_folders

    assert SEARCH_DEPTH == 4
    for depth in (4, 5):
        root = tmp_path / f"depth{depth}"
        holder = root.joinpath(*[f"level{k}" for k in range(depth)])  # `depth` folders below the root
        (holder / "keys").mkdir(parents=True)
        (holder / "keys" / "trial_metadata.txt").write_text("x\n")
        found = [f for f in find_folders(root, lambda folder: (folder / "keys").is_dir())]
        if depth == 4:
            assert find_below(root, "keys/trial_metadata.txt", "LAYOUT") == holder / "keys" / "trial_metadata.txt"
            assert found == [holder]
        else:
            with pytest.raises(CorpusLayoutError, match=rf"^no keys/trial_metadata.txt under {root}\nLAYOUT$"):
                find_below(root, "keys/trial_metadata.txt", "LAYOUT")
            assert found == []
    with pytest.raises(CorpusLayoutError, match=rf"^corpus root {tmp_path / 'absent'} does not exist\nLAYOUT$"):
        find_below(tmp_path / "absent", "keys", "LAYOUT")


def test_search_is_case_sensitive_unless_asked(tmp_path):
    from deepfake_pipeline.ingest.corpora.protocols import find_below

    (tmp_path / "Keys").mkdir()
    with pytest.raises(CorpusLayoutError):
        find_below(tmp_path, "keys", "LAYOUT")
    assert find_below(tmp_path, "keys", "LAYOUT", case_insensitive=True) == tmp_path / "Keys"


@pytest.mark.parametrize("audio_folder", ["flac", "FLAC_T", "Flac_E_part1", "wav", "WAV16k"])
def test_audio_folders_are_never_entered(tmp_path, audio_folder):
    """They can hold 100,000s of files: below a folder whose name starts with flac or wav (any
    case) nothing is searched, even where what is looked for is there."""
    from deepfake_pipeline.ingest.corpora.protocols import find_below, find_folders

    (tmp_path / audio_folder / "sub" / "keys").mkdir(parents=True)
    (tmp_path / "zz_other" / "sub" / "keys").mkdir(parents=True)  # listed after the audio folder
    assert find_below(tmp_path, "keys", "LAYOUT") == tmp_path / "zz_other" / "sub" / "keys"
    assert find_folders(tmp_path, lambda folder: folder.name == "keys") == [tmp_path / "zz_other" / "sub" / "keys"]
