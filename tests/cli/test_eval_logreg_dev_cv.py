"""eval_logreg.py --train SPLIT --dev cv --test ...: C (and layer) chosen by speaker-grouped CV on
the training split, checked against the same selection written out with scikit-learn; its folds,
its refusals, its replay, and step 4's refusal of such a run."""

import json

import numpy as np
import pytest
from logreg_fixtures import balanced_design, informative, layered, make_split, prefers_other_C_on_test, sklearn_logreg
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from deepfake_pipeline.baseline import logreg
from deepfake_pipeline.cli.eval_logreg import main
from deepfake_pipeline.formats.score_files import read_score_file


@pytest.fixture
def dirs(tmp_path):
    return {"interim": tmp_path / "interim", "processed": tmp_path / "processed", "results": tmp_path / "results"}


def _dir_args(dirs):
    return [
        "--interim-dir",
        str(dirs["interim"]),
        "--processed-dir",
        str(dirs["processed"]),
        "--results-dir",
        str(dirs["results"]),
    ]


def _by_hand(views, labels, speakers, folds, grid):
    """(view, C, pooled out-of-fold scores) as the protocol says: StratifiedGroupKFold (shuffled,
    seed 0) over speakers, one StandardScaler + LogisticRegression per fold and C, out-of-fold
    scores pooled, ROC-AUC of bona fide; the first best (view, C) in order (C ascending) wins."""
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=0)
    parts = list(splitter.split(np.zeros(len(labels)), labels, speakers))
    for fit_idx, score_idx in parts:
        assert not set(speakers[fit_idx]) & set(speakers[score_idx])
    best = None
    for view, x in views.items():
        for C in sorted(grid):
            pooled = np.empty(len(labels))
            for fit_idx, score_idx in parts:
                model = sklearn_logreg(C).fit(x[fit_idx], labels[fit_idx])
                pooled[score_idx] = -model.decision_function(x[score_idx])
            auc = roc_auc_score(labels == 0, pooled)
            if best is None or auc > best[0]:
                best = (auc, view, C, pooled)
    return best[1], best[2], best[3]


def _scores(path):
    ids, scores = read_score_file(path)
    return dict(zip(ids, scores, strict=True))


@pytest.mark.slow
def test_dev_cv_chooses_C_as_grouped_cv_written_out_in_sklearn(dirs, capsys):
    rng = np.random.default_rng(3)
    x_train, y_train = prefers_other_C_on_test(240, 1, False, n_columns=15)
    s_train = np.array([f"S{j}" for j in rng.integers(0, 12, len(y_train))])
    x_test, y_test = prefers_other_C_on_test(120, 2, True, n_columns=15)
    s_test = [f"T{j}" for j in rng.integers(0, 6, len(y_test))]
    make_split(dirs["interim"], dirs["processed"], "mine_all", y_train, s_train, spectral=x_train, seed=1)
    make_split(dirs["interim"], dirs["processed"], "wild_eval", y_test, s_test, spectral=x_test, seed=2)
    # Spectral features are read as float32, then fitted in float64.
    x_train, x_test = (x.astype(np.float32).astype(np.float64) for x in (x_train, x_test))
    grid = (1e-4, 1e-2, 100.0)
    view, C, pooled = _by_hand({"spectral": x_train}, y_train, s_train, 4, grid)
    argv = ["--features", "spectral", "--train", "mine_all", "--dev", "cv", "--folds", "4", "--test", "wild_eval"]
    argv += ["--C-grid", *map(str, grid), "--n-boot", "0", "--run", "own", *_dir_args(dirs)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    run = dirs["results"] / "own"
    saved = json.loads((run / "metrics.json").read_text())
    config = json.loads((run / "config.json").read_text())
    assert saved["selection"]["C"] == C and saved["selection"]["view"] == view
    assert config["protocol"] == saved["protocol"] == "train_cv" and config["chosen_by"] == "cv4 on mine_all"
    assert saved["chosen_by"] == "cv4 on mine_all"
    # The scores that chose C are the pooled out-of-fold scores, and the test is scored by the
    # model refitted on all of train at that C.
    oof = _scores(run / "scores" / "mine_all.oof.txt")
    assert np.allclose([oof[f"mine_all_{i:04d}"] for i in range(len(y_train))], pooled, rtol=1e-9, atol=1e-9)
    refit = sklearn_logreg(C).fit(x_train, y_train)
    test = _scores(run / "scores" / "wild_eval.txt")
    expected = -refit.decision_function(x_test)
    assert np.allclose([test[f"wild_eval_{i:04d}"] for i in range(len(y_test))], expected, rtol=1e-9, atol=1e-9)
    assert saved["tests"]["wild_eval"]["auc"] == pytest.approx(roc_auc_score(y_test == 0, expected), abs=1e-12)
    assert "chosen on 4-fold grouped CV on mine_all: spectral" in out
    assert "dev=" not in out and "dev" not in saved  # no dev split, and none claimed


@pytest.mark.slow
def test_dev_cv_layer_sweep_chooses_the_layer_as_sklearn_does(dirs):
    labels, speakers = balanced_design(8, 10, seed=4)
    emb = layered(labels, 3, 6, signal_layer=2, strength=0.8, seed=4)
    emb[:, 1, :3] += 0.5 * (labels == 0)[:, None]  # a weaker layer, so the choice is not trivial
    test_labels, test_speakers = balanced_design(4, 10, seed=5)
    make_split(dirs["interim"], dirs["processed"], "mine_all", labels, speakers, embeddings=emb, seed=1)
    make_split(
        dirs["interim"],
        dirs["processed"],
        "wild_eval",
        test_labels,
        test_speakers,
        embeddings=layered(test_labels, 3, 6, signal_layer=2, seed=5),
        seed=2,
    )
    stored = emb.astype(np.float16).astype(np.float64)  # what the pipeline fits on
    grid = (1e-3, 1.0)
    view, C, _ = _by_hand({f"layer_{k}": stored[:, k] for k in range(3)}, labels, speakers, 4, grid)
    argv = ["--features", "embeddings", "--layer-sweep", "--train", "mine_all", "--dev", "cv", "--folds", "4"]
    argv += ["--test", "wild_eval", "--C-grid", *map(str, grid), "--n-boot", "0", "--run", "sweep", *_dir_args(dirs)]
    assert main(argv) == 0
    saved = json.loads((dirs["results"] / "sweep" / "metrics.json").read_text())
    assert saved["selection"]["layers"] == [int(view.rsplit("_", 1)[1])] and saved["selection"]["C"] == C
    assert [row["layer"] for row in saved["layer_sweep"]] == [0, 1, 2]
    assert all("oof_auc" in row for row in saved["layer_sweep"])


@pytest.mark.slow
def test_dev_cv_folds_never_share_a_speaker(dirs, monkeypatch):
    labels, speakers = balanced_design(7, 6, seed=6)
    make_split(
        dirs["interim"], dirs["processed"], "mine_all", labels, speakers, spectral=informative(labels, 15, [0]), seed=1
    )
    test_labels, test_speakers = balanced_design(3, 6, seed=7)
    make_split(
        dirs["interim"],
        dirs["processed"],
        "wild_eval",
        test_labels,
        test_speakers,
        spectral=informative(test_labels, 15, [0], seed=2),
        seed=2,
    )
    seen, real = [], logreg.grouped_folds

    def spy(labels_, groups, n_folds, seed=0):
        folds = real(labels_, groups, n_folds, seed)
        seen.append((np.asarray(groups), folds))
        return folds

    monkeypatch.setattr(logreg, "grouped_folds", spy)
    argv = ["--features", "spectral", "--train", "mine_all", "--dev", "cv", "--folds", "3", "--test", "wild_eval"]
    assert main([*argv, "--n-boot", "0", "--C-grid", "0.1", "--run", "f", *_dir_args(dirs)]) == 0
    assert seen
    for groups, folds in seen:
        assert len(groups) == len(labels) and len(folds) == 3
        scored = np.concatenate([score_idx for _, score_idx in folds])
        assert sorted(scored.tolist()) == list(range(len(labels)))  # every clip held out exactly once
        for fit_idx, score_idx in folds:
            assert not set(groups[fit_idx]) & set(groups[score_idx])
            assert set(speakers[fit_idx]).isdisjoint(speakers[score_idx])


def _refused(argv, capsys, *phrases):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    for phrase in phrases:
        assert phrase in err, err


def test_dev_cv_refusals(dirs, capsys):
    labels, speakers = balanced_design(3, 6)
    make_split(dirs["interim"], dirs["processed"], "few_all", labels, speakers, spectral=informative(labels, 15, [0]))
    # Four speakers, each of one class: four folds hold out one class each.
    one_class = np.repeat([0, 0, 1, 1], 5)
    make_split(
        dirs["interim"],
        dirs["processed"],
        "sep_all",
        one_class,
        np.repeat(["a", "b", "c", "d"], 5),
        spectral=informative(one_class, 15, [0]),
    )
    make_split(dirs["interim"], dirs["processed"], "t_eval", labels, speakers, spectral=informative(labels, 15, [0]))
    base = ["--features", "spectral", "--dev", "cv", "--test", "t_eval", "--n-boot", "0", *_dir_args(dirs)]
    _refused([*base, "--train", "few_all", "--folds", "5"], capsys, "only 3 distinct speakers", "--folds 3 or fewer")
    _refused([*base, "--train", "sep_all", "--folds", "4"], capsys, "fold", "holds only", "fewer --folds")
    _refused([*base, "--train", "few_all", "--folds", "3", "--inner-folds", "2"], capsys, "--inner-folds applies")
    _refused([*base, "--train", "few_all", "--folds", "1"], capsys, "--folds must be at least 2")
    _refused(
        ["--features", "spectral", "--train", "few_all", "--dev", "cv", *_dir_args(dirs)], capsys, "--dev cv", "--test"
    )
    assert not dirs["results"].exists() or not any(dirs["results"].iterdir())


@pytest.mark.slow
def test_dev_cv_run_replays_from_its_config(dirs, capsys):
    labels, speakers = balanced_design(6, 8, seed=8)
    make_split(
        dirs["interim"],
        dirs["processed"],
        "mine_all",
        labels,
        speakers,
        spectral=informative(labels, 15, [0, 2], 0.8, seed=8),
        seed=1,
    )
    make_split(
        dirs["interim"],
        dirs["processed"],
        "wild_eval",
        labels,
        speakers,
        spectral=informative(labels, 15, [0, 2], 0.8, seed=9),
        seed=2,
    )
    argv = ["--features", "spectral", "--train", "mine_all", "--dev", "cv", "--folds", "3", "--test", "wild_eval"]
    assert main([*argv, "--n-boot", "20", "--C-grid", "0.01", "10", "--run", "first", *_dir_args(dirs)]) == 0
    capsys.readouterr()
    config = dirs["results"] / "first" / "config.json"
    assert main(["--config", str(config), "--run", "again"]) == 0
    first = json.loads((dirs["results"] / "first" / "metrics.json").read_text())
    again = json.loads((dirs["results"] / "again" / "metrics.json").read_text())
    assert again["protocol"] == "train_cv" and again["chosen_by"] == first["chosen_by"] == "cv3 on mine_all"
    assert again["selection"]["table"] == first["selection"]["table"]
    first_line = first["tests"]["wild_eval"]["closing_line"].replace("run=first", "run=again")
    assert again["tests"]["wild_eval"]["closing_line"] == first_line


@pytest.mark.slow
def test_step_4_refuses_a_dev_cv_baseline_and_says_what_to_do(dirs, capsys):
    from deepfake_pipeline.cli.train_contrastive import main as contrastive_main

    labels, speakers = balanced_design(6, 6, seed=1)
    for split, seed in (("mine_all", 1), ("wild_eval", 2)):
        make_split(
            dirs["interim"],
            dirs["processed"],
            split,
            labels,
            speakers,
            embeddings=layered(labels, 2, 4, signal_layer=1, seed=seed),
            seed=seed,
        )
    argv = ["--features", "embeddings", "--layer", "1", "--train", "mine_all", "--dev", "cv", "--folds", "3"]
    assert main([*argv, "--test", "wild_eval", "--n-boot", "0", "--run", "b", *_dir_args(dirs)]) == 0
    capsys.readouterr()
    rc = contrastive_main(
        ["--baseline-run", str(dirs["results"] / "b"), "--results-dir", str(dirs["results"]), "--run", "c"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "--dev cv" in err and "dev split" in err and "--cv SPLIT" in err
    assert not (dirs["results"] / "c").exists()
