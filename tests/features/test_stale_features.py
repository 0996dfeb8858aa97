"""Every step-2 output is tied to the manifest it was computed from (issue 11): after step 1 is
rerun with --overwrite on changed audio, step 2 recomputes (it does not say "already complete"),
step 3 reads the new numbers, and a reader handed a stale file refuses with a command that works."""

import json
import re
import shlex

import numpy as np
import pandas as pd
import pytest
from audio_factory import write_asvspoof_layout

from deepfake_pipeline.cli.eval_logreg import main as eval_logreg
from deepfake_pipeline.cli.features import main as features
from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.features.spectral import spectral_features
from deepfake_pipeline.features.ssl_embed import embed_waveforms
from deepfake_pipeline.features.ssl_loading import load_model
from deepfake_pipeline.formats.feature_files import (
    FEATURE_COLUMNS,
    FeatureError,
    load_embeddings,
    load_spectral,
    spectral_path,
)
from deepfake_pipeline.formats.feature_sets import FeatureSpec, load_split
from deepfake_pipeline.formats.manifest import manifest_sha256
from deepfake_pipeline.formats.wavestore import WaveStore

SPLITS = ("train", "dev", "eval")


def spectral_meta_path(split_id, processed):
    """spectral.csv's metadata sidecar (docs/DESIGN.md)."""
    return spectral_path(split_id, processed).with_name("spectral.json")


def _step1(raw, interim, *extra):
    assert (
        preprocess(
            ["--corpus", "asvspoof2019", "--root", str(raw), "--interim-dir", str(interim), "--jobs", "1", *extra]
        )
        == 0
    )


def _step2(interim, processed, *extra):
    return features(
        [
            "--splits",
            *(f"asvspoof2019_{s}" for s in SPLITS),
            "--interim-dir",
            str(interim),
            "--processed-dir",
            str(processed),
            "--jobs",
            "1",
            "--model",
            "random:tiny",
            "--layers",
            "0",
            "1",
            "--dtype",
            "float32",
            *extra,
        ]
    )


def _csv_values(split_id, processed):
    """spectral.csv's feature columns as they are on disk."""
    table = pd.read_csv(spectral_path(split_id, processed), dtype={"file": str}, keep_default_na=False)
    return table[FEATURE_COLUMNS].to_numpy(float)


def _independent_spectral(store):
    return np.stack([spectral_features(store.waveform(i)) for i in range(len(store))])


@pytest.mark.slow
def test_step1_rerun_on_changed_audio_makes_step2_recompute_and_step3_read_the_new_values(tmp_path, capsys):
    raw, interim, processed = tmp_path / "raw", tmp_path / "interim", tmp_path / "processed"
    write_asvspoof_layout(raw, splits=SPLITS, per_split=9, seed=0)
    _step1(raw, interim)
    assert _step2(interim, processed) == 0
    old = _csv_values("asvspoof2019_eval", processed)

    # Other clips in the same layout: same ids and labels, other audio.
    write_asvspoof_layout(raw, splits=SPLITS, per_split=9, seed=50)
    _step1(raw, interim, "--overwrite")
    capsys.readouterr()
    assert _step2(interim, processed) == 0
    out = capsys.readouterr()
    log = out.out + out.err
    assert "already complete" not in log
    for split in SPLITS:
        assert f"[features asvspoof2019_{split} spectral] stale:" in log
        assert f"[features asvspoof2019_{split} random-tiny] stale:" in log

    loaded = load_model("random:tiny")
    for split in SPLITS:
        split_id = f"asvspoof2019_{split}"
        store = WaveStore(interim / split_id)
        expected = _independent_spectral(store)
        np.testing.assert_allclose(_csv_values(split_id, processed), expected, rtol=1e-12)
        sidecar = json.loads(spectral_meta_path(split_id, processed).read_text())
        assert sidecar["manifest_sha256"] == manifest_sha256(store.split_dir)
        assert sidecar["columns"][:2] == ["file", "label"] and sidecar["code_version"]
        # What step 3 reads: the same fresh values.
        view = load_split(split_id, FeatureSpec("spectral"), interim, processed).views["spectral"]
        np.testing.assert_allclose(view, expected.astype(np.float32), rtol=1e-6)
        vectors, meta = load_embeddings(split_id, "random-tiny", processed, interim)
        assert meta["manifest_sha256"] == manifest_sha256(store.split_dir)
        for i in (0, len(store) - 1):
            np.testing.assert_array_equal(
                vectors[i], embed_waveforms(loaded, [store.waveform(i)], layers=[0, 1], batch_seconds=0)[0]
            )
    new_eval = _csv_values("asvspoof2019_eval", processed)
    assert not np.allclose(new_eval, old)  # the audio did change

    capsys.readouterr()
    assert (
        eval_logreg(
            [
                "--features",
                "spectral",
                "--train",
                "asvspoof2019_train",
                "--dev",
                "asvspoof2019_dev",
                "--test",
                "asvspoof2019_eval",
                "--run",
                "fresh",
                "--n-boot",
                "0",
                "--allow-overlap",
                "--interim-dir",
                str(interim),
                "--processed-dir",
                str(processed),
                "--results-dir",
                str(tmp_path / "results"),
            ]
        )
        == 0
    )
    config = json.loads((tmp_path / "results" / "fresh" / "config.json").read_text())
    recorded = json.dumps(config)
    current = manifest_sha256(interim / "asvspoof2019_eval")
    assert recorded.count(current) >= 2  # the split's manifest and its features' metadata

    # A third step 2 finds everything current.
    capsys.readouterr()
    assert _step2(interim, processed) == 0
    out = capsys.readouterr()
    assert "stale" not in out.out + out.err and "already complete" in out.out + out.err


def _advised(message: str) -> list:
    """The features.py command a refusal advises, as arguments for its main()."""
    found = re.search(r"`(features\.py [^`]+)`", message)
    assert found, message
    return [*shlex.split(found.group(1))[1:], "--jobs", "1"]  # as advised, on one core


@pytest.fixture
def one_split(tmp_path):
    raw, interim, processed = tmp_path / "raw", tmp_path / "interim", tmp_path / "processed"
    write_asvspoof_layout(raw, splits=("dev",), per_split=6, seed=3)
    _step1(raw, interim, "--splits", "dev")
    return interim, processed


@pytest.mark.slow
def test_readers_refuse_stale_or_unrecorded_features_with_a_command_that_works(one_split, capsys):
    interim, processed = one_split
    split_id = "asvspoof2019_dev"
    base = ["--splits", split_id, "--interim-dir", str(interim), "--processed-dir", str(processed), "--jobs", "1"]
    assert features([*base, "--model", "random:tiny", "--layers", "0"]) == 0
    store = WaveStore(interim / split_id)

    # A spectral.csv written before its metadata existed (an older run).
    spectral_meta_path(split_id, processed).unlink(missing_ok=True)
    with pytest.raises(FeatureError, match="no metadata") as refused:
        load_split(split_id, FeatureSpec("spectral"), interim, processed)
    with pytest.raises(FeatureError, match="no metadata"):
        load_spectral(split_id, processed, interim_dir=interim)
    advice = _advised(str(refused.value))
    assert features(advice) == 0
    np.testing.assert_allclose(_csv_values(split_id, processed), _independent_spectral(store), rtol=1e-6)

    # The manifest changed after step 2 (here one clip's speaker): both feature files are stale.
    manifest_path = interim / split_id / "manifest.csv"
    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    manifest.loc[0, "speaker"] = manifest.loc[0, "speaker"] + "_other"
    manifest.to_csv(manifest_path, index=False)
    with pytest.raises(FeatureError, match="another manifest") as refused:
        load_split(split_id, FeatureSpec("spectral"), interim, processed)
    spectral_advice = _advised(str(refused.value))
    with pytest.raises(FeatureError, match="different manifest") as refused:
        load_split(split_id, FeatureSpec("embeddings", model="random:tiny", layer=0), interim, processed)
    embedding_advice = _advised(str(refused.value))
    capsys.readouterr()
    assert features(spectral_advice) == 0
    out = capsys.readouterr()
    assert "spectral] stale:" in out.err and "already complete" not in out.out + out.err
    assert features(embedding_advice) == 0
    out = capsys.readouterr()
    assert "random-tiny] stale:" in out.err and "random-tiny] already complete" not in out.err
    current = manifest_sha256(interim / split_id)
    load_split(split_id, FeatureSpec("spectral"), interim, processed)
    _, meta = load_embeddings(split_id, "random-tiny", processed, interim)
    assert meta["manifest_sha256"] == current
    assert json.loads(spectral_meta_path(split_id, processed).read_text())["manifest_sha256"] == current
    assert spectral_path(split_id, processed).is_file()
