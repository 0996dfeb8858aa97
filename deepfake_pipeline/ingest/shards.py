"""Step 1's engine: decode the clips of one corpus split into the waveform store, in parallel,
resumably.

The clip list is cut into shards of consecutive clips whose boundaries depend only on the list,
so every run of the same command produces the same shards. Each shard is decoded by one worker
and committed in two renames: first its samples (`waves/shard_N.npy`), then its rows
(`parts/shard_N.csv`), which marks it done. A run killed at any moment leaves only whole,
committed shards plus temporary files that the next run deletes; the rerun decodes the missing
shards and then writes the manifest from the parts, identical to an uninterrupted run.
"""

import hashlib
import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from deepfake_pipeline import __version__
from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.errors import InputError, PipelineError
from deepfake_pipeline.common.faults import CrashSwitch
from deepfake_pipeline.common.orphans import exit_if_orphaned
from deepfake_pipeline.common.progress import Progress, note
from deepfake_pipeline.formats.labels import BONAFIDE, SPOOF
from deepfake_pipeline.formats.manifest import (
    MANIFEST_COLUMNS,
    REJECT_COLUMNS,
    SOURCE_COLUMNS,
    write_manifest,
    write_rejects,
)
from deepfake_pipeline.formats.paths import split_id as make_split_id
from deepfake_pipeline.formats.wavestore import SAMPLE_RATE, STORE_DTYPE, read_info, write_info, write_shard
from deepfake_pipeline.ingest.decode import (
    DEFAULT_MAX_DURATION_S,
    DEFAULT_MIN_DURATION_S,
    Crop,
    RejectedClip,
    load_clip,
)
from deepfake_pipeline.ingest.sources import changed_message, changed_sources, source_stat

# 2: float32 store (1 wrote int16), each source's size and time in the parts.
PLAN_VERSION = 2


@dataclass(frozen=True)
class ClipSpec:
    utt_id: str
    source_path: str
    label: int
    attack: str = "-"
    speaker: str = "-"
    extra: tuple = ()  # (column, value) pairs kept in the manifest, e.g. FakeAVCeleb's category


@dataclass
class ShardResult:
    shard: int
    clips: int
    accepted: int
    audio_s: float


@dataclass
class SplitSummary:
    split_id: str
    split_dir: Path
    info: dict = field(default_factory=dict)


class PlanMismatch(PipelineError, RuntimeError):
    pass


class EveryClipRejected(ValueError):
    """No clip of a split could be used: its rejects.csv says why, clip by clip."""

    def __init__(self, split_id: str, split_dir: Path, by_reason: dict):
        self.split_id, self.split_dir, self.by_reason = split_id, Path(split_dir), dict(by_reason)
        count = sum(self.by_reason.values())
        reasons = ", ".join(f"{reason} {n}" for reason, n in self.by_reason.items())
        which = (
            f"the only clip of {split_id} was" if count == 1 else f"every one of the {count} clips of {split_id} was"
        )
        super().__init__(f"{which} rejected ({reasons}): see {self.split_dir / 'rejects.csv'}")


def shard_size_for(num_clips: int) -> int:
    """About 64 shards per split (enough to keep many cores busy and to resume finely), with
    each shard between 8 and 512 clips (bounded memory, little per-shard overhead)."""
    return int(min(512, max(8, -(-num_clips // 64))))


def part_path(split_dir: Path, shard: int) -> Path:
    return split_dir / "parts" / f"shard_{shard:05d}.csv"


def _ingest_shard(
    shard: int,
    clips: list,
    split_dir: Path,
    corpus: str,
    split: str,
    min_duration_s: float,
    in_process: bool,
    parent_pid: int | None = None,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
    crop: Crop | None = None,
) -> ShardResult:
    # Injected crashes fire only in-process: a killed pool worker is not what a user's kill does.
    crash_event = CrashSwitch.event if in_process else (lambda: None)
    rows, arrays, offset, audio_s = [], [], 0, 0.0
    for clip_spec in clips:
        if parent_pid is not None:
            exit_if_orphaned(parent_pid)  # a killed run's workers stop writing at once
        row = {
            "utt_id": clip_spec.utt_id,
            "corpus": corpus,
            "split": split,
            "label": clip_spec.label,
            "attack": clip_spec.attack,
            "speaker": clip_spec.speaker,
            "source_path": clip_spec.source_path,
        }
        row.update(dict(clip_spec.extra))
        row.update(source_stat(clip_spec.source_path))  # before decoding: a later change shows
        try:
            clip = load_clip(clip_spec.source_path, min_duration_s, max_duration_s, crop)
        except RejectedClip as rejected:
            row.update(status="rejected", reason=rejected.reason, detail=rejected.detail)
            rows.append(row)
            continue
        row.update(
            status="ok",
            reason="",
            detail="",
            duration_s=round(clip.duration_s, 4),
            orig_sr=clip.orig_sr,
            num_samples=len(clip.samples),
            shard=shard,
            offset=offset,
            audio_sha1=hashlib.sha1(clip.samples.tobytes()).hexdigest(),
        )
        if crop is not None:  # what was cut: the clip's decoded length and where the part kept starts
            assert clip.source_duration_s is not None  # set by a crop
            row.update(source_duration_s=round(clip.source_duration_s, 4), crop_start_s=round(clip.crop_start_s, 4))
        rows.append(row)
        arrays.append(clip.samples)
        offset += len(clip.samples)
        audio_s += clip.duration_s

    if parent_pid is not None:
        exit_if_orphaned(parent_pid)
    samples = np.concatenate(arrays) if arrays else np.zeros(0, STORE_DTYPE)
    write_shard(split_dir, shard, samples, on_written=crash_event)
    crash_event()
    table = pd.DataFrame(rows)
    for column in ("orig_sr", "num_samples", "shard", "offset"):
        # Rejected rows have no value here; nullable ints keep "16000", not "16000.0".
        table[column] = pd.array(table[column] if column in table else [None] * len(table), dtype="Int64")
    atomic.write_csv(table, part_path(split_dir, shard), on_written=crash_event)
    crash_event()
    return ShardResult(shard, len(clips), len(arrays), audio_s)


def _refuse_repeated_ids(clips: list, sid: str) -> None:
    """Every corpus parser names the lines of a repeated clip; this is the last guard, before
    anything is written, for any list of clips."""
    counts = Counter(c.utt_id for c in clips)
    repeated = [utt_id for utt_id, n in counts.items() if n > 1]
    if repeated:
        raise InputError(
            f"{len(repeated)} utt_ids of {sid} are listed more than once (e.g. {repeated[:3]}): "
            "every clip needs its own id; fix the corpus list"
        )


def _refuse_changed_sources(split_dir: Path, shards: list) -> None:
    """Reusing or resuming is only right while every finished clip's source is as it was."""
    if not shards:
        return
    rows = pd.concat([pd.read_csv(part_path(split_dir, s), dtype=str, keep_default_na=False) for s in shards])
    changed = changed_sources(rows)
    if changed:
        raise PlanMismatch(changed_message(split_dir, changed))


def _clips_digest(clips: list) -> str:
    digest = hashlib.sha256()
    for c in clips:
        digest.update(repr((c.utt_id, c.source_path, c.label, c.attack, c.speaker, c.extra)).encode())
    return digest.hexdigest()


def check_plan(split_dir: Path, plan: dict) -> None:
    """Refuse to resume into a split folder that an earlier run filled from other inputs."""
    plan_path = split_dir / "plan.json"
    if plan_path.is_file():
        previous = json.loads(plan_path.read_text())
        if previous != plan:
            changed = sorted(k for k in set(plan) | set(previous) if previous.get(k) != plan.get(k))
            raise PlanMismatch(
                f"{split_dir} holds output of a run with different inputs ({', '.join(changed)} "
                "changed). Pass --overwrite to rebuild it, or --interim-dir for a separate copy."
            )


def _prepare_dir(split_dir: Path, plan: dict, overwrite: bool) -> None:
    plan_path = split_dir / "plan.json"
    if overwrite and split_dir.exists():
        with atomic.writing(split_dir):
            shutil.rmtree(split_dir)
    check_plan(split_dir, plan)
    for sub in ("waves", "parts"):
        atomic.make_dirs(split_dir / sub)
        atomic.remove_stale_temporaries(split_dir / sub)
    if not plan_path.is_file():
        atomic.write_text(plan_path, json.dumps(plan, indent=1, sort_keys=True))


def _give_up(split_dir: Path, rejects: pd.DataFrame) -> None:
    """A split without one usable clip: its rejects.csv and nothing else (no manifest, no
    info.json: nothing later can read it). Its resume state goes too, so the same command reruns
    from the start once the clips are fixed, whether in place or by changing the list."""
    write_rejects(rejects, split_dir)
    with atomic.writing(split_dir):
        for sub in ("parts", "waves"):
            shutil.rmtree(split_dir / sub)
        (split_dir / "plan.json").unlink()
    by_reason = {k: int(v) for k, v in rejects["reason"].value_counts().sort_index().items()}
    raise EveryClipRejected(split_dir.name, split_dir, by_reason)


def finalise_split(split_dir: Path, n_shards: int, base_info: dict) -> dict:
    """Join the committed parts into manifest.csv, rejects.csv and info.json (written last);
    shared with the derived splits of augment/derive.py, whose parts have the same columns."""
    parts = [pd.read_csv(part_path(split_dir, s), dtype=str, keep_default_na=False) for s in range(n_shards)]
    rows = (
        pd.concat(parts, ignore_index=True)
        if parts  # a split may hold no clip at all
        else pd.DataFrame(columns=["status", "reason", "detail", *MANIFEST_COLUMNS, *SOURCE_COLUMNS])
    )
    if len(rows) and not (rows["status"] == "ok").any():
        _give_up(split_dir, rows[REJECT_COLUMNS])
    accepted = rows[rows["status"] == "ok"].drop(columns=["status", "reason", "detail"])
    extra_columns = SOURCE_COLUMNS + [c for c in accepted.columns if c not in MANIFEST_COLUMNS + SOURCE_COLUMNS]
    manifest = accepted[MANIFEST_COLUMNS + extra_columns]
    rejects = rows[rows["status"] == "rejected"][REJECT_COLUMNS]
    write_manifest(manifest, split_dir)
    write_rejects(rejects, split_dir)

    labels = manifest["label"].astype(int)
    durations = manifest["duration_s"].astype(float)
    spoof = manifest[labels == SPOOF]
    info = dict(base_info)
    info.update(
        num_clips=int(len(manifest)),
        num_rejected=int(len(rejects)),
        rejected_by_reason={k: int(v) for k, v in rejects["reason"].value_counts().sort_index().items()},
        hours=round(float(durations.sum()) / 3600, 4),
        num_bonafide=int((labels == BONAFIDE).sum()),
        num_spoof=int((labels == SPOOF).sum()),
        num_unlabelled=int((labels < 0).sum()),
        spoof_per_attack={k: int(v) for k, v in spoof["attack"].value_counts().sort_index().items()},
    )
    write_info(split_dir, info)
    return read_info(split_dir)  # as every later reader sees it, its format stamped


def ingest_split(
    clips: list,
    interim_dir,
    corpus: str,
    split: str,
    *,
    jobs: int = -1,
    min_duration_s: float = DEFAULT_MIN_DURATION_S,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
    demo: bool = False,
    source_root: str = "",
    overwrite: bool = False,
    stream=None,
    info_extra: dict | None = None,
    crop: Crop | None = None,
) -> SplitSummary:
    """Decode `clips` into the split's store; `info_extra` (e.g. where the organisers' ASV scores
    are) is recorded in its info.json. `crop` cuts longer clips to a fixed length (decode.Crop),
    recorded in plan.json (a changed crop is refused like other changed inputs), info.json and
    each row (`source_duration_s`, `crop_start_s`)."""
    sid = make_split_id(corpus, split)
    _refuse_repeated_ids(clips, sid)
    split_dir = Path(interim_dir) / sid
    shard_size = shard_size_for(len(clips))
    n_shards = -(-len(clips) // shard_size)
    plan = {
        "plan_version": PLAN_VERSION,
        "corpus": corpus,
        "split": split,
        "num_clips": len(clips),
        "shard_size": shard_size,
        "clips_sha256": _clips_digest(clips),
        "min_duration_s": min_duration_s,
        "max_duration_s": max_duration_s,
    }
    if crop is not None:  # absent otherwise, so splits made before crops existed resume as they were
        plan["crop"] = crop.as_json()
    _prepare_dir(split_dir, plan, overwrite)
    base_info = {
        "corpus": corpus,
        "split": split,
        "split_id": sid,
        "demo": bool(demo),
        "source_root": str(source_root),
        "sample_rate": SAMPLE_RATE,
        "store_dtype": STORE_DTYPE,
        "code_version": __version__,
        "min_duration_s": min_duration_s,
        "max_duration_s": max_duration_s,
        **(info_extra or {}),
    }
    if crop is not None:
        base_info["crop"] = crop.as_json()

    done = [s for s in range(n_shards) if part_path(split_dir, s).is_file()]
    _refuse_changed_sources(split_dir, done)
    finished = read_info(split_dir)
    if finished:
        return SplitSummary(sid, split_dir, finished)

    pending = [s for s in range(n_shards) if s not in set(done)]
    already = len(clips) - sum(len(clips[s * shard_size : (s + 1) * shard_size]) for s in pending)
    progress = Progress(f"preprocess {sid}", len(clips), already_done=already, stream=stream)
    if already:
        note(f"[preprocess {sid}] resuming: {already:,} clips already done", stream=progress.stream)
    tasks = (
        delayed(_ingest_shard)(
            s,
            clips[s * shard_size : (s + 1) * shard_size],
            split_dir,
            corpus,
            split,
            min_duration_s,
            jobs == 1,
            os.getpid(),
            max_duration_s,
            crop,
        )
        for s in pending
    )
    rejected = 0
    parent_counts_events = jobs != 1
    for result in Parallel(n_jobs=jobs, return_as="generator_unordered")(tasks):
        rejected += result.clips - result.accepted
        progress.update(result.clips, result.audio_s, extra=f"rejected {rejected}")
        if parent_counts_events:
            CrashSwitch.event()
    info = finalise_split(split_dir, n_shards, base_info)
    return SplitSummary(sid, split_dir, info)
