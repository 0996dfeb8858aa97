"""Step 2's driver: spectral CSV and embedding files, their metadata, resume after kill, and
cluster shards that merge (or refuse to)."""

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from audio_factory import write_asvspoof_layout
from write_watch import RenameOnlyWatch

from deepfake_pipeline.cli.features import main as features
from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.common.faults import CRASH_ENV
from deepfake_pipeline.features.spectral import spectral_features
from deepfake_pipeline.features.ssl_embed import embed_waveforms
from deepfake_pipeline.features.ssl_loading import load_model
from deepfake_pipeline.formats.feature_files import (
    SPECTRAL_COLUMNS,
    FeatureError,
    load_embeddings,
    load_spectral,
    model_tag,
)
from deepfake_pipeline.formats.wavestore import WaveStore

REPO_ROOT = Path(__file__).resolve().parents[2]
SPLIT = "asvspoof2019_dev"


@pytest.fixture(scope="module")
def interim(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    write_asvspoof_layout(root, splits=("dev",), per_split=20)  # 3 store shards -> 3 parts
    out = tmp_path_factory.mktemp("interim")
    assert (
        preprocess(
            [
                "--corpus",
                "asvspoof2019",
                "--root",
                str(root),
                "--splits",
                "dev",
                "--interim-dir",
                str(out),
                "--jobs",
                "1",
            ]
        )
        == 0
    )
    return out


def _args(interim, processed, *extra):
    return ["--splits", SPLIT, "--interim-dir", str(interim), "--processed-dir", str(processed), "--jobs", "1", *extra]


def test_spectral_csv_has_the_design_columns_and_the_per_clip_values(interim, tmp_path):
    assert features(_args(interim, tmp_path, "--what", "spectral")) == 0
    table = load_spectral(SPLIT, tmp_path, interim)
    store = WaveStore(interim / SPLIT)
    assert list(table.columns) == SPECTRAL_COLUMNS
    assert table["file"].tolist() == store.manifest["utt_id"].tolist()
    assert table["label"].tolist() == store.manifest["label"].tolist()
    for i in (0, 9, len(store) - 1):
        np.testing.assert_allclose(table.iloc[i, 2:].to_numpy(float), spectral_features(store.waveform(i)), rtol=1e-12)
    assert np.isfinite(table.iloc[:, 2:].to_numpy(float)).all()


def test_embeddings_match_single_clip_computation_and_carry_metadata(interim, tmp_path, tiny_wav2vec2_base, capsys):
    model = str(tiny_wav2vec2_base)
    assert features(_args(interim, tmp_path, "--what", "embeddings", "--model", model, "--dtype", "float32")) == 0
    assert "untrained" not in capsys.readouterr().out
    tag = model_tag(model)
    vectors, meta = load_embeddings(SPLIT, tag, tmp_path, interim)
    store = WaveStore(interim / SPLIT)
    loaded = load_model(model)
    assert vectors.shape == (len(store), loaded.num_layers, loaded.dim)
    for i in (0, 7, len(store) - 1):
        alone = embed_waveforms(loaded, [store.waveform(i)])[0]
        np.testing.assert_allclose(vectors[i], alone, atol=1e-4)  # padded batches: within 1e-4
        # on CPU the driver runs one clip per pass: the very bits of the clip alone, whatever
        # clips share its part (the promise `eval_logreg.py --score` relies on)
        np.testing.assert_array_equal(vectors[i], embed_waveforms(loaded, [store.waveform(i)], batch_seconds=0)[0])
    assert meta["untrained"] is False and meta["model"] == model and meta["pooling"] == "mean"
    assert meta["layers"] == list(range(loaded.num_layers)) and meta["dtype"] == "float32"
    assert meta["num_clips"] == len(store) and meta["split_id"] == SPLIT
    only, only_meta = load_embeddings(SPLIT, tag, tmp_path, interim, layers=[2])
    np.testing.assert_array_equal(only[:, 0], vectors[:, 2])
    with pytest.raises(FeatureError, match="not stored"):
        load_embeddings(SPLIT, tag, tmp_path, interim, layers=[99])


def test_embeddings_refuse_a_changed_manifest(interim, tmp_path, tiny_wav2vec2_base):
    model = str(tiny_wav2vec2_base)
    assert features(_args(interim, tmp_path, "--what", "embeddings", "--model", model)) == 0
    meta_path = tmp_path / SPLIT / "embeddings" / f"{model_tag(model)}.json"
    meta = json.loads(meta_path.read_text())
    meta["manifest_sha256"] = "0" * 64
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(FeatureError, match="different manifest"):
        load_embeddings(SPLIT, model_tag(model), tmp_path, interim)


def test_random_model_says_untrained_everywhere(interim, tmp_path, capsys):
    assert (
        features(_args(interim, tmp_path, "--what", "embeddings", "--model", "random:tiny", "--layers", "0", "1")) == 0
    )
    out = capsys.readouterr().out
    assert "untrained" in out and "FEATURES split=" in out
    _, meta = load_embeddings(SPLIT, "random-tiny", tmp_path, interim)
    assert meta["untrained"] is True and meta["model"] == "random:tiny" and meta["layers"] == [0, 1]


@pytest.mark.filterwarnings("ignore:bf16 is emulated")
def test_bf16_embeddings_go_beside_the_float32_ones(interim, tmp_path):
    # --allow-emulated-bf16 makes the run possible on any CPU; what is checked is where the file
    # goes and what its metadata says, so a bf16 file is never mistaken for the float32 default.
    common = ("--what", "embeddings", "--model", "random:tiny", "--dtype", "float32")
    assert features(_args(interim, tmp_path, *common)) == 0
    assert features(_args(interim, tmp_path, *common, "--precision", "bfloat16", "--allow-emulated-bf16")) == 0
    full, full_meta = load_embeddings(SPLIT, "random-tiny", tmp_path, interim)
    half, half_meta = load_embeddings(SPLIT, "random-tiny+bfloat16", tmp_path, interim)
    assert full_meta["precision"] == "float32" and half_meta["precision"] == "bfloat16"
    assert half.shape == full.shape and not np.array_equal(half, full)
    np.testing.assert_allclose(half, full, rtol=0.05, atol=0.05)


def test_wrong_arguments_stop_at_once(interim, tmp_path, capsys):
    assert features(_args(interim, tmp_path, "--model", "random:tiny", "--shard", "3/2")) == 2
    assert (
        features(
            [
                "--splits",
                "nope_dev",
                "--interim-dir",
                str(interim),
                "--model",
                "random:tiny",
                "--processed-dir",
                str(tmp_path),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "K must be between 1 and N" in err and "preprocess_datasets.py" in err
    assert features(_args(interim, tmp_path, "--what", "embeddings", "--model", "random:nonsense")) == 2
    assert "random:base" in capsys.readouterr().err


def test_the_model_is_required_and_checked_before_any_feature_is_computed(interim, tmp_path, capsys):
    """No default model: forgetting --model must not start a night of random embeddings. A model
    that cannot load stops the run before the spectral features of any split are computed."""
    assert features(_args(interim, tmp_path)) == 2
    assert "--model" in capsys.readouterr().err
    assert not (tmp_path / SPLIT).exists()
    assert features(_args(interim, tmp_path, "--model", "random:nonsense")) == 2
    assert not (tmp_path / SPLIT / "spectral.csv").exists()
    assert features(_args(interim, tmp_path, "--what", "spectral")) == 0  # spectral needs no model


def _run(interim, processed, model, what, crash_after=None):
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash_after is not None:
        env[CRASH_ENV] = str(crash_after)
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "features.py"), *_args(interim, processed, "--what", what, "--model", model)],
        env=env,
        capture_output=True,
        text=True,
    )


# Embedding parts make two file events each (temporary file written, renamed), spectral parts one.
@pytest.mark.parametrize("what,crash_after", [("embeddings", 1), ("embeddings", 4), ("spectral", 2)])
@pytest.mark.slow
def test_killed_run_resumes_to_an_identical_file(interim, tmp_path, tiny_wav2vec2_base, what, crash_after):
    model = str(tiny_wav2vec2_base)
    reference = _run(interim, tmp_path / "reference", model, what)
    assert reference.returncode == 0, reference.stderr
    killed = _run(interim, tmp_path / "resumed", model, what, crash_after)
    assert killed.returncode == -signal.SIGKILL
    resumed = _run(interim, tmp_path / "resumed", model, what)
    assert resumed.returncode == 0, resumed.stderr
    if crash_after > 1:
        assert "resuming" in resumed.stderr  # it did not start from scratch
    names = (
        ["spectral.csv"]
        if what == "spectral"
        else [f"embeddings/{model_tag(model)}.npy", f"embeddings/{model_tag(model)}.json"]
    )
    for name in names:
        assert (tmp_path / "resumed" / SPLIT / name).read_bytes() == (
            tmp_path / "reference" / SPLIT / name
        ).read_bytes()
    assert not list((tmp_path / "resumed").rglob("*.parts"))


@pytest.mark.slow
def test_cluster_shards_merge_to_the_unsharded_result(interim, tmp_path, capsys):
    whole = tmp_path / "whole"
    assert features(_args(interim, whole, "--model", "random:tiny")) == 0
    sharded = tmp_path / "sharded"
    capsys.readouterr()
    assert features(_args(interim, sharded, "--model", "random:tiny", "--shard", "1/2")) == 0
    captured = capsys.readouterr()
    assert "jobs [2] of 2 have not finished" in captured.err
    # The job's closing line counts the clips it did (16 of the split's 20: 2 of its 3 parts).
    job_line = next(line for line in captured.out.splitlines() if line.startswith("FEATURES"))
    assert "clips=16 " in job_line and "shard=1/2" in job_line
    assert not (sharded / SPLIT / "spectral.csv").exists()
    assert features(_args(interim, sharded, "--model", "random:tiny", "--merge-only")) == 2
    assert "cannot join" in capsys.readouterr().err
    assert features(_args(interim, sharded, "--model", "random:tiny", "--shard", "2/2")) == 0
    assert "clips=4 " in capsys.readouterr().out
    for name in ("spectral.csv", "embeddings/random-tiny.npy", "embeddings/random-tiny.json"):
        assert (sharded / SPLIT / name).read_bytes() == (whole / SPLIT / name).read_bytes()


def test_parts_made_with_other_settings_are_refused(interim, tmp_path, capsys):
    assert features(_args(interim, tmp_path, "--what", "embeddings", "--model", "random:tiny", "--shard", "1/2")) == 0
    assert (
        features(
            _args(
                interim,
                tmp_path,
                "--what",
                "embeddings",
                "--model",
                "random:tiny",
                "--shard",
                "2/2",
                "--dtype",
                "float32",
            )
        )
        == 2
    )
    assert "different settings (dtype)" in capsys.readouterr().err


def test_every_part_appears_by_a_rename_never_written_in_place(interim, tmp_path, monkeypatch):
    """Spectral and embedding parts must be written to temporaries and renamed: a kill during an
    in-place write would leave a half-written part that the rerun takes as done."""
    watch = RenameOnlyWatch(monkeypatch, tmp_path)
    assert features(_args(interim, tmp_path, "--model", "random:tiny", "--layers", "0", "1")) == 0
    assert watch.finish() == []
    assert len(watch.renamed_matching("spectral.parts/part_*.csv")) == 3
    assert len(watch.renamed_matching("random-tiny.parts/part_*.npy")) == 3
    assert (tmp_path / SPLIT / "spectral.csv").is_file() and (
        tmp_path / SPLIT / "embeddings" / "random-tiny.npy"
    ).is_file()


@pytest.mark.parametrize("what", ["spectral", "embeddings"])
def test_parts_made_from_another_manifest_are_refused(interim, tmp_path, capsys, what):
    """Job 1 of 2 made its parts; then the manifest changed (here one clip's speaker, so the
    parts still line up in number and shape). Job 2 must not join its parts to those."""
    copy = tmp_path / "interim"
    shutil.copytree(interim / SPLIT, copy / SPLIT)
    args = ["--what", what, "--model", "random:tiny", "--layers", "0"]
    assert features(_args(copy, tmp_path / "processed", *args, "--shard", "1/2")) == 0
    manifest_path = copy / SPLIT / "manifest.csv"
    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    manifest.loc[0, "speaker"] = manifest.loc[0, "speaker"] + "_other"
    manifest.to_csv(manifest_path, index=False)
    capsys.readouterr()
    assert features(_args(copy, tmp_path / "processed", *args, "--shard", "2/2")) == 2
    assert "different settings (manifest_sha256)" in capsys.readouterr().err
    out = tmp_path / "processed" / SPLIT
    assert not (out / "spectral.csv").exists() and not (out / "embeddings" / "random-tiny.npy").exists()


def test_a_cpu_with_native_bf16_is_told_its_measured_speed_up(interim, tmp_path, capsys, monkeypatch):
    """Where bf16 runs natively, features.py says so at start with a speed-up measured on the
    run's own first clips, and points to the downstream check; float32 stays what it computes.
    (Only the message is checked: the ratio is a measurement, never asserted.)"""
    from deepfake_pipeline.features import ssl_loading

    monkeypatch.setattr(ssl_loading, "native_bf16_support", lambda device: (True, "test CPU has avx512_bf16"))
    assert features(_args(interim, tmp_path, "--what", "embeddings", "--model", "random:tiny")) == 0
    err = capsys.readouterr().err
    assert "this CPU runs bfloat16 natively (test CPU has avx512_bf16)" in err
    assert "bench/bf16_downstream.py" in err and "float32 stays the default" in err
    meta = json.loads((tmp_path / SPLIT / "embeddings" / "random-tiny.json").read_text())
    assert meta["precision"] == "float32"
    monkeypatch.setattr(ssl_loading, "native_bf16_support", lambda device: (False, "no bf16"))
    assert features(_args(interim, tmp_path / "other", "--what", "embeddings", "--model", "random:tiny")) == 0
    assert "bfloat16 natively" not in capsys.readouterr().err


def test_parts_made_with_other_settings_named_key_by_key(tmp_path):
    """The parts' config.json written once (sorted, in an existing or a new folder), then every
    setting that differs named, also one that only the earlier run had."""
    from deepfake_pipeline.features.parts_job import _write_config

    folder = tmp_path / "spectral.parts"
    folder.mkdir()  # a folder left without its config.json by a kill before the write
    _write_config(folder, {"what": "spectral", "num_parts": 3})
    assert json.loads((folder / "config.json").read_text()) == {"num_parts": 3, "what": "spectral"}
    _write_config(folder, {"what": "spectral", "num_parts": 3})  # the same settings: resumed
    _write_config(tmp_path / "new" / "x.parts", {"what": "spectral"})
    assert (tmp_path / "new" / "x.parts" / "config.json").is_file()
    with pytest.raises(
        FeatureError,
        match="^"
        + re.escape(
            f"{folder} holds parts made with different settings (num_parts, what): pass --overwrite to start again"
        )
        + "$",
    ):
        _write_config(folder, {"what": "embeddings"})


def test_other_settings_missing_parts_name_the_first_ten_and_their_jobs():
    from deepfake_pipeline.features.parts_job import ClusterJob, _describe_missing

    missing = list(range(12))
    assert _describe_missing(missing, 12, ClusterJob(1, 1)) == "parts [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] are missing"
    # 12 parts over 3 jobs: 0-3, 4-7, 8-11; parts 0 and 9 missing -> jobs 1 and 3
    assert (
        _describe_missing([0, 9], 12, ClusterJob(2, 3))
        == "parts [0, 9] are missing (jobs [1, 3] of 3 have not finished)"
    )
    assert _describe_missing(missing, 12, ClusterJob(1, 3)) == (
        "parts [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] are missing (jobs [1, 2, 3] of 3 have not finished)"
    )


def test_other_settings_cluster_job_leaves_the_join_and_merge_only_refuses(tmp_path):
    from deepfake_pipeline.features.parts_job import ClusterJob, _all_parts_present

    parts = tmp_path / "spectral.parts"
    parts.mkdir()
    for p in (0, 1, 2, 3, 4, 5):  # of 9 parts over 3 jobs (0-2, 3-5, 6-8): job 3's are missing
        (parts / f"part_{p:05d}.csv").write_text("x\n")
    store = SimpleNamespace(split_id="toy_dev")
    printed = io.StringIO()
    assert _all_parts_present(parts, 9, ".csv", "spectral", store, ClusterJob(2, 3), False, printed) is False
    assert re.fullmatch(
        r"\S+ \S+ "
        + re.escape(
            "[features toy_dev spectral] job 2/3 done; parts [6, 7, 8] are missing (jobs [3] of 3 have not "
            "finished); the last job to finish, or --merge-only, joins them"
        )
        + "\n",
        printed.getvalue(),
    )
    with pytest.raises(
        FeatureError,
        match="^"
        + re.escape(
            "cannot join the spectral parts of toy_dev: parts [6, 7, 8] are missing (jobs [3] of 3 have not finished)"
        )
        + "$",
    ):
        _all_parts_present(parts, 9, ".csv", "spectral", store, ClusterJob(2, 3), True, io.StringIO())
    for p in (6, 7, 8):
        (parts / f"part_{p:05d}.csv").write_text("x\n")
    assert _all_parts_present(parts, 9, ".csv", "spectral", store, ClusterJob(3, 3), True, io.StringIO()) is True


def test_wrong_arguments_shard_spec_refusals_are_worded_whole():
    from deepfake_pipeline.features.parts_job import ClusterJob

    assert ClusterJob.parse("2/5") == ClusterJob(2, 5)
    with pytest.raises(ValueError, match=r"^--shard takes K/N, e.g\. 3/10 \(got '3-10'\)$"):
        ClusterJob.parse("3-10")
    with pytest.raises(ValueError, match=r"^--shard 6/5: K must be between 1 and N$"):
        ClusterJob.parse("6/5")
