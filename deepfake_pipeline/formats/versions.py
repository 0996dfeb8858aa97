"""Format versions of the pipeline's own JSON artefacts.

Each artefact kind has a version of its own, written into it as ``format_version`` beside
``format`` (its kind). The version changes only when that artefact's layout or meaning changes,
not with every release of the code, so a new release still reads what an older one wrote when
nothing about it changed. A reader refuses a version it does not know, with the command that
writes the artefact again: a file from a newer pipeline, or from before a change of meaning,
never reads as if it were the current one.
"""

from deepfake_pipeline.common.errors import PipelineError

FORMAT_KEY = "format"
VERSION_KEY = "format_version"

# kind -> the version this code writes and reads; a comment per kind says what each version added.
FORMATS = {
    # data/interim/<split>/info.json, and the manifest, rejects and store it vouches for.
    # 1: the float32 store (files written before versions existed have this layout too)
    "split_info": 1,
    # data/processed/<split>/spectral.json, beside spectral.csv. 1: the first recorded layout
    "spectral": 1,
    # data/processed/<split>/embeddings/<tag>.json, beside <tag>.npy.
    # 2: the model's identity (formats/model_identity.py) and the software that computed them
    # 3: the array is layers-major, (layers, clips, dim): one layer is one contiguous block
    #    (formats/embedding_array.py); step 2 rewrites a format-2 file in place, recomputing nothing
    "embeddings": 3,
    # results/<run>/config.json and metrics.json of steps 3 and 4. 1: the first recorded layout
    "run_config": 1,
    "run_metrics": 1,
    # results/<run>/model.json + model.npz: what `eval_logreg.py --score` applies (no pickle)
    "baseline_model": 1,
    # results/<fusion>/fusion.json: a fusion's weights, bias, target prior and input runs (fuse_runs.py)
    "fusion_model": 1,
    # <--out>/table_manifest.json: where each cell of make_table.py's tables came from
    "table_manifest": 1,
}
# Kinds whose files from before versions existed have the layout of version 1 and are read as such.
UNVERSIONED_IS_1 = frozenset({"split_info", "spectral", "run_config", "run_metrics"})


class FormatVersionError(PipelineError, ValueError):
    """An artefact of a format this code does not read; the message says what to run."""


def stamp(kind: str, payload: dict) -> dict:
    """`payload` with its kind and this code's version of that kind."""
    return {**payload, FORMAT_KEY: kind, VERSION_KEY: FORMATS[kind]}


def version_problem(kind: str, payload: dict) -> str | None:
    """Why this code cannot read `payload` as a `kind` artefact, or None when it can."""
    known = FORMATS[kind]
    version = payload.get(VERSION_KEY)
    recorded_kind = payload.get(FORMAT_KEY, kind)
    if recorded_kind != kind:
        return f"is a {recorded_kind!r} file, not a {kind!r} one"
    if version is None:
        if kind in UNVERSIONED_IS_1 and known == 1:
            return None
        return f"has no format version (written before format {known} of {kind})"
    if not isinstance(version, int) or isinstance(version, bool):
        return f"has an unreadable format version {version!r}"
    if version > known:
        return (
            f"is format {version} of {kind}, written by a newer version of the pipeline "
            f"(this code reads format {known}): update the code, or"
        )
    if version != known:
        return f"is format {version} of {kind} (this code reads format {known})"
    return None


def check(kind: str, payload: dict, where, fix: str) -> None:
    """Refuse `payload` (read from `where`) unless it is this code's format of `kind`; `fix` is
    the command that writes it again."""
    problem = version_problem(kind, payload)
    if problem:
        joiner = " " if problem.endswith(", or") else ": "
        raise FormatVersionError(f"{where} {problem}{joiner}run `{fix}` to write it again")
