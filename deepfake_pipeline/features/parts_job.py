"""The one shape of step 2's jobs: an output of one split computed in parts that can resume.

Work is cut into parts that follow the waveform store's shards. Each finished part is written
whole and renamed into place, so a killed run loses at most the part in progress; the rerun skips
finished parts and the final file is the parts joined in manifest order: identical to an
uninterrupted run. `--shard K/N` gives job K a contiguous block of the parts; the job that finds
every part present (or `--merge-only`) joins them and refuses a set with missing or mismatched
parts. Spectral statistics and embeddings (features/jobs.py) differ only in what a part holds
and how the parts are joined; PartsJob is everything else.
"""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.faults import CrashSwitch
from deepfake_pipeline.common.progress import Progress, note
from deepfake_pipeline.features.cluster_job import ClusterJob
from deepfake_pipeline.formats.feature_files import FeatureError
from deepfake_pipeline.formats.wavestore import WaveStore


def store_parts(store: WaveStore) -> list:
    """Row positions of the manifest grouped by store shard, in manifest order."""
    shards = store.manifest["shard"].to_numpy()
    return [np.flatnonzero(shards == s) for s in sorted(set(shards.tolist()))]


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


def _describe_missing(missing: list, n_parts: int, shard: ClusterJob) -> str:
    if shard.count == 1:
        return f"parts {missing[:10]} are missing"
    jobs = sorted(
        {k for k in range(1, shard.count + 1) if set(ClusterJob(k, shard.count).parts_of(n_parts)) & set(missing)}
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


@dataclass
class PartsJob:
    """One step-2 output (`what`: 'spectral' or a model's tag) of one split: its final file, the
    metadata beside it and the folder of parts (`part_00000<suffix>`, ...) it is joined from."""

    store: WaveStore
    what: str
    final: Path
    meta_path: Path
    parts_dir: Path
    suffix: str
    shard: ClusterJob
    merge_only: bool
    stream: object = None
    progress: Progress | None = None

    def note(self, text: str, label: str | None = None) -> None:
        note(f"[{label or self.label()}] {text}", stream=self.stream)

    def label(self) -> str:
        return f"features {self.store.split_id} {self.what}"

    def clear(self) -> None:
        """--overwrite: the final file, its metadata and any parts go."""
        self.final.unlink(missing_ok=True)
        self.meta_path.unlink(missing_ok=True)
        shutil.rmtree(self.parts_dir, ignore_errors=True)

    def drop(self, problem: str) -> None:
        """Say in one line why the finished output is stale, and delete it with its metadata
        and leftover parts, so that it is recomputed."""
        self.note(f"stale: {self.final} {problem}; recomputing it")
        self.clear()

    def part_path(self, part: int) -> Path:
        return self.parts_dir / f"part_{part:05d}{self.suffix}"

    def start(self, parts: list, config: dict, label: str | None = None) -> list:
        """Record the settings the parts are made with (a folder of parts made with others is
        refused), and return this job's parts still to compute; progress counts this job's share,
        with the parts already on disk as done."""
        _write_config(self.parts_dir, config)
        share = self.shard.parts_of(len(parts))
        mine = [] if self.merge_only else [p for p in share if not self.part_path(p).is_file()]
        total = sum(len(parts[p]) for p in share)
        label = label or self.label()
        self.progress = Progress(
            label, total, stream=self.stream, already_done=total - sum(len(parts[p]) for p in mine)
        )
        if self.progress.done and mine:
            self.note(f"resuming: {self.progress.done:,} clips already done", label)
        return mine

    def part_written(self, rows: np.ndarray) -> None:
        """After each part is on disk: the test suite's crash point, then progress."""
        CrashSwitch.event()
        assert self.progress is not None, "part_written() before start()"
        self.progress.update(len(rows), float(self.store.manifest["duration_s"].iloc[rows].sum()))

    def ready_to_join(self, n_parts: int) -> bool:
        return _all_parts_present(
            self.parts_dir, n_parts, self.suffix, self.what, self.store, self.shard, self.merge_only, self.stream
        )

    def remove_parts(self) -> None:
        with atomic.writing(self.parts_dir):
            shutil.rmtree(self.parts_dir)
