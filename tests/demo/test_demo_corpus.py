"""The generated demo corpus: real-corpus layouts, determinism, resumability, and that the
classes differ by how they were generated, not by duration, silence or loudness."""

import csv
import re
from pathlib import Path

import av
import librosa
import numpy as np
import pytest
import soundfile as sf
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deepfake_pipeline.common.numba_cache import warm_before_workers
from deepfake_pipeline.demo import corpus as demo_corpus
from deepfake_pipeline.demo.asvspoof import render_clip
from deepfake_pipeline.demo.attacks import warm_numba_kernels
from deepfake_pipeline.demo.corpus import (
    DEFAULT_SIZES,
    MARKER_NAME,
    PROTOCOL_NAMES,
    generate_demo_corpus,
    plan_asvspoof,
)
from deepfake_pipeline.demo.fakeav import META_COLUMNS, plan_fakeav

PROTOCOL_LINE = re.compile(r"^(LA_\d{4}) (LA_[TDE]_\d{7}) - (-|A\d\d) (bonafide|spoof)$")
SPLIT_CODE = {"train": "T", "dev": "D", "eval": "E"}
TINY_SIZES = {"train": (1, 4), "dev": (1, 4), "eval": (1, 4)}
TINY_IDENTITIES = 3
# Big enough for a classifier trained on train and scored on eval to mean something.
MEDIUM_SIZES = {"train": (20, 40), "dev": (1, 4), "eval": (16, 32)}


def read_protocol(root: Path, split: str) -> list[tuple[str, ...]]:
    path = root / "LA" / "ASVspoof2019_LA_cm_protocols" / PROTOCOL_NAMES[split]
    rows = []
    for line in path.read_text().splitlines():
        match = PROTOCOL_LINE.match(line)
        assert match, f"protocol line not in the ASVspoof format: {line!r}"
        fields = tuple(line.split(" "))
        assert len(fields) == 5 and fields[4] in ("bonafide", "spoof")
        rows.append(fields)
    return rows


def flac_dir(root: Path, split: str) -> Path:
    return root / "LA" / f"ASVspoof2019_LA_{split}" / "flac"


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray() for frame in container.decode(stream)]
        return np.concatenate(frames, axis=1), stream.codec_context.sample_rate


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> Path:
    """Written by the command line, its defaults shrunk to the tiny sizes."""
    out = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo_corpus, "DEFAULT_SIZES", TINY_SIZES)
        patch.setattr(demo_corpus, "DEFAULT_FAKEAV_IDENTITIES", TINY_IDENTITIES)
        assert demo_corpus.main(["--out", str(out), "--seed", "0", "--jobs", "1"]) == 0
    return out


def _clip_features(clip, seed: int) -> dict:
    audio = render_clip(clip, seed) / 32768.0
    _, (start, stop) = librosa.effects.trim(audio, top_db=35)
    return {
        "split": clip.split,
        "label": int(clip.key == "spoof"),
        "duration": [len(audio) / 16000],
        "silence_and_level": [
            start / 16000,
            (len(audio) - stop) / 16000,
            10 * np.log10(np.mean(audio[start:stop] ** 2)),
        ],
        "mfcc": librosa.feature.mfcc(y=audio, sr=16000, n_mfcc=13).mean(axis=1),
        "peak": np.abs(audio).max(),
    }


@pytest.fixture(scope="module")
def clip_table():
    """Per protocol clip of train and eval at the medium sizes, rendered exactly as the writer
    renders it: label, duration, silences and level, mean MFCCs, peak."""
    clips = [c for c in plan_asvspoof(0, MEDIUM_SIZES) if c.in_protocol and c.split != "dev"]
    warm_before_workers(warm_numba_kernels)  # as the writer does: workers only read numba's cache
    return Parallel(n_jobs=2)(delayed(_clip_features)(clip, 0) for clip in clips)


def eval_auc(table, feature: str) -> float:
    """Logistic regression fitted on train, ROC-AUC of spoof scores on eval."""
    train = [r for r in table if r["split"] == "train"]
    test = [r for r in table if r["split"] == "eval"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(np.array([r[feature] for r in train]), [r["label"] for r in train])
    scores = model.predict_proba(np.array([r[feature] for r in test]))[:, 1]
    return roc_auc_score([r["label"] for r in test], scores)


def test_default_plan_has_the_promised_shape_without_rendering_audio():
    plan = plan_asvspoof(seed=0)
    protocol = [c for c in plan if c.in_protocol]
    for split, (n_bonafide, n_spoof) in DEFAULT_SIZES.items():
        in_split = [c for c in protocol if c.split == split]
        assert sum(c.key == "bonafide" for c in in_split) == n_bonafide
        assert sum(c.key == "spoof" for c in in_split) == n_spoof
        assert sum(not c.in_protocol and c.split == split for c in plan) == demo_corpus.EXTRA_FILES_PER_SPLIT
        assert all(c.utt_id.startswith(f"LA_{SPLIT_CODE[split]}_") for c in in_split)
    assert 280 <= len(protocol) <= 320
    assert 0.25 < np.mean([c.key == "bonafide" for c in protocol]) < 0.4
    assert len({c.utt_id for c in plan}) == len(plan)
    assert all(1.0 <= c.duration_s <= 4.0 + 1e-9 and c.speech_s > 0.2 for c in plan)
    speakers = {split: {c.speaker for c in plan if c.split == split} for split in DEFAULT_SIZES}
    assert not speakers["train"] & speakers["dev"]
    assert not speakers["train"] & speakers["eval"]
    assert not speakers["dev"] & speakers["eval"]
    attacks = {split: {c.attack for c in protocol if c.split == split} - {"-"} for split in DEFAULT_SIZES}
    assert attacks["train"] == attacks["dev"] == {"A01", "A02", "A03", "A04"}
    assert len(attacks["eval"] - attacks["train"]) >= 2 and attacks["eval"] & attacks["train"]
    assert all(c.attack == "-" for c in plan if c.key == "bonafide")

    videos = plan_fakeav(seed=0)
    assert len({v.identity.name for v in videos}) == demo_corpus.DEFAULT_FAKEAV_IDENTITIES
    assert {v.type for v in videos} == {
        "RealVideo-RealAudio",
        "RealVideo-FakeAudio",
        "FakeVideo-RealAudio",
        "FakeVideo-FakeAudio",
    }


@pytest.mark.slow
def test_asvspoof_layout_and_protocols_follow_the_real_corpus(tiny_corpus):
    root = tiny_corpus / "asvspoof"
    assert "SYNTHETIC" in (root / MARKER_NAME).read_text()
    speakers_by_split = {}
    for split, (n_bonafide, n_spoof) in TINY_SIZES.items():
        rows = read_protocol(root, split)
        assert len(rows) == n_bonafide + n_spoof
        assert sum(key == "bonafide" for *_, key in rows) == n_bonafide
        for _speaker, utt, _dash, attack, key in rows:
            assert utt[3] == SPLIT_CODE[split]
            assert (attack == "-") == (key == "bonafide")
            info = sf.info(flac_dir(root, split) / f"{utt}.flac")
            assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", 16000, 1)
            assert 1.0 - 1e-3 <= info.duration <= 4.0 + 1e-3
        on_disk = {p.stem for p in flac_dir(root, split).glob("*.flac")}
        extra = on_disk - {utt for _, utt, *_ in rows}
        assert len(extra) == demo_corpus.EXTRA_FILES_PER_SPLIT, "folders must hold files the protocol does not list"
        speakers_by_split[split] = {speaker for speaker, *_ in rows}
    assert not speakers_by_split["train"] & speakers_by_split["eval"]
    assert not speakers_by_split["train"] & speakers_by_split["dev"]


@pytest.mark.slow
def test_fakeav_layout_metadata_and_decodable_audio(tiny_corpus):
    root = tiny_corpus / "fakeav"
    assert "SYNTHETIC" in (root / MARKER_NAME).read_text()
    with open(root / "FakeAVCeleb_v1.2" / "meta_data.csv", newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == META_COLUMNS
        rows = [dict(zip(META_COLUMNS, values, strict=True)) for values in reader]
    assert {r["type"] for r in rows} == {
        "RealVideo-RealAudio",
        "RealVideo-FakeAudio",
        "FakeVideo-RealAudio",
        "FakeVideo-FakeAudio",
    }
    real_audio = {}
    decoded = []
    for row in rows:
        assert row["path"] == f"FakeAVCeleb_v1.2/{row['type']}/{row['race']}/{row['gender']}/{row['source']}"
        path = root / row["path"] / row["filename"]
        with av.open(str(path)) as container:
            assert len(container.streams.video) == 1
        audio, rate = decode_audio(path)
        assert rate in (44100, 48000) and audio.shape[1] > 1.5 * rate
        assert np.sqrt(np.mean(audio**2)) > 1e-3
        assert (row["category"] in ("B", "D")) == row["type"].endswith("-FakeAudio")
        if row["type"] == "RealVideo-RealAudio":
            real_audio[row["source"]] = audio
        decoded.append((row, audio))
    assert {a.shape[0] for _, a in decoded} == {1, 2}, "both mono and stereo files are expected"
    copies = 0
    for row, audio in decoded:
        real = real_audio[row["source"]]
        same = audio.shape == real.shape and np.array_equal(audio, real)
        if row["type"] == "FakeVideo-RealAudio":
            assert same, f"{row['filename']}: real audio under a fake video must decode like the original"
            copies += 1
        elif row["type"].endswith("-FakeAudio"):
            assert not same
    assert copies == TINY_IDENTITIES * 3


@pytest.mark.slow
def test_same_seed_same_bytes_other_seed_differs_and_reruns_skip(tiny_corpus, tmp_path):
    first, second = tiny_corpus, tmp_path / "second"
    summary = generate_demo_corpus(second, seed=0, sizes=TINY_SIZES, fakeav_identities=TINY_IDENTITIES, jobs=2)
    assert summary["skipped"] is False
    first_files, second_files = all_files(first / "asvspoof"), all_files(second / "asvspoof")
    assert first_files == second_files
    assert sum(name.endswith(".flac") for name in first_files) == len(plan_asvspoof(0, TINY_SIZES))
    mp4s = sorted((first / "fakeav").rglob("*.mp4"))
    assert len(mp4s) == TINY_IDENTITIES * 8
    for mp4 in mp4s:
        twin = second / "fakeav" / mp4.relative_to(first / "fakeav")
        a, b = decode_audio(mp4)[0], decode_audio(twin)[0]
        assert a.shape == b.shape and np.array_equal(a, b)

    mtimes = {p: p.stat().st_mtime_ns for p in second.rglob("*") if p.is_file()}
    again = generate_demo_corpus(second, seed=0, sizes=TINY_SIZES, fakeav_identities=TINY_IDENTITIES)
    assert again["skipped"] is True
    assert {p: p.stat().st_mtime_ns for p in second.rglob("*") if p.is_file()} == mtimes

    other = generate_demo_corpus(second, seed=1, sizes=TINY_SIZES, fakeav_identities=TINY_IDENTITIES)
    assert other["skipped"] is False
    reseeded = all_files(second / "asvspoof")
    expected = {f"LA/ASVspoof2019_LA_{c.split}/flac/{c.utt_id}.flac" for c in plan_asvspoof(1, TINY_SIZES)}
    assert {n for n in reseeded if n.endswith(".flac")} == expected, "files of the old seed must be gone"
    protocol = "LA/ASVspoof2019_LA_cm_protocols/" + PROTOCOL_NAMES["eval"]
    assert reseeded[protocol] != first_files[protocol]
    assert not list(second.glob(".demo_corpus_staging*"))


@pytest.mark.slow
def test_command_line_labels_the_corpus_and_skips_a_complete_one(tiny_corpus, capsys, monkeypatch):
    assert "SYNTHETIC" in (tiny_corpus / "asvspoof" / MARKER_NAME).read_text()
    assert "SYNTHETIC" in (tiny_corpus / "fakeav" / MARKER_NAME).read_text()
    monkeypatch.setattr(demo_corpus, "DEFAULT_SIZES", TINY_SIZES)
    monkeypatch.setattr(demo_corpus, "DEFAULT_FAKEAV_IDENTITIES", TINY_IDENTITIES)
    assert demo_corpus.main(["--out", str(tiny_corpus), "--seed", "0"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("DEMO CORPUS (synthetic, not real speech) seed=0 already present, skipped")
    assert "asvspoof eval: 1 bona fide, 4 spoof (A02, A04, A05, A06)" in printed


@pytest.mark.slow
def test_progress_goes_to_standard_error_and_counts_what_is_written(tmp_path, capsys, monkeypatch):
    """Minutes of silence no more: each stage prints timestamped progress lines on stderr, the
    last one counting every file of that stage on disk; stdout keeps only the summary."""
    monkeypatch.setattr(demo_corpus, "DEFAULT_SIZES", TINY_SIZES)
    monkeypatch.setattr(demo_corpus, "DEFAULT_FAKEAV_IDENTITIES", TINY_IDENTITIES)
    assert demo_corpus.main(["--out", str(tmp_path), "--seed", "0", "--jobs", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("DEMO CORPUS (synthetic, not real speech) seed=0 written in ")
    assert "[demo" not in captured.out
    flacs = len(list((tmp_path / "asvspoof").rglob("*.flac")))
    mp4s = len(list((tmp_path / "fakeav").rglob("*.mp4")))
    assert flacs == len(plan_asvspoof(0, TINY_SIZES)) and mp4s == TINY_IDENTITIES * 8
    stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
    assert re.search(
        stamp + rf"\[demo\] generating the demo corpus into {re.escape(str(tmp_path))} ", captured.err, re.M
    )
    for label, count, unit in (("demo asvspoof", flacs, "clips"), ("demo fakeav mp4", mp4s, "files")):
        lines = re.findall(stamp + rf"\[{label}\] (\d+)/(\d+) {unit} ", captured.err, re.M)
        assert lines and lines[-1] == (str(count), str(count)), (label, lines)
    assert re.search(stamp + r"\[demo fakeav audio\] (\d+)/\1 tracks \(100\.0%\)", captured.err, re.M)


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path, capsys):
    foreign = tmp_path / "asvspoof" / "LA"
    foreign.mkdir(parents=True)
    (foreign / "keep.txt").write_text("real data")
    with pytest.raises(FileExistsError, match="not a generated demo corpus"):
        generate_demo_corpus(tmp_path, sizes=TINY_SIZES, fakeav_identities=3)
    assert demo_corpus.main(["--out", str(tmp_path)]) == 2
    assert "Choose another --out" in capsys.readouterr().err
    assert (foreign / "keep.txt").read_text() == "real data"
    with pytest.raises(ValueError, match="one spoof per attack"):
        plan_asvspoof(0, {"train": (1, 1), "dev": (1, 4), "eval": (1, 4)})


@pytest.mark.slow
def test_no_clip_clips(clip_table):
    assert max(r["peak"] for r in clip_table) < 0.999


@pytest.mark.slow
def test_duration_silence_and_loudness_do_not_give_the_label_away(clip_table):
    duration_auc = eval_auc(clip_table, "duration")
    silence_auc = eval_auc(clip_table, "silence_and_level")
    assert 0.35 <= duration_auc <= 0.65, duration_auc
    assert 0.35 <= silence_auc <= 0.65, silence_auc


@pytest.mark.slow
def test_mean_mfccs_separate_bona_fide_from_spoofs_including_unseen_attacks(clip_table):
    auc = eval_auc(clip_table, "mfcc")
    assert auc > 0.8, f"mean-MFCC logistic regression, train -> eval: ROC-AUC {auc:.3f}"
