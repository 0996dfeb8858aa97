"""Step 3's fitted model bundle to and from plain arrays (formats/baseline_model.py writes and
reads the files): the StandardScaler + LogisticRegression Pipelines of the chosen view and of the
silence-only check, with what `--score` needs to make the same features for new clips.

A Pipeline is stored as its fitted numbers: the scaler's mean_ and scale_, the regression's
coef_, intercept_ and classes_, in float64 (classes in int64). Reading rebuilds fitted sklearn
objects from them, so scoring runs sklearn's own transform and decision_function on the very
same numbers: the scores are the fitted model's bit for bit (tests/formats/test_run_files_are_data.py checks
this against a model fitted directly; numpy arithmetic done the same way gave the same bits, but
rebuilding keeps one code path for fitted and loaded models)."""

from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from deepfake_pipeline.formats.baseline_model import (
    FIELDS,
    JSON_FILE,
    NPZ_FILE,
    ModelFileError,
    read_model_files,
    refit_command,
    write_model_files,
)

# The bundle's two Pipelines and their prefix in model.npz.
PIPELINES = {"pipeline": "model", "silence_pipeline": "silence"}
_PARTS = ("mean", "scale", "coef", "intercept", "classes")


def pipeline_arrays(pipeline: Pipeline, prefix: str) -> dict:
    """The fitted numbers of a StandardScaler + LogisticRegression Pipeline, named `<prefix>_<part>`."""
    scaler, regression = pipeline.steps[0][1], pipeline.steps[-1][1]
    if (
        len(pipeline.steps) != 2
        or not isinstance(scaler, StandardScaler)
        or not isinstance(regression, LogisticRegression)
    ):
        raise TypeError(f"expected a StandardScaler + LogisticRegression Pipeline, got {pipeline.steps}")
    parts = {
        "mean": scaler.mean_,
        "scale": scaler.scale_,
        "coef": regression.coef_,
        "intercept": regression.intercept_,
        "classes": regression.classes_,
    }
    return {
        f"{prefix}_{part}": np.asarray(value, dtype=np.int64 if part == "classes" else np.float64)
        for part, value in parts.items()
    }


def pipeline_from_arrays(arrays: dict, prefix: str, where: Path, fix: str, C: float = 1.0) -> Pipeline:
    """A fitted Pipeline rebuilt from `pipeline_arrays`' numbers; refuses numbers that no fitted
    binary model of this pipeline can have (`where`, `fix`: the file and the command that
    writes it again, for the message). C does not enter the scores: it is set only so that the
    rebuilt regression describes itself as the fitted one did."""
    mean, scale, coef, intercept, classes = (arrays[f"{prefix}_{part}"] for part in _PARTS)
    width = mean.shape[0] if mean.ndim == 1 else -1
    problem = None
    if any(a.dtype != np.float64 for a in (mean, scale, coef, intercept)) or classes.dtype != np.int64:
        problem = "arrays that are not float64 (classes int64)"
    elif width < 1 or scale.shape != (width,) or coef.shape != (1, width) or intercept.shape != (1,):
        problem = f"shapes that do not fit together ({mean.shape}, {scale.shape}, {coef.shape}, {intercept.shape})"
    elif classes.tolist() != [0, 1]:
        problem = f"classes {classes.tolist()}, not [0, 1]"
    elif not all(np.all(np.isfinite(a)) for a in (mean, scale, coef, intercept)) or np.any(scale <= 0):
        problem = "numbers that are not finite, or a scale that is not positive"
    if problem:
        raise ModelFileError(f"{where} is damaged (its {prefix} model has {problem}): fit the model again with `{fix}`")
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.n_features_in_ = mean, scale, width
    regression = LogisticRegression(C=C)
    regression.coef_, regression.intercept_, regression.classes_ = coef, intercept, classes
    regression.n_features_in_ = width
    return Pipeline([("scale", scaler), ("logreg", regression)])


def save_model_bundle(run_path, bundle: dict) -> Path:
    """Write `bundle` (the Pipelines under "pipeline" and "silence_pipeline", the other fields
    of formats/baseline_model.FIELDS but n_features) as model.json + model.npz; returns the json."""
    arrays = {}
    for key, prefix in PIPELINES.items():
        arrays.update(pipeline_arrays(bundle[key], prefix))
    meta = {name: bundle[name] for name in FIELDS if name != "n_features"}
    meta["n_features"] = int(arrays["model_mean"].shape[0])
    json_path, _ = write_model_files(run_path, meta, arrays)
    return json_path


def load_model_bundle(run_path) -> dict:
    """The bundle `save_model_bundle` wrote, its Pipelines rebuilt fitted; refuses (ModelFileError,
    FileNotFoundError) with what to run."""
    run = Path(run_path)
    meta, arrays = read_model_files(run)
    fix = refit_command(run)
    expected = {f"{prefix}_{part}" for prefix in PIPELINES.values() for part in _PARTS}
    if set(arrays) != expected:
        raise ModelFileError(
            f"{run / NPZ_FILE} is damaged (it holds {sorted(arrays)}, not {sorted(expected)}): "
            f"fit the model again with `{fix}`"
        )
    bundle = {name: meta[name] for name in FIELDS}
    # The silence-only model's C is not kept (only its scores are used).
    bundle["pipeline"] = pipeline_from_arrays(arrays, "model", run / NPZ_FILE, fix, C=float(meta["C"]))
    bundle["silence_pipeline"] = pipeline_from_arrays(arrays, "silence", run / NPZ_FILE, fix)
    if bundle["pipeline"].n_features_in_ != meta["n_features"]:
        raise ModelFileError(
            f"{run / JSON_FILE} records {meta['n_features']} features, {NPZ_FILE} holds a model of "
            f"{bundle['pipeline'].n_features_in_}: fit the model again with `{fix}`"
        )
    return bundle
