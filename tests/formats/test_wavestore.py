"""The waveform store keeps exactly what the decoder produced (peaks above full scale, quiet
passages, MP3 output), every reader goes through WaveStore.waveform, and a store written by an
older step 1 is refused rather than misread."""

import csv
import json

import numpy as np
import pytest
import soundfile as sf
from audio_factory import voiced

from deepfake_pipeline.cli.features import main as features
from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.features.spectral import spectral_features
from deepfake_pipeline.formats.feature_files import load_spectral
from deepfake_pipeline.formats.manifest import read_manifest
from deepfake_pipeline.formats.wavestore import STORE_DTYPE, StoreError, WaveStore
from deepfake_pipeline.ingest.decode import load_clip


def _awkward_clips(folder):
    """Clips an int16 store loses: a float WAV peaking above full scale, one whose second half
    sits at -110 dBFS, a resampled stereo one, and an MP3."""
    folder.mkdir(parents=True)
    speech = voiced(1.0, 22050, seed=1)
    sf.write(folder / "loud.wav", 1.7 * speech / np.abs(speech).max(), 22050, subtype="FLOAT")
    quiet = voiced(1.0, 16000, seed=2)
    quiet[8000:] *= 10 ** (-110 / 20) / np.abs(quiet[8000:]).max()
    sf.write(folder / "quiet.wav", quiet, 16000, subtype="FLOAT")
    sf.write(folder / "stereo.wav", voiced(1.0, 44100, seed=3, channels=2), 44100, subtype="FLOAT")
    sf.write(folder / "speech.mp3", voiced(1.0, 24000, seed=4), 24000, format="MP3")
    rows = [
        (name, "real" if i % 2 == 0 else "fake")
        for i, name in enumerate(("loud.wav", "quiet.wav", "stereo.wav", "speech.mp3"))
    ]
    with open(folder / "list.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("path", "label"), *rows])
    return folder / "list.csv"


@pytest.fixture
def awkward_split(tmp_path):
    listing = _awkward_clips(tmp_path / "clips")
    assert (
        preprocess(
            [
                "--corpus",
                "csv",
                "--root",
                str(listing),
                "--name",
                "awk",
                "--interim-dir",
                str(tmp_path / "interim"),
                "--jobs",
                "1",
            ]
        )
        == 0
    )
    return tmp_path / "interim" / "awk_all"


def test_store_holds_exactly_what_the_decoder_produced(awkward_split):
    store = WaveStore(awkward_split)
    assert store.info["store_dtype"] == STORE_DTYPE == "float32"
    assert len(store) == 4
    for i, source in enumerate(store.manifest["source_path"]):
        decoded = load_clip(source).samples
        stored = store.waveform(i)
        assert stored.dtype == np.float32
        np.testing.assert_array_equal(stored, decoded)
    loud = store.waveform(0)
    assert np.abs(loud).max() > 1.6  # not clipped at full scale
    quiet_tail = store.waveform(1)[9000:]
    assert np.count_nonzero(quiet_tail) == len(quiet_tail)  # not rounded to zero


def test_spectral_features_are_computed_from_the_stored_waveform(awkward_split, tmp_path):
    assert (
        features(
            [
                "--splits",
                "awk_all",
                "--what",
                "spectral",
                "--jobs",
                "1",
                "--interim-dir",
                str(awkward_split.parent),
                "--processed-dir",
                str(tmp_path / "p"),
            ]
        )
        == 0
    )
    table = load_spectral("awk_all", tmp_path / "p", awkward_split.parent)
    manifest = read_manifest(awkward_split)
    for i, source in enumerate(manifest["source_path"]):
        np.testing.assert_allclose(
            table.iloc[i, 2:].to_numpy(float), spectral_features(load_clip(source).samples), rtol=1e-6
        )


def _old_int16_split(folder):
    """A split as the step 1 before the float32 store wrote it."""
    (folder / "waves").mkdir(parents=True)
    samples = (voiced(0.5, 16000) * 32767).astype(np.int16)
    np.save(folder / "waves" / "shard_00000.npy", samples)
    with open(folder / "manifest.csv", "w") as handle:
        handle.write(
            "utt_id,corpus,split,label,attack,speaker,source_path,duration_s,orig_sr,num_samples,"
            f"shard,offset,audio_sha1\nc0,old,all,0,-,-,/x.wav,0.5,16000,{len(samples)},0,0,{'0' * 40}\n"
        )
    (folder / "info.json").write_text(
        json.dumps(
            {"split_id": "old_all", "corpus": "old", "split": "all", "sample_rate": 16000, "store_dtype": "int16"}
        )
    )


def test_a_store_written_by_the_older_step_1_is_refused(tmp_path, capsys):
    _old_int16_split(tmp_path / "interim" / "old_all")
    with pytest.raises(StoreError, match="int16.*preprocess_datasets.py.*--overwrite"):
        WaveStore(tmp_path / "interim" / "old_all")
    assert (
        features(
            [
                "--splits",
                "old_all",
                "--what",
                "spectral",
                "--jobs",
                "1",
                "--interim-dir",
                str(tmp_path / "interim"),
                "--processed-dir",
                str(tmp_path / "p"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--overwrite" in err[0]


def test_a_shard_of_another_dtype_is_refused(awkward_split):
    np.save(awkward_split / "waves" / "shard_00000.npy", np.zeros(10, np.int16))
    with pytest.raises(StoreError, match="int16"):
        WaveStore(awkward_split).waveform(0)


@pytest.mark.parametrize("damage", ["cut short", "missing", "not an npy file"])
def test_a_damaged_shard_is_a_store_error_saying_what_to_rerun(awkward_split, damage):
    shard = awkward_split / "waves" / "shard_00000.npy"
    if damage == "cut short":  # numpy's memory map refuses it with a plain ValueError
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 3])
    elif damage == "missing":
        shard.unlink()
    else:
        shard.write_bytes(b"not a numpy file at all")
    with pytest.raises(StoreError, match=r"shard_00000.npy is missing, damaged or cut short \(.*\): rerun "):
        WaveStore(awkward_split).waveform(0)


@pytest.mark.slow
def test_real_clips_features_from_the_store_match_the_decoder(real_data_dir, tmp_path):
    """Every real clip, MP3 included: spectral features of the stored waveform equal those of the
    decoder's output (within 1e-4 relative; the int16 store missed on most MP3 and resampled clips)."""
    rows = list(csv.DictReader(open(real_data_dir / "MANIFEST.csv")))
    with open(tmp_path / "real.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows([(real_data_dir / row["relpath"], row["label"]) for row in rows])
    assert (
        preprocess(
            [
                "--corpus",
                "csv",
                "--root",
                str(tmp_path / "real.csv"),
                "--name",
                "real",
                "--interim-dir",
                str(tmp_path / "interim"),
                "--jobs",
                "2",
            ]
        )
        == 0
    )
    store = WaveStore(tmp_path / "interim" / "real_all")
    assert len(store) == len(rows)
    off = []
    for i, source in enumerate(store.manifest["source_path"]):
        decoded = spectral_features(load_clip(source).samples)
        stored = spectral_features(store.waveform(i))
        if not np.allclose(stored, decoded, rtol=1e-4, atol=0):
            off.append(source)
    assert not off, f"{len(off)} of {len(rows)} clips differ by more than 1e-4: {off[:5]}"


@pytest.mark.parametrize(
    "version, says",
    [
        (
            2,
            "is format 2 of split_info, written by a newer version of the pipeline (this code reads format 1): update "
            "the code, or rerun preprocess_datasets.py for this corpus with --overwrite",
        ),
        ("1", "has an unreadable format version '1'"),
    ],
)
def test_a_split_of_a_format_this_code_does_not_know_is_refused(tmp_path, version, says):
    from deepfake_pipeline.formats.wavestore import StoreError, read_info

    folder = tmp_path / "x_all"
    folder.mkdir()
    (folder / "info.json").write_text(
        json.dumps({"split_id": "x_all", "store_dtype": "float32", "format": "split_info", "format_version": version})
    )
    with pytest.raises(StoreError) as refused:
        read_info(folder)
    assert str(refused.value) == f"{folder / 'info.json'} {says}" or says in str(refused.value)
