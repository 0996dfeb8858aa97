"""Step 1 speed: clips per second at 1 job and at all cores, beside the bare decode speed
(soundfile reading each file and nothing else), the floor this step cannot beat.

    .venv/bin/python bench/bench_preprocess.py [--clips 1000] [--jobs-max N]

Runs on generated 16 kHz PCM16 FLAC with ASVspoof-like durations (lognormal around 3.3 s,
clipped to 1-13 s) and, when present, on the real clips in ../shared/data/real/.
"""

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from joblib import Parallel, delayed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from deepfake_pipeline.formats.paths import REPO_ROOT  # noqa: E402
from deepfake_pipeline.ingest.corpora.user_audio import csv_clips  # noqa: E402
from deepfake_pipeline.ingest.shards import ingest_split  # noqa: E402

REAL_DIR = REPO_ROOT.parent / "shared" / "data" / "real"
LA_DEV_CLIPS = 24844


def asvspoof_like_durations(n, rng):
    return np.clip(rng.lognormal(mean=np.log(3.0), sigma=0.45, size=n), 1.0, 13.0)


def write_generated(folder: Path, n: int, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for i, seconds in enumerate(asvspoof_like_durations(n, rng)):
        t = np.arange(int(seconds * 16000)) / 16000
        f0 = rng.uniform(90, 220) * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))
        phase = 2 * np.pi * np.cumsum(f0) / 16000
        wave = sum(np.sin(k * phase) / k for k in range(1, 10)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2.5 * t) ** 2)
        wave = 0.25 * wave / np.abs(wave).max() + 0.005 * rng.standard_normal(len(t))
        path = folder / f"clip_{i:05d}.flac"
        sf.write(path, wave, 16000, subtype="PCM_16")
        rows.append((path.name, "bonafide" if i % 10 == 0 else "spoof"))
    listing = folder / "clips.csv"
    with open(listing, "w", newline="") as handle:
        csv.writer(handle).writerows([("path", "label"), *rows])
    return listing


def _decode_all(paths) -> int:
    for path in paths:
        sf.read(path, dtype="float32")
    return len(paths)


def bare_decode(paths) -> float:
    start = time.perf_counter()
    _decode_all(paths)
    return len(paths) / (time.perf_counter() - start)


def bare_decode_parallel(paths, jobs) -> float:
    """The parallel floor: the same bare decode split over `jobs` processes of the same joblib
    backend step 1 uses, pool start-up included as it is in step 1."""
    chunks = [paths[i :: jobs * 8] for i in range(jobs * 8)]
    start = time.perf_counter()
    Parallel(n_jobs=jobs)(delayed(_decode_all)(chunk) for chunk in chunks)
    return len(paths) / (time.perf_counter() - start)


def ingest_rate(clips, jobs, work: Path) -> float:
    start = time.perf_counter()
    ingest_split(clips, work / f"jobs{jobs}", "bench", "all", jobs=jobs, stream=open(os.devnull, "w"))
    return len(clips) / (time.perf_counter() - start)


def report(name, clips, jobs_max, work):
    paths = [c.source_path for c in clips]
    bare = bare_decode(paths)
    one = ingest_rate(clips, 1, work / name)
    many = ingest_rate(clips, jobs_max, work / name)
    bare_many = bare_decode_parallel(paths, jobs_max)
    print(f"{name}: {len(clips)} clips")
    print(f"  bare soundfile decode, 1 core : {bare:8.1f} clips/s")
    print(f"  step 1, 1 job                 : {one:8.1f} clips/s  ({bare / one:.2f}x slower than bare decode)")
    print(
        f"  step 1, {jobs_max} jobs                : {many:8.1f} clips/s  (scaling {many / one:.2f}x "
        f"on {jobs_max} jobs, {many / one / jobs_max:.0%} of linear)"
    )
    print(
        f"  bare decode, {jobs_max} processes     : {bare_many:8.1f} clips/s  (scaling {bare_many / bare:.2f}x: "
        f"what this machine gives the floor itself)"
    )
    print(
        f"  projected ASVspoof 2019 LA dev ({LA_DEV_CLIPS:,} clips): {LA_DEV_CLIPS / one:.0f} s on 1 job, "
        f"{LA_DEV_CLIPS / many:.0f} s on {jobs_max} jobs"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--jobs-max", type=int, default=os.cpu_count())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "gen").mkdir()
        listing = write_generated(work / "gen", args.clips)
        report("generated 16 kHz FLAC", csv_clips(listing)["all"], args.jobs_max, work)
        if (REAL_DIR / "MANIFEST.csv").is_file():
            with open(work / "real.csv", "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["path", "label"])
                for row in csv.DictReader(open(REAL_DIR / "MANIFEST.csv")):
                    writer.writerow([REAL_DIR / row["relpath"], row["label"]])
            report("real clips (mixed rates and formats)", csv_clips(work / "real.csv")["all"], args.jobs_max, work)
        else:
            print(f"real clips: skipped ({REAL_DIR} not present)")


if __name__ == "__main__":
    main()
