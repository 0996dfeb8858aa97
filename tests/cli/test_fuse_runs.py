"""fuse_runs.py on two finished step-3 runs: the fused scores are an independent weighted logistic
fit's, the fusion is reported like a step-3 run (same metric keys, every score file, closing lines
that parse, a verdict per input), runs not scored on the same trials are refused in one line, and
a run fused with a noisy copy of itself behaves as it should."""

import contextlib
import csv
import hashlib
import io
import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from fusion_fixtures import two_runs
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from deepfake_pipeline.cli.fuse_runs import main as fuse
from deepfake_pipeline.cli.make_table import main as make_table
from deepfake_pipeline.evaluation.closing import parse_closing_line

pytestmark = pytest.mark.slow
TARGET_PRIOR = 0.95 / 1.45  # the ASVspoof 5 cost model's effective bona fide prior


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return two_runs(tmp_path_factory.mktemp("fusion"))


def _scores(path):
    """utt_id -> score of a two-column score file, read by hand."""
    return {utt: float(score) for utt, score in (line.split() for line in path.read_text().splitlines())}


def _fuse(dirs, names, run, capsys, *extra, interim=True):
    rc = fuse(
        [
            "--runs",
            *(str(dirs["results"] / name) for name in names),
            "--run",
            run,
            "--n-boot",
            "50",
            "--results-dir",
            str(dirs["results"]),
            *(["--interim-dir", str(dirs["interim"])] if interim else []),
            *extra,
        ]
    )
    return rc, capsys.readouterr()


@pytest.fixture(scope="module")
def fused(runs, tmp_path_factory):
    dirs, _, _ = runs
    out = io.StringIO()  # module scope: no capsys
    with contextlib.redirect_stdout(out):
        rc = fuse(
            [
                "--runs",
                str(dirs["results"] / "spec"),
                str(dirs["results"] / "emb"),
                "--run",
                "fused",
                "--n-boot",
                "50",
                "--results-dir",
                str(dirs["results"]),
                "--interim-dir",
                str(dirs["interim"]),
            ]
        )
    assert rc == 0
    return dirs["results"] / "fused", out.getvalue()


def test_fused_scores_equal_an_independent_weighted_logistic_fit(runs, fused):
    dirs, spec, emb = runs
    path, _ = fused
    dev = pd.read_csv(dirs["interim"] / "toy_dev" / "manifest.csv", dtype=str, keep_default_na=False)
    dev_spec, dev_emb = _scores(spec / "scores" / "toy_dev.dev.txt"), _scores(emb / "scores" / "toy_dev.dev.txt")
    x = np.array([[dev_spec[u], dev_emb[u]] for u in dev["utt_id"]])
    is_bona = dev["label"].astype(int).to_numpy() == 0
    weights = np.where(is_bona, TARGET_PRIOR / is_bona.sum(), (1 - TARGET_PRIOR) / (~is_bona).sum())
    model = LogisticRegression(C=np.inf, tol=1e-12, max_iter=100_000).fit(x, is_bona, sample_weight=weights * 80)
    test_spec, test_emb = _scores(spec / "scores" / "toy_eval.txt"), _scores(emb / "scores" / "toy_eval.txt")
    fused_scores = _scores(path / "scores" / "toy_eval.txt")
    ids = list(fused_scores)
    expected = model.decision_function(np.array([[test_spec[u], test_emb[u]] for u in ids])) - math.log(
        TARGET_PRIOR / (1 - TARGET_PRIOR)
    )
    assert np.allclose([fused_scores[u] for u in ids], expected, rtol=1e-5, atol=1e-6)
    # the dev scores it writes are the fusion applied to dev, and fusion.json holds the weights
    record = json.loads((path / "fusion.json").read_text())
    assert record["format"] == "fusion_model" and record["fitted_on"] == "toy_dev"
    w = record["weights"]
    fused_dev = _scores(path / "scores" / "toy_dev.dev.txt")
    assert fused_dev["toy_dev_0000"] == pytest.approx(
        w["spec"] * dev_spec["toy_dev_0000"] + w["emb"] * dev_emb["toy_dev_0000"] + record["bias"], rel=1e-12
    )
    # metrics.json's numbers are those of the fused scores
    test = pd.read_csv(dirs["interim"] / "toy_eval" / "manifest.csv", dtype=str, keep_default_na=False)
    labels = dict(zip(test["utt_id"], test["label"].astype(int), strict=True))
    metrics = json.loads((path / "metrics.json").read_text())["tests"]["toy_eval"]
    auc = roc_auc_score([1 - labels[u] for u in ids], [fused_scores[u] for u in ids])
    assert metrics["auc"] == pytest.approx(auc, abs=1e-12)


def test_a_fusion_is_reported_like_a_step3_run(runs, fused):
    dirs, spec, _ = runs
    path, printed = fused
    step3 = json.loads((spec / "metrics.json").read_text())["tests"]["toy_eval"]
    entry = json.loads((path / "metrics.json").read_text())["tests"]["toy_eval"]
    assert set(step3) - set(entry) == set(), "a step-3 key missing from the fusion's test record"
    assert set(step3["calibration"]) <= set(entry["calibration"])
    assert {p.name for p in (spec / "scores").iterdir()} == {p.name for p in (path / "scores").iterdir()}
    tsv = (path / "scores" / "toy_eval.asvspoof5.tsv").read_text().splitlines()
    assert tsv[0] == "filename\tcm-score" and len(tsv) == 81
    # the fused scores are LLRs: actDCF and Cllr read them as they are
    assert entry["prior_log_odds"] == 0.0 and entry["act_dcf"] is not None
    lines = printed.strip().splitlines()
    closing = parse_closing_line(lines[-3])
    assert closing["split"] == "toy_eval" and closing["untrained"]  # the embeddings run is untrained
    assert closing["auc"] == pytest.approx(round(entry["auc"], 4))
    assert lines[-2].startswith("fusion fused vs spec test=toy_eval: ")
    assert lines[-1].startswith("fusion fused vs emb test=toy_eval: ")
    assert lines[-1].endswith("[untrained model: not a detection result]")
    assert set(entry["verdicts"]) == {"spec", "emb"}
    assert entry["verdicts"]["spec"]["baseline_auc"] == pytest.approx(step3["auc"], abs=1e-12)
    # every input's shortcut warning is carried over
    warned = [
        name
        for name in ("spec", "emb")
        if json.loads((dirs["results"] / name / "metrics.json").read_text())["tests"]["toy_eval"]["silence_only"][
            "clearly_beaten"
        ]
        is False
    ]
    assert warned and entry["shortcut_warning_inputs"] == warned
    config = json.loads((path / "config.json").read_text())
    assert (
        config["features"]["toy_eval"]["manifest_sha256"]
        == json.loads((spec / "config.json").read_text())["features"]["toy_eval"]["manifest_sha256"]
    )


def _copy(dirs, name, new):
    target = dirs["results"] / new
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(dirs["results"] / name, target)
    return target


def _refused(dirs, names, capsys):
    rc, out = _fuse(dirs, names, "refused", capsys)
    assert rc == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.err
    assert not (dirs["results"] / "refused").exists()
    return lines[0]


def test_other_trials_are_refused(runs, capsys):
    dirs, _, _ = runs
    other = _copy(dirs, "emb", "emb_other_trials")
    scores = other / "scores" / "toy_eval.txt"
    scores.write_text(scores.read_text().replace("toy_eval_0005 ", "toy_eval_9999 "))
    assert "scored other trials on test toy_eval" in _refused(dirs, ["spec", "emb_other_trials"], capsys)


def test_another_manifest_is_refused(runs, capsys):
    dirs, _, _ = runs
    other = _copy(dirs, "emb", "emb_other_manifest")
    config = json.loads((other / "config.json").read_text())
    config["features"]["toy_dev"]["manifest_sha256"] = "0" * 64
    (other / "config.json").write_text(json.dumps(config))
    assert "scored toy_dev from different manifests" in _refused(dirs, ["spec", "emb_other_manifest"], capsys)


def test_another_dev_split_is_refused(runs, capsys):
    dirs, _, _ = runs
    other = _copy(dirs, "emb", "emb_other_dev")
    metrics = json.loads((other / "metrics.json").read_text())
    metrics["dev"]["split"] = "toy_train"
    (other / "metrics.json").write_text(json.dumps(metrics))
    (other / "scores" / "toy_dev.dev.txt").rename(other / "scores" / "toy_train.dev.txt")
    assert "other dev splits (toy_dev vs toy_train)" in _refused(dirs, ["spec", "emb_other_dev"], capsys)


def test_a_contrastive_run_and_a_single_run_are_refused(runs, capsys):
    dirs, _, _ = runs
    other = _copy(dirs, "emb", "looks_like_step4")
    metrics = json.loads((other / "metrics.json").read_text())
    metrics["baseline_run"] = str(dirs["results"] / "emb")
    (other / "metrics.json").write_text(json.dumps(metrics))
    assert "is a train_contrastive.py run" in _refused(dirs, ["spec", "looks_like_step4"], capsys)
    assert "two or more" in _refused(dirs, ["spec"], capsys)
    assert "names one run twice" in _refused(dirs, ["spec", "spec"], capsys)


def test_a_run_fused_with_a_noisy_copy_of_itself(runs, capsys):
    """The copy's scores are the run's plus label-blind noise of 3x their spread: the fusion leans on
    the clean scores, is no better than the clean run (no verdict gain), and beats the noisy copy."""
    dirs, _, _ = runs
    noisy = _copy(dirs, "emb", "emb_noisy")
    rng = np.random.default_rng(0)
    for name in ("toy_dev.dev.txt", "toy_eval.txt"):
        path = noisy / "scores" / name
        scores = _scores(path)
        spread = np.std(list(scores.values()))
        path.write_text("".join(f"{u} {s + rng.normal(0, 3 * spread)!r}\n" for u, s in scores.items()))
    rc, _ = _fuse(dirs, ["emb", "emb_noisy"], "noisy_fusion", capsys)
    assert rc == 0
    path = dirs["results"] / "noisy_fusion"
    weights = json.loads((path / "fusion.json").read_text())["weights"]
    spread = {n: np.std(list(_scores(dirs["results"] / n / "scores" / "toy_dev.dev.txt").values())) for n in weights}
    # the weight times each input's spread: what each contributes to the fused score
    assert abs(weights["emb_noisy"] * spread["emb_noisy"]) < 0.5 * abs(weights["emb"] * spread["emb"])
    verdicts = json.loads((path / "metrics.json").read_text())["tests"]["toy_eval"]["verdicts"]
    assert not verdicts["emb"]["meets_rule"]
    assert abs(verdicts["emb"]["diff"]) < 0.05
    assert verdicts["emb_noisy"]["diff"] > 0


def test_the_table_of_real_runs_holds_their_metrics(runs, fused, tmp_path):
    """make_table.py on the two step-3 runs and their fusion, as written by the pipeline itself."""
    dirs, _, _ = runs
    out = tmp_path / "table"
    assert make_table(["--runs", *(str(dirs["results"] / n) for n in ("spec", "emb", "fused")), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "table.csv").open()))
    assert {r["system"] for r in rows} == {"spec", "emb", "fused"}
    for row in rows:
        payload = json.loads((dirs["results"] / row["system"] / "metrics.json").read_text())
        for key in row["metrics_json_path"].split("/"):
            payload = payload[key]
        assert float(row["value"]) == payload
    for cell in json.loads((out / "table_manifest.json").read_text())["cells"]:
        assert cell["score_file_sha256"] == hashlib.sha256(open(cell["score_file"], "rb").read()).hexdigest()
    assert "min t-DCF" in (out / "table.md").read_text()  # the test split has ASV scores


def test_a_fusion_fused_again_with_one_of_its_inputs_is_itself(runs, fused, capsys):
    """The fusion is the optimum of the objective over every linear mix of its inputs, so adding
    one of them back changes nothing: weight 1 on the fusion, 0 on the input, bias 0. Without
    --interim-dir the trials are read where the first run (the fusion) read them."""
    dirs, _, _ = runs
    rc, out = _fuse(dirs, ["fused", "spec"], "fused_again", capsys, interim=False)
    assert rc == 0, out.err
    record = json.loads((dirs["results"] / "fused_again" / "fusion.json").read_text())
    spread = np.std(list(_scores(dirs["results"] / "spec" / "scores" / "toy_dev.dev.txt").values()))
    assert record["weights"]["fused"] == pytest.approx(1.0, abs=1e-4)
    assert abs(record["weights"]["spec"] * spread) < 1e-4
    assert record["bias"] == pytest.approx(0.0, abs=1e-4)
    again = _scores(dirs["results"] / "fused_again" / "scores" / "toy_eval.txt")
    before = _scores(dirs["results"] / "fused" / "scores" / "toy_eval.txt")
    assert np.allclose([again[u] for u in before], list(before.values()), atol=1e-4)
