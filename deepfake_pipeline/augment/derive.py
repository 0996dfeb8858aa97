"""Derived splits: augmented or degraded copies of an ingested split, made by step 1 from that
split's waveform store (`preprocess_datasets.py --augment SPLIT --recipe NAME`).

A derived split is a split like any other (manifest, rejects.csv, waves/, info.json under
data/interim/<source>+<recipe>/), so steps 2-4 read it unchanged. Each row keeps its source's
label, attack and speaker, and records where it came from (`source_split`, `source_utt_id`,
`origin_audio_sha1`: the audio of the clip it was ultimately made from, which the held-out check
compares), the recipe and the JSON of the parameters drawn for it. The draw is seeded per clip
(recipes.seeded_rng), so the output does not depend on sharding, workers or resumes.

The engine is step 1's (ingest/shards.py): the derived clips are cut into the same shards, each
committed as samples then rows, so a killed run resumes and the joined manifest is byte-identical
to an uninterrupted run's. `--shard K/N` gives cluster job K a contiguous block of the store shards; the job
that finds every shard done joins them. A clip whose recipe fails (AugmentError), returns no
finite audio, or returns its input unchanged is a named reject, never a silent copy."""

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from deepfake_pipeline import __version__
from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.errors import InputError
from deepfake_pipeline.common.faults import CrashSwitch
from deepfake_pipeline.common.orphans import exit_if_orphaned
from deepfake_pipeline.common.progress import Progress, note
from deepfake_pipeline.features.cluster_job import ClusterJob
from deepfake_pipeline.formats.manifest import MANIFEST_COLUMNS, SOURCE_COLUMNS, manifest_sha256
from deepfake_pipeline.formats.wavestore import SAMPLE_RATE, STORE_DTYPE, WaveStore, read_info, write_shard
from deepfake_pipeline.ingest.shards import (
    PLAN_VERSION,
    SplitSummary,
    check_plan,
    finalise_split,
    part_path,
    shard_size_for,
)

# The columns every derived row adds to the manifest, after the source's own extra columns.
DERIVED_COLUMNS = ["source_split", "source_utt_id", "origin_audio_sha1", "recipe", "copy_index", "augment_params"]
# Why a derived clip was not made (rejects.csv `reason`; the recipe's message in `detail`).
AUGMENT_REJECT_REASONS = {
    "augment_failed": "the recipe raised AugmentError for this clip (e.g. a codec could not encode it)",
    "augment_empty": "the recipe returned no samples, or samples that are not finite",
    "augment_unchanged": "the recipe returned the source audio unchanged: it would be a copy, not an augmentation",
}


class DeriveError(InputError):
    """The derived split cannot be made as asked; the message says what to do."""


@dataclass(frozen=True)
class DeriveRequest:
    """What to make: `copies` copies of every clip of `source_split` through `recipe_spec`."""

    source_split: str
    recipe_spec: str
    copies: int = 1
    seed: int = 0


def derived_split_id(source_split: str, recipe_name: str) -> str:
    return f"{source_split}+{recipe_name}"


def derived_utt_id(source_utt_id: str, recipe_name: str, copy_index: int) -> str:
    """The first copy is `<utt>+<recipe>`, later ones `<utt>+<recipe>.<k>`: asking for more
    copies keeps the ids (and draws) of those made before."""
    return f"{source_utt_id}+{recipe_name}" + (f".{copy_index}" if copy_index else "")


def _origin_sha1(row) -> str:
    """A derived clip of a derived clip goes back to the same original."""
    origin = row.get("origin_audio_sha1", "")
    return origin if origin else row["audio_sha1"]


def _reject(row: dict, reason: str, detail: str) -> dict:
    assert reason in AUGMENT_REJECT_REASONS, reason
    return {**row, "status": "rejected", "reason": reason, "detail": detail}


def _derive_one(source: WaveStore, position: int, recipe, request: DeriveRequest, copy_index: int, split: str):
    """(row, samples or None) of one derived clip."""
    from deepfake_pipeline.augment.recipes import AugmentError, seeded_rng

    src = source.manifest.iloc[position]
    extra = {c: src[c] for c in source.manifest.columns if c not in MANIFEST_COLUMNS + DERIVED_COLUMNS}
    if extra.get("duplicate_of"):  # FakeAVCeleb's copies point at the same copy of their original
        extra["duplicate_of"] = derived_utt_id(extra["duplicate_of"], recipe.name, copy_index)
    row = {
        "utt_id": derived_utt_id(src["utt_id"], recipe.name, copy_index),
        "corpus": src["corpus"],
        "split": split,
        "label": int(src["label"]),
        "attack": src["attack"],
        "speaker": src["speaker"],  # a copy is its source's speaker's, for folds, CIs and overlaps
        "source_path": src["source_path"],
        **extra,
        "source_split": source.split_id,
        "source_utt_id": src["utt_id"],
        "origin_audio_sha1": _origin_sha1(src),
        "recipe": recipe.name,
        "copy_index": copy_index,
    }
    wave = source.waveform(position)
    rng = seeded_rng(recipe.name, src["utt_id"], copy_index, request.seed)
    try:
        out, params = recipe.apply(wave.copy(), SAMPLE_RATE, rng)
    except AugmentError as error:
        return _reject({**row, "augment_params": ""}, "augment_failed", f"{recipe.name}: {error}"), None
    row["augment_params"] = json.dumps(params, sort_keys=True, separators=(",", ":"))
    out = np.asarray(out)
    if out.ndim != 1 or not len(out) or not np.all(np.isfinite(out)):
        shape = "x".join(map(str, out.shape))
        return _reject(row, "augment_empty", f"{recipe.name} returned samples of shape {shape}, finite or not"), None
    out = out.astype(STORE_DTYPE, copy=False)
    if len(out) == len(wave) and np.array_equal(out, wave):
        return _reject(row, "augment_unchanged", f"{recipe.name} returned its input unchanged"), None
    row.update(
        status="ok",
        reason="",
        detail="",
        duration_s=round(len(out) / SAMPLE_RATE, 4),
        orig_sr=SAMPLE_RATE,
        num_samples=len(out),
        audio_sha1=hashlib.sha1(out.tobytes()).hexdigest(),
    )
    return row, out


def _derive_shard(shard, clips, source, recipe, request, split, split_dir, in_process, parent_pid):
    """One shard of derived clips, committed as ingest/shards commits one: samples, then rows."""
    crash_event = CrashSwitch.event if in_process else (lambda: None)
    rows, arrays, offset, audio_s = [], [], 0, 0.0
    for position, copy_index in clips:
        exit_if_orphaned(parent_pid)
        row, samples = _derive_one(source, position, recipe, request, copy_index, split)
        if samples is not None:
            row.update(shard=shard, offset=offset)
            arrays.append(samples)
            offset += len(samples)
            audio_s += row["duration_s"]
        rows.append(row)
    exit_if_orphaned(parent_pid)
    write_shard(split_dir, shard, np.concatenate(arrays) if arrays else np.zeros(0, STORE_DTYPE), crash_event)
    crash_event()
    table = pd.DataFrame(rows)
    for column in ("orig_sr", "num_samples", "shard", "offset"):
        table[column] = pd.array(table[column] if column in table else [None] * len(table), dtype="Int64")
    for column in MANIFEST_COLUMNS + SOURCE_COLUMNS:
        if column not in table:
            table[column] = ""
    atomic.write_csv(table, part_path(split_dir, shard), on_written=crash_event)
    crash_event()
    return len(clips), len(arrays), audio_s


def _prepare(split_dir: Path, plan: dict, overwrite: bool, shards: list) -> None:
    """Like ingest/shards' preparation, but a --shard job removes only its own shards' leftover
    temporaries: the other jobs may be writing theirs."""
    if overwrite and split_dir.exists():
        with atomic.writing(split_dir):
            shutil.rmtree(split_dir)
    check_plan(split_dir, plan)
    for sub in ("waves", "parts"):
        atomic.make_dirs(split_dir / sub)
    for shard in shards:
        for stale in [*(split_dir / "waves").glob(f"shard_{shard:05d}.*{atomic.TMP_MARK}*")] + [
            *(split_dir / "parts").glob(f"shard_{shard:05d}.*{atomic.TMP_MARK}*")
        ]:
            with atomic.writing(stale):
                stale.unlink(missing_ok=True)
    if not (split_dir / "plan.json").is_file():
        atomic.write_text(split_dir / "plan.json", json.dumps(plan, indent=1, sort_keys=True))


def _source_store(interim_dir: Path, source_split: str) -> WaveStore:
    folder = interim_dir / source_split
    if not (folder / "info.json").is_file():
        known = sorted(p.parent.name for p in interim_dir.glob("*/info.json")) if interim_dir.is_dir() else []
        raise DeriveError(
            f"--augment {source_split}: no finished split at {folder}. Splits under {interim_dir}: "
            f"{', '.join(known) or 'none'}; ingest it first (preprocess_datasets.py --corpus ...)"
        )
    return WaveStore(folder)


def _base_info(source: WaveStore, recipe, request: DeriveRequest, split_id: str) -> dict:
    origin = source.info.get("derived_from", {}).get("origin_split", source.split_id)
    condition = split_id[len(origin) + 1 :]  # e.g. "rawboost5", or "rawboost5+mp3-32k" for a chain
    keep = ("corpus", "demo", "source_root", "min_duration_s", "max_duration_s", "crop", "asv_scores")
    return {
        **{k: source.info[k] for k in keep if k in source.info},
        "split": split_id[len(source.info["corpus"]) + 1 :],
        "split_id": split_id,
        "sample_rate": SAMPLE_RATE,
        "store_dtype": STORE_DTYPE,
        "code_version": __version__,
        # The organisers' ASV scores (asv_scores, kept above) are those of the source's trials:
        # the t-DCF of a degraded copy assumes the ASV system heard the clean audio.
        "derived_from": {
            "source_split": source.split_id,
            "source_manifest_sha256": manifest_sha256(source.split_dir),
            "origin_split": origin,
            "condition": condition,
            "recipe": recipe.name,
            "recipe_spec": request.recipe_spec,
            "recipe_description": recipe.description,
            "copies": request.copies,
            "seed": request.seed,
        },
    }


def derive_split(
    request: DeriveRequest,
    recipe,
    interim_dir,
    *,
    jobs: int = -1,
    cluster_job: ClusterJob | None = None,
    overwrite: bool = False,
    stream=None,
) -> SplitSummary | None:
    """Make (or resume, or find finished) the derived split; `recipe` is recipes.Recipe. Returns
    its summary, or None when this --shard job finished its block while others are still due."""
    interim_dir, job = Path(interim_dir), cluster_job or ClusterJob()
    if request.copies < 1:
        raise DeriveError(f"--copies must be at least 1 (got {request.copies})")
    source = _source_store(interim_dir, request.source_split)
    split_id = derived_split_id(source.split_id, recipe.name)
    split_dir = interim_dir / split_id
    if overwrite and job.count > 1:
        raise DeriveError(
            f"--overwrite with --shard {job.index}/{job.count} would delete the other jobs' work: remove "
            f"{split_dir} once before starting the jobs, then run them without --overwrite"
        )
    clips = [(position, k) for position in range(len(source)) for k in range(request.copies)]
    shard_size = shard_size_for(len(clips))
    n_shards = -(-len(clips) // shard_size)
    plan = {
        "plan_version": PLAN_VERSION,
        "derived_from": source.split_id,
        "source_manifest_sha256": manifest_sha256(source.split_dir),
        "recipe": recipe.name,
        "recipe_spec": request.recipe_spec,
        "copies": request.copies,
        "seed": request.seed,
        "num_clips": len(clips),
        "shard_size": shard_size,
    }
    mine = job.parts_of(n_shards)
    _prepare(split_dir, plan, overwrite, mine)
    base_info = _base_info(source, recipe, request, split_id)
    finished = read_info(split_dir)
    if finished:
        return SplitSummary(split_id, split_dir, finished)

    pending = [s for s in mine if not part_path(split_dir, s).is_file()]
    todo = sum(len(clips[s * shard_size : (s + 1) * shard_size]) for s in mine)
    already = todo - sum(len(clips[s * shard_size : (s + 1) * shard_size]) for s in pending)
    progress = Progress(f"preprocess {split_id}", todo, already_done=already, stream=stream)
    if already:
        note(f"[preprocess {split_id}] resuming: {already:,} clips already done", stream=progress.stream)
    tasks = (
        _shard_task(
            s, clips[s * shard_size : (s + 1) * shard_size], source, recipe, request, base_info, split_dir, jobs
        )
        for s in pending
    )
    rejected = 0
    for n_clips, accepted, audio_s in Parallel(n_jobs=jobs, return_as="generator_unordered")(tasks):
        rejected += n_clips - accepted
        progress.update(n_clips, audio_s, extra=f"rejected {rejected}")
        if jobs != 1:
            CrashSwitch.event()
    missing = [s for s in range(n_shards) if not part_path(split_dir, s).is_file()]
    if missing:
        note(
            f"[preprocess {split_id}] --shard {job.index}/{job.count} done; {len(missing)} of {n_shards} "
            "shards are still due from the other jobs: the last one to finish joins them (or rerun any job)",
            stream=progress.stream,
        )
        return None
    return SplitSummary(split_id, split_dir, finalise_split(split_dir, n_shards, base_info))


def _shard_task(shard, block, source, recipe, request, base_info, split_dir, jobs):
    """One shard's work; its worker gets a store of only the source rows it reads (small to
    send), the clips' positions renumbered to match."""
    positions = sorted({p for p, _ in block})
    renumber = {p: i for i, p in enumerate(positions)}
    return delayed(_derive_shard)(
        shard,
        [(renumber[p], k) for p, k in block],
        source.rows(positions),
        recipe,
        request,
        base_info["split"],
        split_dir,
        jobs == 1,
        os.getpid(),
    )
