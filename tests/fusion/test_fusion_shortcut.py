"""A fusion's silence-only shortcut check (fusion/shortcut.py) on real step-3 runs: step 3 keeps its
per-trial silence-only scores, the fusion pairs them with its own scores by step 3's rule (checked
against an independent speaker-cluster bootstrap), older runs without the file get the plain AUC
comparison and the line says so, and a file of other trials is refused."""

import contextlib
import io
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from fusion_fixtures import two_runs
from metric_references import assert_95_percent_interval, cluster_bootstrap_aucs, pairwise_auc

from deepfake_pipeline.cli.fuse_runs import main as fuse

pytestmark = pytest.mark.slow
N_BOOT = 4000  # the code's resamples; the reference draws 8000 (metric_references.TAIL_WINDOW)
CAVEAT = " [untrained model: not a detection result]"  # the embeddings run rests on random:base


def _scores(path):
    rows = [line.split() for line in path.read_text().splitlines()]
    return {utt: float(score) for utt, score in rows}


def _fuse(dirs, names, run, n_boot=N_BOOT):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = fuse(
            [
                "--runs",
                *(str(dirs["results"] / name) for name in names),
                "--run",
                run,
                "--n-boot",
                str(n_boot),
                "--results-dir",
                str(dirs["results"]),
                "--interim-dir",
                str(dirs["interim"]),
            ]
        )
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    step3 = io.StringIO()
    with contextlib.redirect_stdout(step3):
        dirs, spec, emb = two_runs(tmp_path_factory.mktemp("fusion_shortcut"))
    rc, out, err = _fuse(dirs, ["spec", "emb"], "fused")
    assert rc == 0, err
    return dirs, spec, emb, out, step3.getvalue()


def _trials(dirs):
    manifest = pd.read_csv(dirs["interim"] / "toy_eval" / "manifest.csv", dtype=str, keep_default_na=False)
    return manifest["utt_id"].tolist(), manifest["label"].astype(int).to_numpy(), manifest["speaker"].to_numpy()


def test_step_3_keeps_its_silence_only_scores(runs):
    dirs, spec, _, _, printed = runs
    ids, labels, _ = _trials(dirs)
    record = json.loads((spec / "metrics.json").read_text())["tests"]["toy_eval"]["silence_only"]
    assert record["score_file"] == "scores/toy_eval.silence_only.txt"
    silence = _scores(spec / record["score_file"])
    assert list(silence) == ids  # one line per trial, manifest order
    assert record["auc"] == pytest.approx(pairwise_auc(labels, np.array([silence[u] for u in ids])), abs=1e-12)
    # the spectral run's line has no caveat, the untrained embeddings run's line carries it
    lines = [line for line in printed.splitlines() if line.startswith("[eval_logreg] shortcut check test=toy_eval:")]
    assert len(lines) == 2 and not lines[0].endswith("]") and lines[1].endswith(CAVEAT)


def test_the_fusion_pairs_the_strongest_shortcut_with_its_own_scores(runs):
    dirs, spec, emb, out, _ = runs
    ids, labels, speakers = _trials(dirs)
    recorded = {
        run.name: json.loads((run / "metrics.json").read_text())["tests"]["toy_eval"]["silence_only"]
        for run in (spec, emb)
    }
    strongest = max(recorded, key=lambda name: recorded[name]["auc"])
    silence_by_utt = _scores(dirs["results"] / strongest / "scores" / "toy_eval.silence_only.txt")
    fused_by_utt = _scores(dirs["results"] / "fused" / "scores" / "toy_eval.txt")
    silence = np.array([silence_by_utt[u] for u in ids])
    fused = np.array([fused_by_utt[u] for u in ids])

    entry = json.loads((dirs["results"] / "fused" / "metrics.json").read_text())["tests"]["toy_eval"]["silence_only"]
    assert entry["rule"] == "paired" and entry["from_run"] == strongest
    assert entry["auc"] == pytest.approx(pairwise_auc(labels, silence), abs=1e-12)
    assert entry["model_minus_silence_auc"] == pytest.approx(
        pairwise_auc(labels, fused) - pairwise_auc(labels, silence), abs=1e-12
    )
    silence_aucs, fused_aucs = cluster_bootstrap_aucs(labels, [silence, fused], speakers, 8000, seed=13)
    lo, hi = entry["model_minus_silence_auc_ci"]
    assert_95_percent_interval(lo, hi, fused_aucs - silence_aucs)
    assert entry["clearly_beaten"] is bool(lo > 0)
    # copied beside the fusion's scores, so that a fusion of this fusion finds them
    assert _scores(dirs["results"] / "fused" / entry["score_file"]) == silence_by_utt

    (line,) = [line for line in out.splitlines() if line.startswith("[fuse_runs] shortcut check test=toy_eval:")]
    assert f", scores of {strongest}) ROC-AUC {entry['auc']:.4f}" in line
    assert f"fusion - silence-only ROC-AUC {entry['model_minus_silence_auc']:+.4f} (95% CI {lo:+.4f} to" in line
    assert ("WARNING: the fusion does not clearly beat" in line) is (lo <= 0)
    assert line.endswith(CAVEAT)


def _without_silence_files(dirs, name, new):
    """A copy of run `name` as a run written before step 3 kept its silence-only scores."""
    shutil.copytree(dirs["results"] / name, dirs["results"] / new)
    path = dirs["results"] / new / "metrics.json"
    metrics = json.loads(path.read_text())
    for entry in metrics["tests"].values():
        entry["silence_only"].pop("score_file")
    path.write_text(json.dumps(metrics))
    for stale in (dirs["results"] / new / "scores").glob("*.silence_only.txt"):
        stale.unlink()


def test_older_runs_get_the_auc_comparison_and_the_line_says_so(runs):
    dirs, spec, emb, _, _ = runs
    _without_silence_files(dirs, "spec", "spec_old")
    _without_silence_files(dirs, "emb", "emb_old")
    rc, out, err = _fuse(dirs, ["spec_old", "emb_old"], "fused_old", n_boot=50)
    assert rc == 0, err
    entry = json.loads((dirs["results"] / "fused_old" / "metrics.json").read_text())["tests"]["toy_eval"]
    silence = entry["silence_only"]
    recorded = [
        json.loads((run / "metrics.json").read_text())["tests"]["toy_eval"]["silence_only"] for run in (spec, emb)
    ]
    assert silence["rule"] == "auc_comparison" and silence["model_minus_silence_auc_ci"] is None
    assert silence["auc"] == max(r["auc"] for r in recorded)
    assert silence["model_minus_silence_auc"] == pytest.approx(entry["auc"] - silence["auc"], abs=1e-12)
    assert silence["clearly_beaten"] is (False if entry["auc"] <= silence["auc"] else None)
    (line,) = [line for line in out.splitlines() if " shortcut check test=toy_eval:" in line]
    assert "AUC comparison only, no paired interval" in line and line.endswith(CAVEAT)
    assert not (dirs["results"] / "fused_old" / "scores" / "toy_eval.silence_only.txt").exists()


def test_one_old_input_beside_a_new_one_is_paired_with_the_new_ones_scores(runs):
    dirs, _, _, _, _ = runs
    _without_silence_files(dirs, "emb", "emb_old_2")
    rc, out, err = _fuse(dirs, ["spec", "emb_old_2"], "fused_mixed", n_boot=50)
    assert rc == 0, err
    silence = json.loads((dirs["results"] / "fused_mixed" / "metrics.json").read_text())["tests"]["toy_eval"][
        "silence_only"
    ]
    assert silence["rule"] == "paired" and silence["from_run"] == "spec"


def test_a_silence_file_of_other_trials_is_refused(runs):
    dirs, _, _, _, _ = runs
    shutil.copytree(dirs["results"] / "spec", dirs["results"] / "spec_bad")
    path = dirs["results"] / "spec_bad" / "scores" / "toy_eval.silence_only.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[1:], "someone_else 0.5"]) + "\n")
    rc, out, err = _fuse(dirs, ["spec_bad", "emb"], "fused_bad", n_boot=50)
    assert rc == 2
    assert re.search(r"silence-only score file .* holds other trials than its test \(toy_eval\) scores", err)
    assert "1 utterances only in it (e.g. ['someone_else'])" in err
    assert not (dirs["results"] / "fused_bad" / "metrics.json").exists()
