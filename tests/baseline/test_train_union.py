"""Several training splits fitted on as one (`eval_logreg.py --train A A+gain ...`), and the held-out
check across derived splits: an augmented copy of a test clip placed in train is refused like the
clip itself, a copy keeps its source's speaker (one CV group), and config.json records each
training split with its manifest's SHA-256."""

import hashlib
import json

import augment_fixtures
import numpy as np
import pandas as pd
import pytest
from contrastive_fixtures import one_torch_thread  # noqa: F401
from logreg_fixtures import balanced_design, informative, make_split, sklearn_logreg

from deepfake_pipeline import __version__
from deepfake_pipeline.augment.derive import DeriveRequest, derive_split
from deepfake_pipeline.baseline import logreg
from deepfake_pipeline.cli.eval_logreg import main
from deepfake_pipeline.formats.feature_files import FEATURE_COLUMNS, SPECTRAL_COLUMNS, write_spectral
from deepfake_pipeline.formats.feature_sets import FeatureSpec, load_splits
from deepfake_pipeline.formats.manifest import manifest_sha256
from deepfake_pipeline.formats.split_union import union_of


def _derive_with_features(dirs, source, seed):
    """`source`+gain through step 1's --augment engine, with drawn spectral features."""
    summary = derive_split(DeriveRequest(source, "gain"), augment_fixtures.GAIN, dirs["interim"], jobs=1)
    manifest = pd.read_csv(summary.split_dir / "manifest.csv", dtype=str, keep_default_na=False)
    labels = manifest["label"].astype(int).to_numpy()
    table = pd.DataFrame(informative(labels, 15, [0, 3], seed=seed), columns=FEATURE_COLUMNS)
    table.insert(0, "label", labels)
    table.insert(0, "file", manifest["utt_id"])
    out = dirs["processed"] / summary.split_id
    out.mkdir(parents=True)
    meta = {"kind": "spectral", "manifest_sha256": manifest_sha256(summary.split_dir), "code_version": __version__}
    write_spectral(table[SPECTRAL_COLUMNS], out / "spectral.csv", {**meta, "num_clips": len(table), "demo": False})
    return summary.split_id


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("union")
    dirs = {"interim": root / "interim", "processed": root / "processed", "results": root / "results"}
    for i, split in enumerate(("train", "dev", "eval")):
        labels, speakers = balanced_design(6, 8, seed=i)
        make_split(
            dirs["interim"],
            dirs["processed"],
            f"toy_{split}",
            labels,
            [f"{split}_{s}" for s in speakers],
            seed=i,
            spectral=informative(labels, 15, [0, 3], seed=10 + i),
        )
    for i, split in enumerate(("toy_train", "toy_eval")):
        _derive_with_features(dirs, split, seed=20 + i)
    return dirs


def _args(dirs, train, test=("toy_eval",), run="r", *extra):
    return [
        "--features",
        "spectral",
        "--train",
        *train,
        "--dev",
        "toy_dev",
        "--test",
        *test,
        "--run",
        run,
        "--n-boot",
        "0",
        "--C-grid",
        "1",
        "--interim-dir",
        str(dirs["interim"]),
        "--processed-dir",
        str(dirs["processed"]),
        "--results-dir",
        str(dirs["results"]),
        *extra,
    ]


def _scores(dirs, run, split):
    text = (dirs["results"] / run / "scores" / f"{split}.txt").read_text().split()
    return np.array(text[0::2]), np.array(text[1::2], dtype=np.float64)


@pytest.mark.slow
def test_an_augmented_copy_of_a_test_clip_in_train_is_refused_like_the_clip(dirs, capsys):
    assert main(_args(dirs, ["toy_train", "toy_eval+gain"], run="leaky")) == 2
    err = capsys.readouterr().err
    assert (
        "48 clips of test split toy_eval have the same audio as clips of toy_eval+gain (48 as derived copies "
        "of the same source clips" in err
    )
    assert not (dirs["results"] / "leaky").exists()
    # its degraded copy tested against clean train is no copy of anything trained on
    assert main(_args(dirs, ["toy_train"], ["toy_eval+gain"], run="held")) == 0
    assert "overlap test=toy_eval+gain vs toy_train: 0 clips with the same audio" in capsys.readouterr().out


@pytest.mark.slow
def test_a_union_of_train_splits_is_fitted_as_their_stacked_rows(dirs):
    assert main(_args(dirs, ["toy_train", "toy_train+gain"], run="union")) == 0
    tables = [pd.read_csv(dirs["processed"] / s / "spectral.csv") for s in ("toy_train", "toy_train+gain")]

    def features(table):  # as step 3 reads them: float32, fitted in float64
        return table[FEATURE_COLUMNS].to_numpy(dtype=np.float32).astype(np.float64)

    stacked = pd.concat(tables)
    test = pd.read_csv(dirs["processed"] / "toy_eval" / "spectral.csv")
    expected = sklearn_logreg(1.0).fit(features(stacked), stacked["label"]).decision_function(features(test))
    alone = sklearn_logreg(1.0).fit(features(tables[0]), tables[0]["label"]).decision_function(features(test))
    assert np.abs(alone - expected).max() > 0.1  # the copies change the fit: the test can tell
    ids, scores = _scores(dirs, "union", "toy_eval")
    assert list(ids) == list(test["file"])
    # higher = more bona fide: sklearn's decision function favours class 1 (spoof); solver tolerance
    np.testing.assert_allclose(scores, -expected, rtol=1e-5, atol=1e-6)

    config = json.loads((dirs["results"] / "union" / "config.json").read_text())
    assert config["args"]["train"] == ["toy_train", "toy_train+gain"]
    assert config["train_splits"] == ["toy_train", "toy_train+gain"]
    for split in ("toy_train", "toy_train+gain"):
        digest = hashlib.sha256((dirs["interim"] / split / "manifest.csv").read_bytes()).hexdigest()
        assert config["features"][split]["manifest_sha256"] == digest
    model_json = json.loads((dirs["results"] / "union" / "model.json").read_text())
    assert model_json["fitted_on"] == "toy_train & toy_train+gain"

    assert main(["--config", str(dirs["results"] / "union"), "--run", "replayed"]) == 0
    assert np.array_equal(_scores(dirs, "replayed", "toy_eval")[1], scores)


@pytest.mark.slow
def test_one_train_split_is_recorded_as_before(dirs):
    assert main(_args(dirs, ["toy_train"], run="single")) == 0
    config = json.loads((dirs["results"] / "single" / "config.json").read_text())
    assert config["args"]["train"] == "toy_train" and config["train_splits"] == ["toy_train"]


def test_a_clip_and_its_copy_share_a_speaker_and_so_a_cv_fold(dirs):
    members = load_splits(["toy_train", "toy_train+gain"], FeatureSpec("spectral"), dirs["interim"], dirs["processed"])
    union = union_of(members)
    assert len(union) == 96 and union.split_id == "toy_train & toy_train+gain"
    derived = pd.read_csv(dirs["interim"] / "toy_train+gain" / "manifest.csv", dtype=str)
    source_of = dict(zip(derived["utt_id"], derived["source_utt_id"], strict=True))
    groups = logreg.cv_groups(union.speakers, 4)
    fold_of = {}
    for fold, (_, scored) in enumerate(logreg.grouped_folds(union.labels, groups, 4, seed=0)):
        fold_of.update({union.utt_ids[i]: fold for i in scored})
    assert len(fold_of) == 96
    assert all(fold_of[copy] == fold_of[source] for copy, source in source_of.items())


@pytest.mark.slow
def test_a_test_split_and_its_degraded_copy_get_a_condition_table(dirs, capsys):
    from sklearn.metrics import roc_auc_score

    assert main(_args(dirs, ["toy_train"], ["toy_eval", "toy_eval+gain"], run="conditions")) == 0
    out = capsys.readouterr().out
    assert "[eval_logreg] per condition, copies of toy_eval (each condition on its own trials):" in out
    table = json.loads((dirs["results"] / "conditions" / "metrics.json").read_text())["conditions"]
    assert list(table) == ["toy_eval"] and list(table["toy_eval"]) == ["clean", "gain"]
    for condition, split in (("clean", "toy_eval"), ("gain", "toy_eval+gain")):
        labels = pd.read_csv(dirs["interim"] / split / "manifest.csv")["label"].to_numpy()
        _, scores = _scores(dirs, "conditions", split)
        row = table["toy_eval"][condition]
        assert row["split"] == split and (row["n_bonafide"], row["n_spoof"]) == (24, 24)
        assert row["auc"] == pytest.approx(roc_auc_score(labels == 0, scores), abs=1e-12)
        assert row["min_tdcf"] is None  # the toy corpus has no ASV scores
    lines = out.splitlines()
    at = lines.index("[eval_logreg] per condition, copies of toy_eval (each condition on its own trials):")
    assert lines[at + 2].split()[0] == "clean" and lines[at + 3].split()[0] == "gain"


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_step4_trains_its_head_on_the_baselines_training_splits(tmp_path, capsys):
    from logreg_fixtures import layered

    from deepfake_pipeline.cli.train_contrastive import main as train_contrastive

    paths = ["--interim-dir", str(tmp_path / "i"), "--processed-dir", str(tmp_path / "p")]
    for i, split in enumerate(("toy_train", "toy_more", "toy_dev", "toy_eval")):
        labels, speakers = balanced_design(6, 10, seed=i)
        embeddings = layered(labels, 3, 8, signal_layer=1, strength=1.2, seed=20 + i)
        make_split(tmp_path / "i", tmp_path / "p", split, labels, speakers, seed=i, embeddings=embeddings)
    baseline = ["--features", "embeddings", "--model", "random:base", "--layer", "1", "--n-boot", "0"]
    splits = ["--train", "toy_train", "toy_more", "--dev", "toy_dev", "--test", "toy_eval", "--C-grid", "1"]
    results = ["--results-dir", str(tmp_path / "r")]
    assert main([*baseline, *splits, "--run", "base", *paths, *results]) == 0
    fast = ["--epochs", "2", "--batch-size", "32", "--n-boot", "0", "--hidden-dim", "16", "--proj-dim", "8"]
    assert train_contrastive(["--baseline-run", str(tmp_path / "r" / "base"), "--run", "head", *fast, *results]) == 0
    config = json.loads((tmp_path / "r" / "head" / "config.json").read_text())
    members = config["features"]["toy_train & toy_more"]["members"]
    for split in ("toy_train", "toy_more"):
        digest = hashlib.sha256((tmp_path / "i" / split / "manifest.csv").read_bytes()).hexdigest()
        assert members[split]["manifest_sha256"] == digest
    capsys.readouterr()
    unfrozen = ["--baseline-run", str(tmp_path / "r" / "base"), "--run", "x", "--unfreeze-last", "1"]
    assert train_contrastive([*unfrozen, *fast, *results]) == 2
    assert "fitted on several training splits (toy_train & toy_more)" in capsys.readouterr().err


def test_dev_cv_with_several_train_splits_is_refused_in_one_line(dirs, capsys):
    args = ["--features", "spectral", "--train", "toy_train", "toy_train+gain", "--dev", "cv", "--test", "toy_eval"]
    assert main([*args, "--interim-dir", str(dirs["interim"]), "--results-dir", str(dirs["results"])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --dev cv takes one --train split for now")
