"""train_contrastive.py end to end against real step-3 runs on tiny synthetic splits: outputs,
the closing and verdict lines, determinism, seeds, the cross-validation protocol, partial
unfreezing with a tiny Wav2Vec2, and the refusals."""

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from contrastive_fixtures import one_torch_thread  # noqa: F401
from logreg_fixtures import balanced_design, layered, make_split, silence_only_auc_by_hand
from test_contrastive_verdict import VERDICT_RE

from deepfake_pipeline.cli.eval_logreg import main as eval_logreg
from deepfake_pipeline.cli.train_contrastive import main
from deepfake_pipeline.evaluation import metrics
from deepfake_pipeline.evaluation.closing import parse_closing_line
from deepfake_pipeline.formats.score_files import read_score_file

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = ["--epochs", "3", "--batch-size", "32", "--n-boot", "50", "--hidden-dim", "32", "--proj-dim", "16"]


def _dir_args(root):
    return [
        "--interim-dir",
        str(root / "interim"),
        "--processed-dir",
        str(root / "processed"),
        "--results-dir",
        str(root / "results"),
    ]


def _corpus(root, splits, model="random:base", demo=True):
    for i, split in enumerate(splits):
        labels, speakers = balanced_design(6, 10, seed=i)
        make_split(
            root / "interim",
            root / "processed",
            split,
            labels,
            speakers,
            seed=i,
            demo=demo,
            model=model,
            embeddings=layered(labels, 3, 8, signal_layer=1, strength=1.2, seed=20 + i),
        )


@pytest.fixture(scope="module")
def holdout(tmp_path_factory):
    """Three splits and a step-3 run on layer 1 of their embeddings."""
    root = tmp_path_factory.mktemp("holdout")
    _corpus(root, ["toy_train", "toy_dev", "toy_eval"])
    assert (
        eval_logreg(
            [
                "--features",
                "embeddings",
                "--model",
                "random:base",
                "--layer",
                "1",
                "--train",
                "toy_train",
                "--dev",
                "toy_dev",
                "--test",
                "toy_eval",
                "--run",
                "baseline",
                "--n-boot",
                "50",
                "--C-grid",
                "0.01",
                "1",
                *_dir_args(root),
            ]
        )
        == 0
    )
    return root


def _run(root, *args):
    return main(["--baseline-run", str(root / "results" / "baseline"), *FAST, *_dir_args(root), *args])


def _lines(text, prefix):
    return [line for line in text.splitlines() if line.startswith(prefix)]


@pytest.mark.slow
def test_holdout_run_scores_the_baseline_trials_and_ends_with_the_verdict(holdout, capsys):
    capsys.readouterr()
    assert _run(holdout, "--run", "c1") == 0
    captured = capsys.readouterr()
    out = captured.out
    run = holdout / "results" / "c1"
    last = out.rstrip().splitlines()[-1]
    match = VERDICT_RE.match(last)
    assert (
        match
        and match["split"] == "toy_eval"
        and match["run"] == "c1"
        and match["caveats"] == " [untrained model: not a detection result] [demo corpus]"
    )
    closing = _lines(out, "ROC-AUC test=")
    assert len(closing) == 1 and parse_closing_line(closing[0])["untrained"]
    assert parse_closing_line(closing[0])["run"] == "c1"
    assert parse_closing_line(closing[0])["chosen"] == "epoch and C chosen on dev toy_dev"
    assert out.index(closing[0]) < out.index(last)
    # progress and notes on standard error (the README's promise), results on standard output
    assert re.search(r"epoch 1/3 train-loss \d+\.\d{4} dev-AUC \d\.\d{4}", captured.err)
    assert "[train_contrastive] NOTE: the embeddings come from an UNTRAINED model" in captured.err
    assert "train-loss" not in out and "NOTE:" not in out

    ids, scores = read_score_file(run / "scores" / "toy_eval.txt")
    base_ids, base_scores = read_score_file(holdout / "results" / "baseline" / "scores" / "toy_eval.txt")
    assert ids == base_ids
    labels = pd.read_csv(holdout / "interim" / "toy_eval" / "manifest.csv")["label"].to_numpy()
    saved = json.loads((run / "metrics.json").read_text())
    seed0 = saved["tests"]["toy_eval"]["per_seed"]["0"]
    assert seed0["auc"] == pytest.approx(metrics.roc_auc(labels, scores), abs=1e-9)
    assert seed0["verdict"]["baseline_auc"] == pytest.approx(metrics.roc_auc(labels, base_scores), abs=1e-9)
    assert float(match["new"]) == pytest.approx(seed0["auc"], abs=5e-5)
    assert seed0["auc"] > 0.75  # the planted signal is found
    assert parse_closing_line(closing[0])["auc"] == pytest.approx(seed0["auc"], abs=5e-5)
    config = json.loads((run / "config.json").read_text())
    assert config["representation"] == "layer 1 (frozen)" and config["baseline_run"].endswith("baseline")
    for png in ("roc_toy_eval.png", "det_toy_eval.png"):
        assert (run / png).stat().st_size > 1000 and (run / png).with_suffix(".pdf").is_file()
    assert (run / "seed_0" / "checkpoint.pt").is_file()
    assert (run / "log.txt").read_text().rstrip().endswith(last)


@pytest.mark.slow
def test_same_command_same_numbers(holdout):
    assert _run(holdout, "--run", "same_a", "--layer-mix") == 0
    assert _run(holdout, "--run", "same_b", "--layer-mix") == 0
    first = (holdout / "results" / "same_a" / "scores" / "toy_eval.txt").read_text()
    assert first == (holdout / "results" / "same_b" / "scores" / "toy_eval.txt").read_text()


@pytest.mark.slow
def test_several_seeds_give_mean_and_sd_and_one_verdict_per_seed(holdout, capsys):
    capsys.readouterr()
    assert _run(holdout, "--run", "seeds", "--seeds", "2", "--seed", "5") == 0
    out = capsys.readouterr().out
    assert len(_lines(out, "ROC-AUC test=toy_eval")) == 2
    assert re.search(r"^ROC-AUC over 2 seeds test=toy_eval: mean \d\.\d{4} sd \d\.\d{4}", out, re.M)
    assert len(_lines(out, "contrastive seed 5 vs baseline")) == 1 and len(_lines(out, "contrastive seed 6 vs")) == 1
    assert re.search(
        r"over 2 seeds: \d\.\d{4} -> mean \d\.\d{4}, [+-]\d+\.\d{2} points \(sd \d+\.\d{2}\); "
        r"[012]/2 seeds meet the 1-point rule",
        out.rstrip().splitlines()[-1],
    )
    run = holdout / "results" / "seeds"
    assert {p.name for p in (run / "scores").iterdir()} == {
        "toy_eval.seed5.txt",
        "toy_eval.seed6.txt",
        "toy_eval.seed5.asvspoof5.tsv",
        "toy_eval.seed6.asvspoof5.tsv",
    }
    saved = json.loads((run / "metrics.json").read_text())["tests"]["toy_eval"]
    aucs = [saved["per_seed"][s]["auc"] for s in ("5", "6")]
    assert saved["auc_mean"] == pytest.approx(np.mean(aucs)) and saved["auc_std"] == pytest.approx(np.std(aucs, ddof=1))


WARNING = "-- WARNING: the contrastive system does not clearly beat the silence-only shortcut"
CAVEATS = " [untrained model: not a detection result] [demo corpus]"  # random:base on the demo-flagged toy splits


def _shortcut_lines(out) -> dict:
    """Seed (as printed) -> its shortcut-check line."""
    found = re.findall(r"^\[train_contrastive\] shortcut check test=toy_eval( seed \d+)?: .*$", out, re.M)
    lines = [line for line in out.splitlines() if line.startswith("[train_contrastive] shortcut check test=")]
    assert len(found) == len(lines)
    return {(m.strip() or "-"): line for m, line in zip(found, lines, strict=True)}


def _seed_aucs(run, labels) -> dict:
    """Each seed's test ROC-AUC, from its score file (bona fide = label 0 is the positive class)."""
    from sklearn.metrics import roc_auc_score

    aucs = {}
    for path in sorted((run / "scores").glob("toy_eval.seed*.txt")):
        ids, scores = read_score_file(path)
        aucs[path.name] = (roc_auc_score(labels == 0, scores), scores)
    return aucs


@pytest.mark.slow
def test_every_seed_gets_its_own_shortcut_check(holdout, capsys, monkeypatch):
    """Step 4 holds each seed against the silence-only shortcut, on a line and in a record of its
    own (the rule itself: tests/contrastive/test_contrastive_outputs.py). The difference recorded
    is that of the AUCs computed here from the score files (sklearn) and of the silence-only model
    refitted by hand; a seed whose scores are made the shortcut's own is not clearly beaten (every
    resample's difference is 0) and draws the WARNING."""
    from deepfake_pipeline.contrastive import experiment

    labels = pd.read_csv(holdout / "interim" / "toy_eval" / "manifest.csv")["label"].to_numpy()
    capsys.readouterr()
    assert _run(holdout, "--run", "warn_plain", "--seeds", "2") == 0
    out = capsys.readouterr().out
    seeds = _seed_aucs(holdout / "results" / "warn_plain", labels)
    assert len(seeds) == 2
    silence_auc = silence_only_auc_by_hand(holdout / "interim", "toy_train", "toy_dev", "toy_eval", (0.01, 1.0))
    saved = json.loads((holdout / "results" / "warn_plain" / "metrics.json").read_text())["tests"]["toy_eval"]
    assert saved["silence_only_auc"] == pytest.approx(silence_auc, abs=1e-9)
    lines = _shortcut_lines(out)
    assert set(lines) == {"seed 0", "seed 1"}
    for seed in ("0", "1"):
        record = saved["per_seed"][seed]["silence_only"]
        auc = seeds[f"toy_eval.seed{seed}.txt"][0]
        assert record["auc"] == pytest.approx(silence_auc, abs=1e-9)
        assert record["model_minus_silence_auc"] == pytest.approx(auc - silence_auc, abs=1e-9)
        assert record["clearly_beaten"] is (record["model_minus_silence_auc_ci"][0] > 0)
        assert lines[f"seed {seed}"].endswith(WARNING + CAVEATS) is (not record["clearly_beaten"])

    _, copied = seeds["toy_eval.seed1.txt"]
    monkeypatch.setattr(experiment, "_silence_scores", lambda baseline, splits, settings: {"toy_eval": copied.copy()})
    assert _run(holdout, "--run", "warn_copy", "--seeds", "2") == 0
    out = capsys.readouterr().out
    record = json.loads((holdout / "results" / "warn_copy" / "metrics.json").read_text())["tests"]["toy_eval"][
        "per_seed"
    ]["1"]["silence_only"]
    assert record["model_minus_silence_auc"] == 0 and record["model_minus_silence_auc_ci"] == [0.0, 0.0]
    assert record["clearly_beaten"] is False
    assert _shortcut_lines(out)["seed 1"].endswith(WARNING + CAVEATS)


@pytest.mark.slow
def test_a_silence_leak_makes_step_4_warn(tmp_path, capsys):
    """Bona fide clips with 0.4 s of leading silence, spoofs with 0.05 s, and embeddings that
    carry little: the shortcut (by hand: near 1) beats the contrastive system, and the line says
    so with the shortcut's ROC-AUC."""
    from sklearn.metrics import roc_auc_score

    root = tmp_path
    for i, split in enumerate(("toy_train", "toy_dev", "toy_eval")):
        labels, speakers = balanced_design(6, 10, seed=i)
        make_split(
            root / "interim",
            root / "processed",
            split,
            labels,
            speakers,
            seed=i,
            silence_leak=True,
            embeddings=layered(labels, 3, 8, signal_layer=1, strength=0.3, seed=20 + i),
        )
    assert (
        eval_logreg(
            [
                "--features",
                "embeddings",
                "--model",
                "random:base",
                "--layer",
                "1",
                "--train",
                "toy_train",
                "--dev",
                "toy_dev",
                "--test",
                "toy_eval",
                "--run",
                "baseline",
                "--n-boot",
                "50",
                "--C-grid",
                "0.01",
                "1",
                *_dir_args(root),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert _run(root, "--run", "leak") == 0
    out = capsys.readouterr().out
    labels = pd.read_csv(root / "interim" / "toy_eval" / "manifest.csv")["label"].to_numpy()
    _, scores = read_score_file(root / "results" / "leak" / "scores" / "toy_eval.txt")
    system_auc = roc_auc_score(labels == 0, scores)
    silence_auc = silence_only_auc_by_hand(root / "interim", "toy_train", "toy_dev", "toy_eval", (0.01, 1.0))
    assert silence_auc >= system_auc and silence_auc > 0.95
    (line,) = _shortcut_lines(out).values()
    assert f"ROC-AUC {silence_auc:.4f} EER" in line and WARNING in line
    saved = json.loads((root / "results" / "leak" / "metrics.json").read_text())["tests"]["toy_eval"]
    assert saved["per_seed"]["0"]["silence_only"]["clearly_beaten"] is False


def _copy(holdout, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(holdout, root)
    return root


@pytest.mark.slow
def test_refuses_a_baseline_that_scored_other_utterances(holdout, tmp_path, capsys):
    root = _copy(holdout, tmp_path)
    score_file = root / "results" / "baseline" / "scores" / "toy_eval.txt"
    lines = score_file.read_text().splitlines()
    score_file.write_text("\n".join(lines[1:]) + "\nsomeone_else 0.5\n")
    capsys.readouterr()
    assert _run(root, "--run", "refused") == 2
    err = capsys.readouterr().err
    assert "scored other trials" in err and "1 of this run's 60 utterances are not in it" in err
    assert not (root / "results" / "refused" / "metrics.json").exists()


def test_refuses_when_the_labels_changed_since_the_baseline(holdout, tmp_path, capsys):
    root = _copy(holdout, tmp_path)
    manifest_path = root / "interim" / "toy_eval" / "manifest.csv"
    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    manifest.loc[0, "label"] = "1" if manifest.loc[0, "label"] == "0" else "0"
    manifest.to_csv(manifest_path, index=False)
    # keep the embeddings' metadata in step with the edited manifest, so only the trials differ
    from deepfake_pipeline.formats.feature_files import embeddings_paths
    from deepfake_pipeline.formats.manifest import manifest_sha256

    meta_path = embeddings_paths("toy_eval", "random-base", root / "processed")[1]
    meta = json.loads(meta_path.read_text())
    meta["manifest_sha256"] = manifest_sha256(manifest_path.parent)
    meta_path.write_text(json.dumps(meta))
    capsys.readouterr()
    assert _run(root, "--run", "refused") == 2
    assert "the manifest of toy_eval changed since the baseline run" in capsys.readouterr().err


@pytest.mark.slow
def test_step_4_reads_the_data_folders_its_baseline_read(holdout, tmp_path, capsys):
    """Without --interim-dir / --processed-dir, the folders the baseline's config.json records:
    it failed with "no embeddings ... under" the project's default data/ folders."""
    results = tmp_path / "results"
    assert (
        main(
            [
                "--baseline-run",
                str(holdout / "results" / "baseline"),
                *FAST,
                "--results-dir",
                str(results),
                "--run",
                "defaults",
            ]
        )
        == 0
    )
    args = json.loads((results / "defaults" / "config.json").read_text())["args"]
    assert (args["interim_dir"], args["processed_dir"]) == (str(holdout / "interim"), str(holdout / "processed"))
    explicit = tmp_path / "nowhere"
    assert (
        main(
            [
                "--baseline-run",
                str(holdout / "results" / "baseline"),
                *FAST,
                "--results-dir",
                str(results),
                "--processed-dir",
                str(explicit),
                "--run",
                "explicit",
            ]
        )
        == 2
    )
    assert f"under {explicit / 'toy_train'}" in capsys.readouterr().err


@pytest.mark.slow
def test_step_4_writes_the_score_files_step_3_writes(holdout, tmp_path, capsys):
    """Beside `utt_id score`, the four-field file of the ASVspoof 2019 t-DCF script wherever step 1
    found the split's 2019 ASV scores, with every score as the very float64 the run computed."""
    root = _copy(holdout, tmp_path)
    rng = np.random.default_rng(3)
    asv = root / "asv_eval.txt"
    asv.write_text(
        "".join(
            [f"bonafide target {x:.5f}\n" for x in rng.normal(3, 1, 40)]
            + [f"bonafide nontarget {x:.5f}\n" for x in rng.normal(-3, 1, 80)]
            + [f"A01 spoof {x:.5f}\n" for x in rng.normal(1, 1.5, 40)]
        )
    )
    info_path = root / "interim" / "toy_eval" / "info.json"
    info_path.write_text(
        json.dumps({**json.loads(info_path.read_text()), "asv_scores": {"format": "asvspoof2019", "path": str(asv)}})
    )
    assert _run(root, "--run", "with_asv") == 0
    scores_dir = root / "results" / "with_asv" / "scores"
    two = np.loadtxt(scores_dir / "toy_eval.txt", dtype=str)
    four = np.loadtxt(scores_dir / "toy_eval.2019.txt", dtype=str)
    manifest = pd.read_csv(root / "interim" / "toy_eval" / "manifest.csv", dtype=str, keep_default_na=False)
    assert four[:, 0].tolist() == two[:, 0].tolist() == manifest["utt_id"].tolist()
    assert four[:, 2].tolist() == ["bonafide" if v == "0" else "spoof" for v in manifest["label"]]
    assert np.array_equal(four[:, 3].astype(np.float64), two[:, 1].astype(np.float64))
    metrics = json.loads((root / "results" / "with_asv" / "metrics.json").read_text())
    entry = metrics["tests"]["toy_eval"]["per_seed"]["0"]
    assert entry["min_tdcf"] is not None and "min-tDCF n/a" not in capsys.readouterr().out


def test_refuses_embeddings_another_model_made_under_the_baselines_name(holdout, tmp_path, capsys):
    """The baseline records which model made each split's embeddings; a file of that name that
    another model wrote since (another seed's random weights here) is refused, whatever it is called."""
    root = _copy(holdout, tmp_path)
    from deepfake_pipeline.formats.feature_files import embeddings_paths

    for split in ("toy_train", "toy_dev", "toy_eval"):
        meta_path = embeddings_paths(split, "random-base", root / "processed")[1]
        meta = json.loads(meta_path.read_text())
        meta["model_identity"] = {**meta["model_identity"], "seed": 7}
        meta_path.write_text(json.dumps(meta))
    capsys.readouterr()
    assert _run(root, "--run", "refused") == 2
    err = capsys.readouterr().err
    assert (
        "the random-base embeddings of toy_train are no longer those the baseline run baseline was fitted on: "
        "the untrained weights were drawn with seed 0, now 7"
    ) in err
    assert "Traceback" not in err and not (root / "results" / "refused" / "metrics.json").exists()


@pytest.mark.parametrize("name", ["config.json", "metrics.json"])
def test_refuses_a_baseline_run_of_a_format_this_code_does_not_read(holdout, tmp_path, capsys, name):
    root = _copy(holdout, tmp_path)
    path = root / "results" / "baseline" / name
    payload = json.loads(path.read_text())
    assert payload["format_version"] == 1
    path.write_text(json.dumps({**payload, "format_version": 9}))
    capsys.readouterr()
    assert _run(root, "--run", "refused") == 2
    kind = "run_config" if name == "config.json" else "run_metrics"
    assert (
        f"error: {path} is format 9 of {kind}, written by a newer version of the pipeline (this code reads "
        f"format 1): update the code, or run `eval_logreg.py --config {path.parent / 'config.json'} --results-dir "
        f"{path.parent.parent} --run baseline --overwrite` to write it again"
    ) in capsys.readouterr().err


def test_refuses_a_baseline_that_records_no_model_identity(holdout, tmp_path, capsys):
    root = _copy(holdout, tmp_path)
    config_path = root / "results" / "baseline" / "config.json"
    config = json.loads(config_path.read_text())
    for entry in config["features"].values():
        del entry["features"]["model_identity"]
    config_path.write_text(json.dumps(config))
    capsys.readouterr()
    assert _run(root, "--run", "refused") == 2
    err = capsys.readouterr().err
    assert "records no model identity for toy_train (made by an older version of the pipeline)" in err
    assert (
        f"eval_logreg.py --config {config_path} --results-dir {config_path.parent.parent} --run baseline --overwrite"
    ) in err


@pytest.mark.parametrize(
    "args,message",
    [
        (["--unfreeze-last", "1", "--layer", "2"], "--unfreeze-last K pools the model's last layer"),
        (["--unfreeze-layers", "2", "1"], "1 <= A <= B"),
        (["--unfreeze-layers", "2", "3", "--layer", "2"], "below the unfrozen block's last layer"),
        (["--unfreeze-last", "1", "--layer-mix"], "does not combine with unfreezing"),
        (["--seeds", "0"], "--seeds must be at least 1"),
    ],
)
def test_wrong_arguments_stop_with_a_message(holdout, capsys, args, message):
    assert _run(holdout, *args) == 2
    assert message in capsys.readouterr().err


def test_refuses_a_spectral_baseline(holdout, tmp_path, capsys):
    root = _copy(holdout, tmp_path)
    metrics_path = root / "results" / "baseline" / "metrics.json"
    saved = json.loads(metrics_path.read_text())
    saved["feature_spec"]["kind"] = "spectral"
    metrics_path.write_text(json.dumps(saved))
    assert _run(root) == 2
    assert "eval_logreg.py --features embeddings" in capsys.readouterr().err


@pytest.mark.slow
def test_cv_baseline_is_followed_fold_by_fold(tmp_path, capsys, monkeypatch):
    from deepfake_pipeline.baseline import logreg

    root = tmp_path
    _corpus(root, ["toy_all"], demo=False)
    assert (
        eval_logreg(
            [
                "--features",
                "embeddings",
                "--layer",
                "1",
                "--cv",
                "toy_all",
                "--folds",
                "3",
                "--run",
                "baseline",
                "--n-boot",
                "50",
                "--C-grid",
                "0.01",
                "1",
                *_dir_args(root),
            ]
        )
        == 0
    )
    capsys.readouterr()
    # C is chosen, per fold, on that fold's fitting part only: never on the trials it then scores
    # (the projections are the 16-dim rows: the silence-only shortcut check fits on 3 features;
    # the inner folds of the choice score trials too, so only the calls outside it are recorded)
    chosen_on, scored, choosing = [], [], []
    select_by_cv, bonafide_scores = logreg.select_by_cv, logreg.bonafide_scores

    def spy_select(features, labels, *rest):
        projections = [np.array(x) for x in features.values() if np.shape(x)[-1] == 16]
        chosen_on.extend(projections)
        choosing.append(True)
        try:
            return select_by_cv(features, labels, *rest)
        finally:
            choosing.pop()

    def spy_scores(classifier, x):
        if np.shape(x)[-1] == 16 and not choosing:
            scored.append(np.array(x))
        return bonafide_scores(classifier, x)

    monkeypatch.setattr(logreg, "select_by_cv", spy_select)
    monkeypatch.setattr(logreg, "bonafide_scores", spy_scores)
    assert _run(root, "--run", "cv") == 0
    assert len(chosen_on) == len(scored) == 3 and sum(len(x) for x in scored) == 60
    for selection, fold_scored in zip(chosen_on, scored, strict=True):
        assert len(selection) + len(fold_scored) == 60
        distances = np.linalg.norm(fold_scored[:, None, :] - selection[None, :, :], axis=-1)
        assert distances.min() > 1e-3  # no scored trial among those C was chosen on
    captured = capsys.readouterr()
    out = captured.out
    assert sum("[train_contrastive seed 0 fold 2] epoch 3/3" in line for line in captured.err.splitlines()) == 1
    match = VERDICT_RE.match(out.rstrip().splitlines()[-1])
    assert match["split"] == "toy_all(cv3)" and match["caveats"] == " [untrained model: not a detection result]"
    ids, scores = read_score_file(root / "results" / "cv" / "scores" / "toy_all.txt")
    assert ids == read_score_file(root / "results" / "baseline" / "scores" / "toy_all.txt")[0]
    assert np.all(np.isfinite(scores))


@pytest.mark.parametrize("name", ["wav2vec2-large", "wavlm-base"])
@pytest.mark.slow
def test_unfreezing_the_last_layer_of_a_tiny_model(tmp_path, capsys, tiny_ssl_folders, name):
    """End to end for wav2vec2 and for WavLM, whose layers also take the relative position bias."""
    root = tmp_path
    _corpus(root, ["toy_train", "toy_dev", "toy_eval"], model=str(tiny_ssl_folders(name)), demo=False)
    assert (
        eval_logreg(
            [
                "--features",
                "embeddings",
                "--layer",
                "1",
                "--train",
                "toy_train",
                "--dev",
                "toy_dev",
                "--test",
                "toy_eval",
                "--run",
                "baseline",
                "--n-boot",
                "0",
                "--C-grid",
                "1",
                *_dir_args(root),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert _run(root, "--run", "too_deep", "--unfreeze-layers", "2", "5") == 2
    assert "this model has 3 transformer layers" in capsys.readouterr().err
    assert _run(root, "--run", "unfrozen", "--unfreeze-last", "1", "--epochs", "2", "--batch-size", "16") == 0
    out = capsys.readouterr().out
    assert "layer 3 fine-tuned from a frame cache, layer 3 pooled" in out
    caches = list((root / "processed").glob("toy_*/frames/*__input-of-layer-3/meta.json"))
    assert len(caches) == 3
    assert VERDICT_RE.match(out.rstrip().splitlines()[-1])
    assert len(read_score_file(root / "results" / "unfrozen" / "scores" / "toy_eval.txt")[0]) == 60
