"""No file of a run folder runs code when read (issue 17): step 3's model is model.json +
model.npz, read without pickle, scoring bit for bit as the model sklearn fits; an old run's
model.joblib is refused unread, with a command that refits it in place; damaged, mismatched or
crafted model files are refused; step 4's checkpoints are read with torch's weights-only loader.

The planted pickles below would create a marker file when unpickled (each test first checks
that they do, so a refusal is not mistaken for a dud plant). The original code (joblib.load of
model.joblib) created the marker in test_an_old_run_with_only_a_pickle_is_refused_unread."""

import hashlib
import io
import json
import pickle
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from audio_factory import write_clip
from logreg_fixtures import balanced_design, layered, make_split
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from deepfake_pipeline.baseline.logreg import bonafide_scores
from deepfake_pipeline.baseline.model_store import load_model_bundle, save_model_bundle
from deepfake_pipeline.cli import eval_logreg, train_contrastive
from deepfake_pipeline.formats.baseline_model import ModelFileError
from deepfake_pipeline.formats.feature_sets import FeatureSpec, load_split
from deepfake_pipeline.formats.versions import FormatVersionError


class _Plant:
    """Unpickled, it opens (creates) `marker`: the least a pickle can do beyond holding data."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _live_plant(tmp_path) -> _Plant:
    control = tmp_path / "control_marker"
    pickle.loads(pickle.dumps(_Plant(control))).close()
    assert control.exists(), "the plant must run code when unpickled"
    return _Plant(tmp_path / "marker")


def _dirs(root: Path) -> list:
    return [
        "--interim-dir",
        str(root / "interim"),
        "--processed-dir",
        str(root / "processed"),
        "--results-dir",
        str(root / "results"),
    ]


def _fit_run(root: Path, name="r") -> Path:
    """A tiny step-3 run on layer 1 of random:base embeddings."""
    for i, split in enumerate(("toy_train", "toy_dev", "toy_eval")):
        labels, speakers = balanced_design(6, 8, seed=i)
        make_split(
            root / "interim",
            root / "processed",
            split,
            labels,
            speakers,
            seed=i,
            model="random:base",
            embeddings=layered(labels, 3, 8, signal_layer=1, strength=1.2, seed=30 + i),
        )
    assert (
        eval_logreg.main(
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
                name,
                "--n-boot",
                "0",
                "--C-grid",
                "0.1",
                "1",
                *_dirs(root),
            ]
        )
        == 0
    )
    return root / "results" / name


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    return _fit_run(tmp_path_factory.mktemp("fitted"))


def _score_refusal(run, tmp_path, capsys) -> str:
    """`--score clip --from-run run`: exit 2 and one `error:` line, no traceback; that line."""
    clip = write_clip(tmp_path / "new.wav", seconds=0.5)
    capsys.readouterr()
    assert eval_logreg.main(["--score", str(clip), "--from-run", str(run)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


def _refit(run: Path) -> str:
    return f"`eval_logreg.py --config {run}/config.json --results-dir {run.parent} --run {run.name} --overwrite`"


def _direct_pipeline(X, y, C):
    """StandardScaler + LogisticRegression as sklearn fits it, spelled here, not by the pipeline."""
    return Pipeline(
        [("scale", StandardScaler()), ("logreg", LogisticRegression(C=C, max_iter=5000, random_state=0))]
    ).fit(X, y)


def _bundle(seed=7, n=150, width=40):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, width)) * rng.uniform(0.01, 50, width) + rng.normal(0, 5, width)
    y = rng.integers(0, 2, n)
    X[y == 0, :3] += 2.0
    silence = rng.normal(size=(n, 3))
    bundle = {
        "pipeline": _direct_pipeline(X, y, 0.37),
        "silence_pipeline": _direct_pipeline(silence, y, 10.0),
        "view": "layers_3+4",
        "layers": [3, 4],
        "C": 0.37,
        "threshold": -0.12345678901234567,
        "threshold_source": "EER threshold on the dev split",
        "feature_meta": {"kind": "embeddings", "model": "random:base", "dim": width // 2, "revision": None},
        "untrained": True,
        "demo": False,
        "top_db": 40.0,
        "fitted_on": "toy_train",
        "feature_spec": {"kind": "embeddings", "model": "random:base", "layer": None, "layers": [3, 4], "sweep": False},
    }
    return bundle, X, silence


# --- the model files score as the fitted model -----------------------------------------------


def test_the_saved_model_scores_bit_for_bit_as_the_model_sklearn_fitted(tmp_path):
    bundle, X, silence = _bundle()
    save_model_bundle(tmp_path, bundle)
    loaded = load_model_bundle(tmp_path)
    for name in (
        "view",
        "layers",
        "C",
        "threshold",
        "threshold_source",
        "feature_meta",
        "untrained",
        "demo",
        "top_db",
        "fitted_on",
        "feature_spec",
    ):
        assert loaded[name] == bundle[name], name
    assert loaded["n_features"] == X.shape[1]
    for rows in (slice(None), slice(0, 1), slice(17, 18), slice(3, 40), slice(100, 150)):
        # -decision_function: the log-odds of bona fide (class 0), computed by the directly fitted model
        assert np.array_equal(
            bonafide_scores(loaded["pipeline"], X[rows]), -bundle["pipeline"].decision_function(X[rows])
        )
        assert np.array_equal(
            bonafide_scores(loaded["silence_pipeline"], silence[rows]),
            -bundle["silence_pipeline"].decision_function(silence[rows]),
        )
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["format"] == "baseline_model" and meta["format_version"] == 1
    assert meta["npz_sha256"] == hashlib.sha256((tmp_path / "model.npz").read_bytes()).hexdigest()
    with np.load(tmp_path / "model.npz", allow_pickle=False) as arrays:
        assert np.array_equal(arrays["model_coef"], bundle["pipeline"].named_steps["logreg"].coef_)
        assert np.array_equal(arrays["silence_mean"], bundle["silence_pipeline"].named_steps["scale"].mean_)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.npz"]


@pytest.mark.slow
def test_a_runs_model_scores_its_test_split_as_sklearn_refitted_on_its_train_split(fitted):
    metrics = json.loads((fitted / "metrics.json").read_text())
    spec = FeatureSpec("embeddings", model="random:base", layer=1)
    root = fitted.parent.parent
    train, test = (load_split(s, spec, root / "interim", root / "processed") for s in ("toy_train", "toy_eval"))
    direct = _direct_pipeline(
        np.asarray(train.views["layer_1"], dtype=np.float64), train.labels, metrics["selection"]["C"]
    )
    X = np.asarray(test.views["layer_1"], dtype=np.float64)
    loaded = load_model_bundle(fitted)
    assert loaded["view"] == "layer_1" and loaded["layers"] == [1] and loaded["fitted_on"] == "toy_train"
    assert np.array_equal(bonafide_scores(loaded["pipeline"], X), -direct.decision_function(X))
    stored = [float(line.split()[1]) for line in (fitted / "scores" / "toy_eval.txt").read_text().splitlines()]
    assert np.allclose(stored, -direct.decision_function(X), rtol=1e-7, atol=1e-12)  # the file keeps 8 digits


# --- an old run's pickle ---------------------------------------------------------------------------


def _as_old_run(run: Path, plant) -> None:
    for name in ("model.json", "model.npz"):
        (run / name).unlink()
    (run / "model.joblib").write_bytes(pickle.dumps({"pipeline": plant}))


@pytest.mark.slow
def test_an_old_run_with_only_a_pickle_is_refused_unread(fitted, tmp_path, capsys):
    run = tmp_path / "results" / "old"
    shutil.copytree(fitted, run)
    plant = _live_plant(tmp_path)
    _as_old_run(run, plant)
    line = _score_refusal(run, tmp_path, capsys)
    assert not Path(plant.marker).exists(), "model.joblib was unpickled"
    assert line == (
        f"error: {run} holds its model only as model.joblib, a pickle written by an older "
        "eval_logreg.py; it is not read, since unpickling a file runs whatever code it names: fit the "
        f"model again into model.json + model.npz with {_refit(run)}"
    )


@pytest.mark.slow
def test_the_refit_command_rewrites_an_old_run_in_place(tmp_path, capsys):
    """A run fitted elsewhere (its config.json records another results folder) and handed on:
    the command in the refusal fits it again in its own folder, and nowhere else."""
    first = _fit_run(tmp_path / "theirs")
    before = (first / "scores" / "toy_eval.txt").read_text()
    run = tmp_path / "mine" / "results" / first.name
    run.parent.mkdir(parents=True)
    shutil.move(first, run)
    plant = _live_plant(tmp_path)
    _as_old_run(run, plant)
    command = _score_refusal(run, tmp_path, capsys).split("`")[1]
    argv = shlex.split(command)
    assert argv[0] == "eval_logreg.py"
    assert eval_logreg.main(argv[1:]) == 0
    assert not Path(plant.marker).exists()
    assert not (run / "model.joblib").exists() and (run / "model.json").is_file() and (run / "model.npz").is_file()
    assert list((tmp_path / "theirs" / "results").iterdir()) == []  # nothing written where it was fitted
    assert [p.name for p in run.parent.iterdir()] == [run.name]
    assert (run / "scores" / "toy_eval.txt").read_text() == before  # the same fit again
    assert load_model_bundle(run)["fitted_on"] == "toy_train"


# --- damaged, mismatched and crafted model files ---------------------------------------------------


def _rewrite_npz(run: Path, arrays: dict) -> None:
    """Replace model.npz and record it in model.json consistently, as a crafter would (np.savez
    pickles object arrays)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    (run / "model.npz").write_bytes(buffer.getvalue())
    meta = json.loads((run / "model.json").read_text())
    meta["npz_sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    meta["arrays"] = {k: {"dtype": np.asarray(v).dtype.str, "shape": list(np.shape(v))} for k, v in arrays.items()}
    (run / "model.json").write_text(json.dumps(meta))


def _saved(tmp_path) -> tuple:
    bundle, _, _ = _bundle()
    save_model_bundle(tmp_path, bundle)
    with np.load(tmp_path / "model.npz") as archive:
        return tmp_path, {name: archive[name] for name in archive.files}


def test_an_npz_holding_a_pickled_object_is_refused_unread(fitted, tmp_path, capsys):
    run = tmp_path / "crafted"
    shutil.copytree(fitted, run)
    plant = _live_plant(tmp_path)
    with np.load(run / "model.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["model_coef"] = np.array([plant], dtype=object)
    _rewrite_npz(run, arrays)
    line = _score_refusal(run, tmp_path, capsys)
    assert not Path(plant.marker).exists(), "the npz's object array was unpickled"
    assert line.startswith(
        f"error: {run}/model.npz is damaged (Object arrays cannot be loaded when allow_pickle=False)"
    )
    assert line.endswith(_refit(run))
    # The plant is live: numpy's loader, allowed to unpickle, would have run it.
    with np.load(run / "model.npz", allow_pickle=True) as archive:
        archive["model_coef"]
    assert Path(plant.marker).exists()


@pytest.mark.parametrize(
    "change,says",
    [
        (lambda meta: meta.update(format_version=2), "is format 2 of baseline_model, written by a newer version"),
        (lambda meta: meta.update(format="run_config"), "is a 'run_config' file, not a 'baseline_model' one"),
        (lambda meta: meta.pop("format_version"), "has no format version"),
        (lambda meta: meta.update(threshold="0.5"), "its 'threshold' is '0.5', not a number"),
        (lambda meta: meta.update(threshold=None), "its 'threshold' is None, not a number"),
        (lambda meta: meta.update(untrained=1), "its 'untrained' is 1, not true or false"),
        (lambda meta: meta.update(n_features=True), "its 'n_features' is True, not a whole number"),
        (lambda meta: meta.update(layers=[True]), "its 'layers' are [True], not layer numbers"),
        (lambda meta: meta.pop("view"), "its 'view' is None, not a string"),
        (lambda meta: meta.pop("npz_sha256"), "it lacks the record of model.npz"),
        (lambda meta: meta["arrays"]["model_coef"].update(shape=[1, 41]), "its array 'model_coef' is <f8 [1, 40]"),
        (lambda meta: meta.update(n_features=41), "model.json records 41 features, model.npz holds a model of 40"),
    ],
)
def test_a_model_json_of_another_format_or_with_wrong_fields_is_refused(tmp_path, change, says):
    run, _ = _saved(tmp_path)
    meta = json.loads((run / "model.json").read_text())
    change(meta)
    (run / "model.json").write_text(json.dumps(meta))
    with pytest.raises((ModelFileError, FormatVersionError)) as refused:
        load_model_bundle(run)
    assert says in str(refused.value) and _refit(run) in str(refused.value), str(refused.value)


@pytest.mark.parametrize(
    "part,value,says",
    [
        ("model_classes", np.array([0, 2]), "classes [0, 2], not [0, 1]"),
        ("model_scale", np.zeros(40), "a scale that is not positive"),
        ("silence_mean", np.full(3, np.nan), "not finite"),
        ("model_coef", np.zeros((1, 39)), "shapes that do not fit together"),
        ("model_intercept", np.zeros(1, dtype=np.float32), "not float64"),
    ],
)
def test_model_arrays_no_fitted_model_can_have_are_refused(tmp_path, part, value, says):
    run, arrays = _saved(tmp_path)
    _rewrite_npz(run, {**arrays, part: value})
    with pytest.raises(ModelFileError, match="is damaged") as refused:
        load_model_bundle(run)
    assert says in str(refused.value) and str(refused.value).endswith(_refit(run))


def test_a_model_that_could_not_be_read_back_is_not_written(tmp_path):
    bundle, _, _ = _bundle()
    with pytest.raises(ValueError, match="could not be read back: its 'threshold' is None, not a number"):
        save_model_bundle(tmp_path, {**bundle, "threshold": float("nan")})  # JSON has no NaN
    assert list(tmp_path.iterdir()) == []


def test_an_npz_of_another_fit_is_refused(tmp_path):
    one, other = tmp_path / "one", tmp_path / "other"
    one.mkdir(), other.mkdir()
    save_model_bundle(one, _bundle(seed=1)[0])
    save_model_bundle(other, _bundle(seed=2)[0])
    shutil.copy(other / "model.npz", one / "model.npz")
    with pytest.raises(ModelFileError, match="model.npz is damaged or is not the one model.json was written with"):
        load_model_bundle(one)


def test_a_fit_killed_between_the_npz_and_the_json_never_reads_as_finished(tmp_path, monkeypatch):
    from deepfake_pipeline.formats import baseline_model

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    first, _, _ = _bundle(seed=1)
    second, X, _ = _bundle(seed=2)
    fresh, refitted = tmp_path / "fresh", tmp_path / "refitted"
    fresh.mkdir(), refitted.mkdir()
    save_model_bundle(refitted, first)
    monkeypatch.setattr(baseline_model.atomic, "write_text", killed)
    for run in (fresh, refitted):
        with pytest.raises(KeyboardInterrupt):
            save_model_bundle(run, second)
        assert (run / "model.npz").is_file()  # the npz went first
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError, match="no fitted model"):
        load_model_bundle(fresh)
    with pytest.raises(ModelFileError, match="is not the one model.json was written with"):
        load_model_bundle(refitted)  # the old json, the new npz: refused, neither model used
    save_model_bundle(refitted, second)  # the rerun finishes the pair
    assert np.array_equal(
        bonafide_scores(load_model_bundle(refitted)["pipeline"], X), -second["pipeline"].decision_function(X)
    )


# --- step 4's checkpoints ------------------------------------------------------------------------


@pytest.mark.slow
def test_a_checkpoint_naming_an_object_is_refused_unread(fitted, tmp_path, capsys):
    import torch

    from deepfake_pipeline.contrastive.checkpoint import CHECKPOINT_FORMAT, CheckpointMismatch, load_checkpoint

    plant = _live_plant(tmp_path)
    path = tmp_path / "results" / "c" / "seed_0" / "checkpoint.pt"
    path.parent.mkdir(parents=True)
    torch.save({"format": CHECKPOINT_FORMAT, "config": {}, "model": {"w": torch.zeros(2)}, "state": plant}, path)
    with pytest.raises(CheckpointMismatch, match=r"holds more than tensors and plain values \(it names \S*open\)"):
        load_checkpoint(path, {})
    assert not Path(plant.marker).exists()
    # Through step 4: a killed run (its own folder, no metrics.json yet) that would resume from
    # the planted checkpoint stops with one line.
    root = fitted.parent.parent
    args = [
        "--baseline-run",
        str(fitted),
        "--epochs",
        "1",
        "--n-boot",
        "0",
        "--hidden-dim",
        "8",
        "--proj-dim",
        "4",
        "--run",
        "c",
        "--interim-dir",
        str(root / "interim"),
        "--processed-dir",
        str(root / "processed"),
        "--results-dir",
        str(tmp_path / "results"),
    ]
    shutil.move(path, tmp_path / "planted.pt")
    path.parent.rmdir()
    assert train_contrastive.main(args) == 0
    (path.parent.parent / "metrics.json").unlink()
    shutil.move(tmp_path / "planted.pt", path)
    capsys.readouterr()
    code = train_contrastive.main(args)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and not Path(plant.marker).exists()
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: {path} is damaged or holds more than tensors and plain values (it names ")
    assert last.endswith("it was not loaded: delete it to train that seed afresh, or rerun with --overwrite")
    # The plant is live: the unrestricted loader would have run it.
    torch.load(path, weights_only=False)
    assert Path(plant.marker).exists()


def test_a_cut_checkpoint_is_refused_with_what_to_do(tmp_path):
    import torch

    from deepfake_pipeline.contrastive.checkpoint import CheckpointMismatch, load_checkpoint, save_checkpoint

    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"config": {"a": 1}, "model": {"w": torch.ones(3)}})
    assert torch.equal(load_checkpoint(path, {"a": 1})["model"]["w"], torch.ones(3))
    data = path.read_bytes()
    for cut in (data[: len(data) // 2], b""):
        path.write_bytes(cut)
        with pytest.raises(CheckpointMismatch, match="is damaged or holds more than tensors.*delete it"):
            load_checkpoint(path, {"a": 1})
