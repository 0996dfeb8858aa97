"""Derived splits (`preprocess_datasets.py --augment SPLIT --recipe NAME`): every row records its
source and the parameters drawn for it, and holds exactly the source audio put through those
parameters; the same command gives byte-identical output, whether run whole, resumed after a
kill, or shared between --shard jobs; a clip the recipe cannot make is a named reject."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import augment_fixtures
import numpy as np
import pandas as pd
import pytest
from audio_factory import write_clip

from deepfake_pipeline.augment import recipes
from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.common.faults import CRASH_ENV
from deepfake_pipeline.formats.wavestore import WaveStore

TESTS = Path(__file__).resolve().parents[1]  # tests/, where augment_fixtures.py lives
SOURCE = "toy_all"
N_CLIPS = 20  # 3 shards of 8 clips (shard_size_for): kills fall in and between shards


@pytest.fixture(scope="module")
def interim(tmp_path_factory):
    """A CSV corpus of N_CLIPS clips, ingested; clip 3 is FAILING_LENGTH samples long."""
    root = tmp_path_factory.mktemp("corpus")
    rows = []
    for i in range(N_CLIPS):
        seconds = augment_fixtures.FAILING_LENGTH / 16000 if i == 3 else 0.4 + 0.01 * i
        path = write_clip(root / f"c{i:04d}.wav", seconds=seconds, seed=i)
        rows.append(
            {
                "path": str(path),
                "label": "spoof" if i % 2 else "bonafide",
                "speaker": f"S{i % 4}",
                "attack": f"A0{1 + i % 3}" if i % 2 else "-",
            }
        )
    pd.DataFrame(rows).to_csv(root / "clips.csv", index=False)
    out = tmp_path_factory.mktemp("interim")
    args = ["--corpus", "csv", "--root", str(root / "clips.csv"), "--name", "toy", "--interim-dir", str(out)]
    assert preprocess([*args, "--jobs", "1"]) == 0
    return out


@pytest.fixture(autouse=True)
def test_recipes(monkeypatch):
    monkeypatch.setattr(recipes, "recipe_from_spec", augment_fixtures.recipe_from_spec)


def _augment(interim, recipe, *extra):
    return preprocess(["--augment", SOURCE, "--recipe", recipe, "--interim-dir", str(interim), "--jobs", "1", *extra])


def _copy_source(interim, to):
    import shutil

    shutil.copytree(interim / SOURCE, to / SOURCE)
    return to


def _snapshot(split_dir):
    return {
        str(p.relative_to(split_dir)): p.read_bytes()
        for p in sorted(Path(split_dir).rglob("*"))
        if p.is_file() and p.parent.name != "parts"
    }


def test_each_copy_is_its_source_through_the_recorded_parameters(interim, tmp_path):
    out = _copy_source(interim, tmp_path)
    assert _augment(out, "gain", "--copies", "2") == 0
    source, derived = WaveStore(out / SOURCE), WaveStore(out / f"{SOURCE}+gain")
    assert derived.split_id == "toy_all+gain" and len(derived) == 2 * N_CLIPS
    by_id = {utt: i for i, utt in enumerate(source.manifest["utt_id"])}
    gains = set()
    for j, row in derived.manifest.iterrows():
        i = by_id[row["source_utt_id"]]
        src = source.manifest.iloc[i]
        suffix = "+gain" if row["copy_index"] == "0" else "+gain.1"
        assert row["utt_id"] == src["utt_id"] + suffix
        assert (row["label"], row["attack"], row["speaker"]) == (src["label"], src["attack"], src["speaker"])
        assert row["source_split"] == SOURCE and row["recipe"] == "gain"
        assert row["origin_audio_sha1"] == src["audio_sha1"] != row["audio_sha1"]
        gain = json.loads(row["augment_params"])["gain"]
        assert 0.25 <= gain <= 0.75
        np.testing.assert_array_equal(derived.waveform(j), source.waveform(i) * np.float32(gain))
        gains.add(gain)
    assert len(gains) == 2 * N_CLIPS  # drawn per clip and per copy, not once per run
    derived_from = derived.info["derived_from"]
    assert (derived_from["source_split"], derived_from["condition"], derived_from["copies"]) == (SOURCE, "gain", 2)


def test_the_same_command_gives_byte_identical_output_and_another_seed_other_draws(interim, tmp_path):
    first, second, reseeded = (_copy_source(interim, tmp_path / name) for name in ("a", "b", "c"))
    for folder in (first, second):
        assert _augment(folder, "gain") == 0
    assert _augment(reseeded, "gain", "--seed", "1") == 0
    split = f"{SOURCE}+gain"
    assert _snapshot(first / split) == _snapshot(second / split)
    params = [pd.read_csv(f / split / "manifest.csv")["augment_params"] for f in (first, reseeded)]
    assert not (params[0] == params[1]).any()


def test_a_failing_recipe_is_a_named_reject_never_a_silent_copy(interim, tmp_path, capsys):
    out = _copy_source(interim, tmp_path)
    assert _augment(out, "flaky") == 0
    split_dir = out / f"{SOURCE}+flaky"
    rejects = pd.read_csv(split_dir / "rejects.csv", dtype=str, keep_default_na=False)
    assert rejects[["utt_id", "reason", "detail"]].values.tolist() == [
        ["c0003+flaky", "augment_failed", "flaky: encoder refused the clip"]
    ]
    manifest = pd.read_csv(split_dir / "manifest.csv", dtype=str)
    assert len(manifest) == N_CLIPS - 1 and "c0003" not in set(manifest["source_utt_id"])
    assert "rejected 1 clips (augment_failed 1)" in capsys.readouterr().out


@pytest.mark.parametrize("recipe,reason", [("same", "augment_unchanged"), ("nan", "augment_empty")])
def test_a_recipe_that_returns_its_input_or_no_audio_makes_no_split(interim, tmp_path, capsys, recipe, reason):
    out = _copy_source(interim, tmp_path)
    assert _augment(out, recipe) == 2
    err = capsys.readouterr().err
    assert f"every one of the {N_CLIPS} clips of {SOURCE}+{recipe} was rejected ({reason} {N_CLIPS})" in err
    assert not (out / f"{SOURCE}+{recipe}" / "manifest.csv").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--augment", SOURCE], "--augment toy_all needs --recipe NAME"),
        (["--augment", SOURCE, "--recipe", "gain", "--corpus", "csv"], "not both"),
        (["--recipe", "gain", "--corpus", "csv"], "--recipe/--copies/--shard apply to --augment SPLIT only"),
        (["--augment", SOURCE, "--recipe", "gain", "--copies", "0"], "--copies must be at least 1"),
        (["--augment", SOURCE, "--recipe", "gain", "--shard", "3/2"], "--shard 3/2: K must be between 1 and N"),
        (["--augment", SOURCE, "--recipe", "gain", "--root", "x"], "--root apply to --corpus"),
        (["--augment", SOURCE, "--recipe", "warp"], "unknown recipe 'warp'"),
        (["--augment", "toy_none", "--recipe", "gain"], "--augment toy_none: no finished split"),
        ([], "give --corpus KIND"),
    ],
)
def test_wrong_arguments_stop_with_one_error_line(interim, capsys, args, message):
    assert preprocess([*args, "--interim-dir", str(interim)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def _derive_in_subprocess(interim, jobs, crash_after=None, shard=None):
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS.parent), str(TESTS)])
    if crash_after is not None:
        env[CRASH_ENV] = str(crash_after)
    command = [sys.executable, str(TESTS / "augment_fixtures.py"), str(interim), SOURCE, "gain", str(jobs)]
    log = interim / f"log-{crash_after}-{(shard or 'all').replace('/', 'of')}.txt"
    with open(log, "w") as handle:  # a file, not a pipe: a killed parent's workers may hold a pipe open
        process = subprocess.run([*command, *([shard] if shard else [])], env=env, stdout=handle, stderr=handle)
    return process.returncode, log.read_text()


@pytest.fixture(scope="module")
def reference(interim, tmp_path_factory):
    out = _copy_source(interim, tmp_path_factory.mktemp("reference"))
    assert _derive_in_subprocess(out, 1)[0] == 0
    return _snapshot(out / f"{SOURCE}+gain")


# Four file events per shard (samples written, renamed; rows written, renamed), 3 shards.
@pytest.mark.slow
@pytest.mark.parametrize("jobs,crash_after", [(1, 1), (1, 3), (1, 6), (1, 11), (2, 2)])
def test_a_killed_run_resumes_to_identical_output(interim, reference, tmp_path, jobs, crash_after):
    out = _copy_source(interim, tmp_path)
    code, log = _derive_in_subprocess(out, jobs, crash_after)
    assert code == -signal.SIGKILL, log
    assert not (out / f"{SOURCE}+gain" / "manifest.csv").exists()
    code, log = _derive_in_subprocess(out, jobs)
    assert code == 0, log
    if crash_after > 4:
        assert "resuming" in log
    assert not list((out / f"{SOURCE}+gain").rglob("*.tmp*"))
    assert _snapshot(out / f"{SOURCE}+gain") == reference


@pytest.mark.slow
def test_shard_jobs_together_make_the_same_split_and_the_last_one_joins_it(interim, reference, tmp_path):
    out = _copy_source(interim, tmp_path)
    code, log = _derive_in_subprocess(out, 1, shard="2/2")
    assert code == 0 and "shards are still due from the other jobs" in log, log
    assert not (out / f"{SOURCE}+gain" / "manifest.csv").exists()
    assert _derive_in_subprocess(out, 1, shard="1/2")[0] == 0
    assert _snapshot(out / f"{SOURCE}+gain") == reference


def test_a_changed_source_is_refused_not_mixed(interim, tmp_path, capsys):
    out = _copy_source(interim, tmp_path)
    split_dir = out / f"{SOURCE}+gain"
    assert _augment(out, "gain") == 0
    (split_dir / "info.json").unlink()  # as if killed before the join
    manifest = out / SOURCE / "manifest.csv"
    manifest.write_text(manifest.read_text().replace("S1", "S9"))
    assert _augment(out, "gain") == 2
    assert "different inputs (source_manifest_sha256 changed)" in capsys.readouterr().err
    assert _augment(out, "gain", "--overwrite") == 0
    assert set(pd.read_csv(split_dir / "manifest.csv")["speaker"]) == {"S0", "S9", "S2", "S3"}


def test_the_source_asv_scores_carry_over_so_a_degraded_copy_gets_its_min_tdcf(interim, tmp_path):
    out = _copy_source(interim, tmp_path)
    info_path = out / SOURCE / "info.json"
    asv = {"format": "asvspoof2019", "path": "/corpus/ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"}
    info_path.write_text(json.dumps({**json.loads(info_path.read_text()), "asv_scores": asv}))
    assert _augment(out, "gain") == 0
    info = json.loads((out / f"{SOURCE}+gain" / "info.json").read_text())
    assert info["asv_scores"] == asv
    assert info["derived_from"]["origin_split"] == SOURCE and info["split_id"] == f"{SOURCE}+gain"
