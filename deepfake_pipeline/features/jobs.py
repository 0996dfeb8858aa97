"""Step 2's two jobs over one corpus split: spectral statistics and SSL embeddings.

Both are PartsJobs (features/parts_job.py: resumable parts that follow the store's shards,
`--shard K/N`, a join when every part is present); this module says what a part holds, when a
finished file is reused and how the parts are joined.
"""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from deepfake_pipeline import __version__
from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.faults import CrashSwitch
from deepfake_pipeline.common.numba_cache import warm_before_workers
from deepfake_pipeline.common.orphans import exit_if_orphaned
from deepfake_pipeline.features import precision_drift
from deepfake_pipeline.features.parts_job import ClusterJob, PartsJob, store_parts
from deepfake_pipeline.features.prefetch import prefetched
from deepfake_pipeline.features.spectral import spectral_features, warm_numba_kernels
from deepfake_pipeline.features.ssl_padding import default_padding_path
from deepfake_pipeline.formats import versions
from deepfake_pipeline.formats.feature_files import (
    FEATURE_COLUMNS,
    FeatureError,
    embeddings_paths,
    read_spectral_meta,
    spectral_path,
    stale_reason,
    upgrade_embeddings,
    write_embeddings,
    write_spectral,
)
from deepfake_pipeline.formats.manifest import manifest_sha256
from deepfake_pipeline.formats.model_identity import ModelIdentity, difference
from deepfake_pipeline.formats.provenance import software
from deepfake_pipeline.formats.wavestore import SAMPLE_RATE, WaveStore


def _read_json_or_none(path: Path):
    """A JSON file's content, or None when it is cut short or not JSON (it is then recomputed)."""
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


# ---------------------------------------------------------------- spectral statistics


def _spectral_part(part: int, rows: WaveStore, parent_pid: int | None = None) -> tuple:
    """`rows`: the store restricted to this part's clips (WaveStore.rows), the one reader.
    `parent_pid`: the run that started this worker; the worker stops when that run has died."""
    values = []
    for i in range(len(rows)):
        if parent_pid is not None:
            exit_if_orphaned(parent_pid)
        values.append(spectral_features(rows.waveform(i)))
    return part, np.stack(values)


def run_spectral(
    store: WaveStore, processed_dir: Path, shard: ClusterJob, jobs: int, overwrite: bool, merge_only: bool, stream=None
) -> Path | None:
    final = spectral_path(store.split_id, processed_dir)
    parts_dir = final.with_name("spectral.parts")
    job = PartsJob(store, "spectral", final, final.with_suffix(".json"), parts_dir, ".csv", shard, merge_only, stream)
    if overwrite:
        job.clear()
    if final.is_file():
        problem = stale_reason(read_spectral_meta(store.split_id, processed_dir), manifest_sha256(store.split_dir))
        if problem is None:
            job.note(f"already complete: {final}")
            return final
        job.drop(problem)
    parts = store_parts(store)
    config = {
        "what": "spectral",
        "manifest_sha256": manifest_sha256(store.split_dir),
        "num_parts": len(parts),
        "code_version": __version__,
    }
    mine = job.start(parts, config)
    manifest = store.manifest
    tasks = (delayed(_spectral_part)(p, store.rows(parts[p]), os.getpid()) for p in mine)
    if mine:
        warm_before_workers(warm_numba_kernels)  # workers then only read numba's cache
    for p, values in Parallel(n_jobs=jobs, return_as="generator_unordered")(tasks):
        if not np.isfinite(values).all():
            raise FeatureError(f"non-finite spectral values in part {p} of {store.split_id}: refusing to write")
        rows = manifest.iloc[parts[p]]
        table = pd.DataFrame(values, columns=FEATURE_COLUMNS)
        table.insert(0, "label", rows["label"].to_numpy())
        table.insert(0, "file", rows["utt_id"].to_numpy())
        atomic.write_csv(table, job.part_path(p))
        job.part_written(parts[p])
    if not job.ready_to_join(len(parts)):
        return None
    joined = pd.concat(
        [pd.read_csv(job.part_path(p), dtype={"file": str}, keep_default_na=False) for p in range(len(parts))],
        ignore_index=True,
    )
    if joined["file"].tolist() != manifest["utt_id"].tolist():
        raise FeatureError(
            f"spectral parts of {store.split_id} do not match its manifest: pass --overwrite to recompute"
        )
    write_spectral(
        joined,
        final,
        {
            "kind": "spectral",
            "manifest_sha256": config["manifest_sha256"],
            "code_version": __version__,
            "num_clips": int(len(joined)),
            "split_id": store.split_id,
            "demo": bool(store.info.get("demo")),
        },
    )
    job.remove_parts()
    return final


# ---------------------------------------------------------------- SSL embeddings


def embeddings_config(store: WaveStore, loaded, layers: list, dtype: str, n_parts: int) -> dict:
    """The embeddings' metadata: which model (its identity, formats/model_identity.py), the
    software that computed them, and the model family's facts (ssl_families.family_facts:
    family, CNN and transformer normalisation, positional embedding, what hidden states 0 and
    last are)."""
    return {
        "model": loaded.spec,
        "revision": loaded.revision,
        "untrained": bool(loaded.untrained),
        "model_identity": loaded.identity.as_json(),
        "software": software(),
        "arch": loaded.arch,
        "precision": loaded.precision,
        "dtype": dtype,
        "layers": list(layers),
        "pooling": "mean",
        "padding_path": default_padding_path(loaded.device),  # ssl_padding: how, not what; not compared on reuse
        "sample_rate": SAMPLE_RATE,
        "dim": int(loaded.dim),
        "manifest_sha256": manifest_sha256(store.split_dir),
        "num_parts": n_parts,
        "code_version": __version__,
        **loaded.facts,
    }


# What must be the same for finished embeddings to be reused as they are.
_REUSED_IF_EQUAL = ("layers", "dtype", "precision", "pooling", "sample_rate", "dim")


def embeddings_reuse_problem(meta: dict, expected: dict, current_sha256: str) -> str | None:
    """Why finished embeddings (`meta`) are not what this run would compute (`expected`, from
    embeddings_config), or None: another format, manifest, model or setting is recomputed."""
    problem = stale_reason(meta, current_sha256, "embeddings")
    if problem:
        return problem
    other_model = difference(
        ModelIdentity.from_json(meta.get("model_identity")), ModelIdentity.from_json(expected["model_identity"])
    )
    if other_model:
        return f"was computed by another model than {expected['model']} ({other_model})"
    changed = [key for key in _REUSED_IF_EQUAL if meta.get(key) != expected.get(key)]
    if changed:
        return (
            "was computed with other settings ("
            + ", ".join(f"{key} {meta.get(key)!r}, now {expected.get(key)!r}" for key in changed)
            + ")"
        )
    return None


def run_embeddings(
    store: WaveStore,
    processed_dir: Path,
    get_model,
    layers,
    dtype: str,
    shard: ClusterJob,
    overwrite: bool,
    merge_only: bool,
    embed,
    stream=None,
    drift=None,
) -> Path | None:
    """`get_model()` gives the loaded model (its identity names the file); `embed(loaded,
    waveforms, layers)` returns float32 (n, layers, dim); `drift(store, layers)`, for a bfloat16
    run, the precision_drift record of its first clips (measured once per set of parts)."""
    loaded = get_model()
    tag = loaded.tag
    array_path, meta_path = embeddings_paths(store.split_id, tag, processed_dir)
    parts_dir = array_path.with_name(f"{tag}.parts")
    job = PartsJob(store, tag, array_path, meta_path, parts_dir, ".npy", shard, merge_only, stream)
    if overwrite:
        job.clear()
    parts = store_parts(store)
    layers = list(range(loaded.num_layers)) if layers is None else list(layers)
    bad = [layer for layer in layers if not 0 <= layer < loaded.num_layers]
    if bad:
        raise FeatureError(f"--layers {bad} out of range: {loaded.spec} has layers 0..{loaded.num_layers - 1}")
    config = embeddings_config(store, loaded, layers, dtype, len(parts))
    if array_path.is_file() and meta_path.is_file():
        recorded = _read_json_or_none(meta_path) or {}
        problem = embeddings_reuse_problem(recorded, config, config["manifest_sha256"])
        if (
            problem
            and recorded.get(versions.VERSION_KEY) == 2
            and not embeddings_reuse_problem(versions.stamp("embeddings", recorded), config, config["manifest_sha256"])
        ):
            # Format 2 differs only in the array's layout: rewritten in place, not recomputed.
            problem = upgrade_embeddings(array_path, meta_path, recorded)
            if problem is None:
                job.note(
                    f"{array_path} was format 2, (clips, layers, dim): rewritten layers-major (format 3), "
                    "nothing recomputed"
                )
        if problem is None:
            job.note(f"already complete: {array_path}")
            return array_path
        job.drop(problem)
    _refuse_unfinished_other_precision(store, loaded, processed_dir)
    label = job.label() + (" (untrained model)" if loaded.untrained else "")
    mine = job.start(parts, config, label=label)
    if mine and drift is not None:
        record = precision_drift.read(parts_dir)
        if record is None:
            record = drift(store, layers)
            precision_drift.write(parts_dir, record)
        job.note(precision_drift.describe(record), label)
    with prefetched(mine, lambda p: [store.waveform(int(i)) for i in parts[p]]) as read:
        for p, waveforms in read:  # the next part is read while this one is embedded
            vectors = embed(loaded, waveforms, layers)
            if not np.isfinite(vectors).all():
                raise FeatureError(f"non-finite embeddings in part {p} of {store.split_id}: refusing to write")
            atomic.save_npy(job.part_path(p), vectors.astype(dtype), on_written=CrashSwitch.event)
            job.part_written(parts[p])
    if not job.ready_to_join(len(parts)):
        return None
    return merge_embedding_parts(job, parts, config)


def _refuse_unfinished_other_precision(store: WaveStore, loaded, processed_dir: Path) -> None:
    """A run resumed with the other --precision would start a second set beside the unfinished
    one: almost always a forgotten flag, and the two must never be joined or read as one."""
    from deepfake_pipeline.features.ssl_loading import PRECISIONS

    for precision in PRECISIONS:
        other = loaded.identity.tag(precision)
        folder = embeddings_paths(store.split_id, other, processed_dir)[0].with_name(f"{other}.parts")
        if precision != loaded.precision and (folder / "config.json").is_file():
            raise FeatureError(
                f"{store.split_id} has an unfinished {precision} run of {loaded.spec} in {folder}, and this "
                f"run is {loaded.precision}: resume that one with --precision {precision}, or delete {folder} "
                f"to compute the {loaded.precision} set alone"
            )


def merge_embedding_parts(job: PartsJob, parts: list, config: dict) -> Path:
    """Join the parts into the split's array, one part in memory at a time."""
    paths = []
    for p, rows in enumerate(parts):
        path = job.part_path(p)
        part = np.load(path, mmap_mode="r")  # its shape and dtype: nothing read yet
        expected = (len(rows), len(config["layers"]), config["dim"])
        if part.shape != expected or part.dtype != np.dtype(config["dtype"]):
            raise FeatureError(
                f"part {p} of {job.parts_dir} has shape {part.shape} {part.dtype}, expected "
                f"{expected} {config['dtype']}: pass --overwrite to recompute"
            )
        paths.append(path)
    meta = {key: value for key, value in config.items() if key != "num_parts"}
    if config["precision"] != "float32":
        meta["precision_drift"] = precision_drift.read(job.parts_dir)
    store = job.store
    meta.update(num_clips=sum(len(rows) for rows in parts), split_id=store.split_id, demo=bool(store.info.get("demo")))
    write_embeddings(job.final, job.meta_path, (np.load(path) for path in paths), meta)
    job.remove_parts()
    return job.final
