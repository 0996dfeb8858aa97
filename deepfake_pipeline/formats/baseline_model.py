"""Step 3's fitted model on disk: `results/<run>/model.json` + `results/<run>/model.npz`, what
`eval_logreg.py --score ... --from-run <run>` applies to new clips.

Runs are handed between colleagues, so reading one must never run code: no pickle. model.json
holds everything that is not an array (the view, layers, C, threshold, feature metadata, ...;
stamped with `formats/versions.py`), model.npz only numeric arrays, read with
`allow_pickle=False`. The npz is written first and the json last, and the json records the
npz's SHA-256: a run killed between the two, or an npz from another fit, reads as damaged, never
as a finished model. Which arrays a model has and what they mean is baseline/model_store.py's
business; this module checks that the two files are whole, belong together and hold what the
json says.

An older run holds only `model.joblib` (a pickle). It is refused unread, with the command that
fits its model again into the new files (`refit_command`)."""

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from deepfake_pipeline.common import atomic
from deepfake_pipeline.formats import versions
from deepfake_pipeline.formats.run_dir import to_jsonable
from deepfake_pipeline.formats.step3_run import BaselineRunError, refit_command  # noqa: F401  (re-exported)

KIND = "baseline_model"
JSON_FILE = "model.json"
NPZ_FILE = "model.npz"
OLD_PICKLE_FILE = "model.joblib"

# The fields of model.json besides the format stamp and the record of the npz, with their JSON
# types (bool is not a number here, although Python counts it as an int).
_NUMBER = "number"
FIELDS: dict[str, Any] = {
    "view": str,
    "layers": list,
    "C": _NUMBER,
    "threshold": _NUMBER,
    "threshold_source": str,
    "feature_meta": dict,
    "untrained": bool,
    "demo": bool,
    "top_db": _NUMBER,
    "fitted_on": str,
    "feature_spec": dict,
    "n_features": int,
}

_TYPE_WORDS = {
    str: "a string",
    list: "a list",
    dict: "an object",
    bool: "true or false",
    int: "a whole number",
    _NUMBER: "a number",
}


class ModelFileError(BaselineRunError):
    """A run's model files are missing, damaged, of an old kind or of another format."""


def write_model_files(run_path, meta: dict, arrays: dict) -> tuple:
    """Write model.npz (the `arrays`) then model.json (`meta`, the npz's SHA-256 and the arrays'
    dtypes and shapes), each atomically; remove a model.joblib left by an older version, so the
    folder holds no pickle to hand on. Returns (json path, npz path)."""
    run = Path(run_path)
    missing = sorted(set(FIELDS) - set(meta))
    if missing:
        raise ValueError(f"the model to save lacks {missing}")
    arrays = {name: np.asarray(value) for name, value in arrays.items()}
    if any(array.dtype.hasobject for array in arrays.values()):
        raise ValueError("model arrays must be numeric: an object array would need a pickle")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    payload = to_jsonable(
        versions.stamp(
            KIND,
            {
                **{name: meta[name] for name in FIELDS},
                "npz_sha256": hashlib.sha256(data).hexdigest(),
                "arrays": {
                    name: {"dtype": array.dtype.str, "shape": list(array.shape)} for name, array in arrays.items()
                },
            },
        )
    )
    # What the reader would refuse is not written (to_jsonable turns NaN into None, for one).
    problem = _field_problem(payload)
    if problem:
        raise ValueError(f"the model to save could not be read back: {problem}")
    npz_path = atomic.write_bytes(run / NPZ_FILE, data)
    json_path = atomic.write_text(run / JSON_FILE, json.dumps(payload, indent=2, allow_nan=False) + "\n")
    (run / OLD_PICKLE_FILE).unlink(missing_ok=True)
    return json_path, npz_path


def read_model_files(run_path) -> tuple:
    """(meta, arrays) of the run's model: model.json's fields, and model.npz's arrays as the json
    records them. Refuses, with what to run, a run without them, one holding only the old
    pickle, and files that are damaged, of another format, or do not belong together."""
    run = Path(run_path)
    json_path, npz_path = run / JSON_FILE, run / NPZ_FILE
    fix = refit_command(run)
    if not json_path.is_file():
        if (run / OLD_PICKLE_FILE).is_file():
            raise ModelFileError(
                f"{run} holds its model only as {OLD_PICKLE_FILE}, a pickle written by an older eval_logreg.py; "
                f"it is not read, since unpickling a file runs whatever code it names: fit the model again "
                f"into model.json + model.npz with `{fix}`"
            )
        raise FileNotFoundError(
            f"no fitted model at {run} (no {JSON_FILE}): pass --from-run a results/<run> "
            "folder written by eval_logreg.py"
        )
    meta = _read_json(json_path, fix)
    versions.check(KIND, meta, json_path, fix)
    problem = _field_problem(meta)
    if problem:
        raise _damaged(json_path, problem, fix)
    try:
        data = npz_path.read_bytes()
    except OSError as error:
        why = "is missing" if isinstance(error, FileNotFoundError) else f"cannot be read ({error})"
        raise ModelFileError(
            f"{npz_path} {why} (a fit killed before it finished?): fit the model again with `{fix}`"
        ) from error
    if hashlib.sha256(data).hexdigest() != meta["npz_sha256"]:
        raise ModelFileError(
            f"{npz_path} is damaged or is not the one {json_path.name} was written with (its SHA-256 differs "
            f"from the one recorded there): fit the model again with `{fix}`"
        )
    return meta, _read_arrays(data, meta["arrays"], npz_path, fix)


def _damaged(path: Path, why, fix: str) -> ModelFileError:
    return ModelFileError(f"{path} is damaged ({why}): fit the model again with `{fix}`")


def _read_json(path: Path, fix: str) -> dict:
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise _damaged(path, error, fix) from error
    if not isinstance(payload, dict):
        raise _damaged(path, "not a JSON object", fix)
    return payload


def _field_problem(meta: dict) -> str | None:
    """What in model.json's fields no model of this format has, or None."""
    for name, kind in FIELDS.items():
        value = meta.get(name)
        if kind is _NUMBER:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
        else:
            ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        if not ok:
            return f"its {name!r} is {value!r}, not {_TYPE_WORDS[kind]}"
    if not all(isinstance(layer, int) and not isinstance(layer, bool) for layer in meta["layers"]):
        return f"its 'layers' are {meta['layers']!r}, not layer numbers"
    if not isinstance(meta.get("npz_sha256"), str) or not isinstance(meta.get("arrays"), dict):
        return "it lacks the record of model.npz (npz_sha256, arrays)"
    return None


def _read_arrays(data: bytes, recorded: dict, path: Path, fix: str) -> dict:
    # allow_pickle=False: an object array in the npz is refused, not unpickled.
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise _damaged(path, error, fix) from error
    if set(arrays) != set(recorded):
        raise _damaged(path, f"it holds arrays {sorted(arrays)}, model.json records {sorted(recorded)}", fix)
    for name, array in arrays.items():
        spec = recorded[name]
        if not isinstance(spec, dict) or [array.dtype.str, list(array.shape)] != [spec.get("dtype"), spec.get("shape")]:
            raise _damaged(
                path, f"its array {name!r} is {array.dtype.str} {list(array.shape)}, model.json records {spec!r}", fix
            )
    return arrays
