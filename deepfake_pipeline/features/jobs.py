"""Step 2's resumable, shardable jobs over one corpus split.

Work is cut into parts that follow the waveform store's shards. Each finished part is written
whole and renamed into place, so a killed run loses at most the part in progress; the rerun skips
finished parts and the final file is the parts joined in manifest order: identical to an
uninterrupted run. `--shard K/N` gives job K a contiguous block of the parts; the job that finds
every part present (or `--merge-only`) joins them and refuses a set with missing or mismatched
parts.
"""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from deepfake_pipeline import __version__
from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.faults import CrashSwitch
from deepfake_pipeline.common.job_share import ShardSpec
from deepfake_pipeline.common.numba_cache import warm_before_workers
from deepfake_pipeline.common.orphans import exit_if_orphaned
from deepfake_pipeline.common.progress import Progress, note
from deepfake_pipeline.features.spectral import spectral_features, warm_numba_kernels
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


def store_parts(store: WaveStore) -> list:
    """Row positions of the manifest grouped by store shard, in manifest order."""
    shards = store.manifest["shard"].to_numpy()
    return [np.flatnonzero(shards == s) for s in sorted(set(shards.tolist()))]


def _drop_if_stale(store: WaveStore, what: str, final: Path, meta: dict | None, others: tuple, stream) -> bool:
    """A finished output is complete only for the manifest it was computed from. One computed
    from another manifest (step 1 rerun with --overwrite on changed audio), or a spectral.csv
    without metadata (an older run), is stale. True when it was dropped (_drop)."""
    problem = stale_reason(meta, manifest_sha256(store.split_dir))
    if problem is None:
        return False
    _drop(store, what, final, others, problem, stream)
    return True


def _drop(store: WaveStore, what: str, final: Path, others: tuple, problem: str, stream) -> None:
    """Say in one line why a finished output is stale, and delete it with `others` (its
    metadata, leftover parts), so that it is recomputed."""
    note(f"[features {store.split_id} {what}] stale: {final} {problem}; recomputing it", stream=stream)
    final.unlink(missing_ok=True)
    for other in others:
        if other.is_dir():
            shutil.rmtree(other, ignore_errors=True)
        else:
            other.unlink(missing_ok=True)


def _read_json_or_none(path: Path):
    """A JSON file's content, or None when it is cut short or not JSON (it is then recomputed)."""
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def _write_config(folder: Path, config: dict) -> None:
    path = folder / "config.json"
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != config:
            changed = sorted(k for k in set(config) | set(previous) if previous.get(k) != config.get(k))
            raise FeatureError(
                f"{folder} holds parts made with different settings ({', '.join(changed)}): "
                "pass --overwrite to start again"
            )
        return
    atomic.make_dirs(folder)
    atomic.remove_stale_temporaries(folder)
    atomic.write_text(path, json.dumps(config, indent=1, sort_keys=True))


def _missing_parts(folder: Path, n_parts: int, suffix: str) -> list:
    return [p for p in range(n_parts) if not (folder / f"part_{p:05d}{suffix}").is_file()]


def _describe_missing(missing: list, n_parts: int, shard: ShardSpec) -> str:
    if shard.count == 1:
        return f"parts {missing[:10]} are missing"
    jobs = sorted(
        {k for k in range(1, shard.count + 1) if set(ShardSpec(k, shard.count).parts_of(n_parts)) & set(missing)}
    )
    return f"parts {missing[:10]} are missing (jobs {jobs} of {shard.count} have not finished)"


def _all_parts_present(parts_dir, n_parts, suffix, what, store, shard, merge_only, stream) -> bool:
    """True when every part is on disk and the file can be joined. Otherwise --merge-only is
    refused, and a cluster job that finished its own share says so and leaves the join to
    the last job."""
    missing = _missing_parts(parts_dir, n_parts, suffix)
    if missing and merge_only:
        raise FeatureError(
            f"cannot join the {what} parts of {store.split_id}: {_describe_missing(missing, n_parts, shard)}"
        )
    if missing:
        note(
            f"[features {store.split_id} {what}] job {shard.index}/{shard.count} done; "
            f"{_describe_missing(missing, n_parts, shard)}; the last job to finish, or "
            "--merge-only, joins them",
            stream=stream,
        )
    return not missing


# ---------------------------------------------------------------- spectral statistics


def _spectral_part(part: int, rows: WaveStore, parent_pid: int = None) -> tuple:
    """`rows`: the store restricted to this part's clips (WaveStore.rows), the one reader.
    `parent_pid`: the run that started this worker; the worker stops when that run has died."""
    values = []
    for i in range(len(rows)):
        if parent_pid is not None:
            exit_if_orphaned(parent_pid)
        values.append(spectral_features(rows.waveform(i)))
    return part, np.stack(values)


def run_spectral(
    store: WaveStore, processed_dir: Path, shard: ShardSpec, jobs: int, overwrite: bool, merge_only: bool, stream=None
) -> Path | None:
    final = spectral_path(store.split_id, processed_dir)
    parts_dir = final.with_name("spectral.parts")
    meta_path = final.with_suffix(".json")
    if overwrite:
        final.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
        shutil.rmtree(parts_dir, ignore_errors=True)
    if final.is_file() and not _drop_if_stale(
        store, "spectral", final, read_spectral_meta(store.split_id, processed_dir), (meta_path, parts_dir), stream
    ):
        note(f"[features {store.split_id} spectral] already complete: {final}", stream=stream)
        return final
    parts = store_parts(store)
    config = {
        "what": "spectral",
        "manifest_sha256": manifest_sha256(store.split_dir),
        "num_parts": len(parts),
        "code_version": __version__,
    }
    _write_config(parts_dir, config)
    mine = (
        [] if merge_only else [p for p in shard.parts_of(len(parts)) if not (parts_dir / f"part_{p:05d}.csv").is_file()]
    )
    manifest = store.manifest
    total = sum(len(parts[p]) for p in shard.parts_of(len(parts)))
    progress = Progress(
        f"features {store.split_id} spectral",
        total,
        stream=stream,
        already_done=total - sum(len(parts[p]) for p in mine),
    )
    if progress.done and mine:
        note(f"[features {store.split_id} spectral] resuming: {progress.done:,} clips already done", stream=stream)
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
        atomic.write_csv(table, parts_dir / f"part_{p:05d}.csv")
        CrashSwitch.event()
        progress.update(len(rows), float(rows["duration_s"].sum()))
    if not _all_parts_present(parts_dir, len(parts), ".csv", "spectral", store, shard, merge_only, stream):
        return None
    joined = pd.concat(
        [
            pd.read_csv(parts_dir / f"part_{p:05d}.csv", dtype={"file": str}, keep_default_na=False)
            for p in range(len(parts))
        ],
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
    with atomic.writing(parts_dir):
        shutil.rmtree(parts_dir)
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
    shard: ShardSpec,
    overwrite: bool,
    merge_only: bool,
    embed,
    stream=None,
) -> Path | None:
    """`get_model()` gives the loaded model (its identity names the file); `embed(loaded,
    waveforms, layers)` returns float32 (n, layers, dim)."""
    loaded = get_model()
    tag = loaded.tag
    array_path, meta_path = embeddings_paths(store.split_id, tag, processed_dir)
    parts_dir = array_path.with_name(f"{tag}.parts")
    if overwrite:
        array_path.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
        shutil.rmtree(parts_dir, ignore_errors=True)
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
                note(
                    f"[features {store.split_id} {tag}] {array_path} was format 2, (clips, layers, dim): "
                    "rewritten layers-major (format 3), nothing recomputed",
                    stream=stream,
                )
        if problem is None:
            note(f"[features {store.split_id} {tag}] already complete: {array_path}", stream=stream)
            return array_path
        _drop(store, tag, array_path, (meta_path, parts_dir), problem, stream)
    _write_config(parts_dir, config)
    mine = (
        [] if merge_only else [p for p in shard.parts_of(len(parts)) if not (parts_dir / f"part_{p:05d}.npy").is_file()]
    )
    manifest = store.manifest
    total = sum(len(parts[p]) for p in shard.parts_of(len(parts)))
    label = f"features {store.split_id} {tag}" + (" (untrained model)" if loaded.untrained else "")
    progress = Progress(label, total, stream=stream, already_done=total - sum(len(parts[p]) for p in mine))
    if progress.done and mine:
        note(f"[{label}] resuming: {progress.done:,} clips already done", stream=stream)
    for p in mine:
        rows = parts[p]
        vectors = embed(loaded, [store.waveform(int(i)) for i in rows], layers)
        if not np.isfinite(vectors).all():
            raise FeatureError(f"non-finite embeddings in part {p} of {store.split_id}: refusing to write")
        atomic.save_npy(parts_dir / f"part_{p:05d}.npy", vectors.astype(dtype), on_written=CrashSwitch.event)
        CrashSwitch.event()
        progress.update(len(rows), float(manifest["duration_s"].iloc[rows].sum()))
    if not _all_parts_present(parts_dir, len(parts), ".npy", tag, store, shard, merge_only, stream):
        return None
    return merge_embedding_parts(store, parts_dir, parts, array_path, meta_path, config)


def merge_embedding_parts(store, parts_dir, parts, array_path, meta_path, config) -> Path:
    """Join the parts into the split's array, one part in memory at a time."""
    paths = []
    for p, rows in enumerate(parts):
        path = parts_dir / f"part_{p:05d}.npy"
        part = np.load(path, mmap_mode="r")  # its shape and dtype: nothing read yet
        expected = (len(rows), len(config["layers"]), config["dim"])
        if part.shape != expected or part.dtype != np.dtype(config["dtype"]):
            raise FeatureError(
                f"part {p} of {parts_dir} has shape {part.shape} {part.dtype}, expected "
                f"{expected} {config['dtype']}: pass --overwrite to recompute"
            )
        paths.append(path)
    meta = {key: value for key, value in config.items() if key != "num_parts"}
    meta.update(num_clips=sum(len(rows) for rows in parts), split_id=store.split_id, demo=bool(store.info.get("demo")))
    write_embeddings(array_path, meta_path, (np.load(path) for path in paths), meta)
    with atomic.writing(parts_dir):
        shutil.rmtree(parts_dir)
    return array_path
