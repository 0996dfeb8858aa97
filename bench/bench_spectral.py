"""Speed of the spectral features of step 2: the one-STFT path (``spectral_features``) against the
three plain librosa calls (``spectral_features_reference``), on the same clips, one after the
other in one process, on one core.

    .venv/bin/python bench/bench_spectral.py [--clips 200] [--repeats 3] [--seed 0]

Clips: generated 16 kHz voiced-like audio with ASVspoof-like durations (lognormal around 3.3 s,
clipped to 1-13 s), and the real clips of ../shared/data/real when that folder exists beside the
repository. On each clip the two paths run back to back, ``--repeats`` times, and each clip
counts its quickest timing per path (see ``interleaved_seconds``).
"""

import os

# One core, set before numpy loads its BLAS so the mel projection does not spread over threads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from synthetic_clips import generated_clips as _generated_clips  # noqa: E402

from deepfake_pipeline.features.spectral import spectral_features, spectral_features_reference  # noqa: E402

SR = 16000
REAL_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "real"


def generated_clips(n_clips: int, seed: int) -> list:
    return _generated_clips(n_clips, seed)


def real_clips() -> list[np.ndarray]:
    import pandas as pd
    import soundfile
    import soxr

    manifest = pd.read_csv(REAL_DATA_DIR / "MANIFEST.csv")
    clips = []
    for relpath in manifest["relpath"]:
        audio, sr = soundfile.read(REAL_DATA_DIR / relpath, dtype="float32", always_2d=True)
        mono = audio.mean(axis=1)
        clips.append(np.ascontiguousarray(soxr.resample(mono, sr, SR), dtype=np.float32))
    return clips


def interleaved_seconds(clips, repeats: int) -> tuple[float, float]:
    """Total seconds of (reference, fast) over the clips. The two paths run back to back on each
    clip, so load from other processes falls on both alike; each clip keeps its quickest of
    ``repeats`` timings, since outside load only ever slows a call down."""
    reference_s = np.full((repeats, len(clips)), np.inf)
    fast_s = np.full((repeats, len(clips)), np.inf)
    for repeat in range(repeats):
        for i, clip in enumerate(clips):
            start = time.perf_counter()
            spectral_features_reference(clip)
            middle = time.perf_counter()
            spectral_features(clip)
            reference_s[repeat, i], fast_s[repeat, i] = middle - start, time.perf_counter() - middle
    return float(reference_s.min(axis=0).sum()), float(fast_s.min(axis=0).sum())


def compare(name: str, clips: list[np.ndarray], repeats: int) -> None:
    audio_s = sum(c.size for c in clips) / SR
    # Values first (which also warms the caches), so a fast path that drifted from librosa
    # cannot report a speed.
    # Relative to each feature's scale (mfcc_0 is hundreds, higher MFCCs can sit near 0).
    # The reference entropy is NaN where a frame is all zero (documented in spectral.py); such
    # values are counted and left out of the comparison.
    worst, reference_nans = 0.0, 0
    for clip in clips:
        fast, ref = spectral_features(clip), spectral_features_reference(clip)
        if not np.isfinite(fast).all():
            raise SystemExit(f"{name}: the fast path gave a non-finite value: {fast}")
        scale = np.maximum(np.abs(ref), np.r_[1.0, 1.0, np.full(13, np.abs(ref[2:]).max())])
        comparable = np.isfinite(ref)
        reference_nans += int((~comparable).sum())
        worst = max(worst, float(np.max(np.abs(fast - ref)[comparable] / scale[comparable])))
    reference_s, fast_s = interleaved_seconds(clips, repeats)
    print(
        f"{name}: {len(clips)} clips, {audio_s:.0f} s of audio, worst scaled difference {worst:.1e}"
        f" ({reference_nans} NaN values from the reference left out)"
    )
    print(
        f"  reference (3 librosa calls): {len(clips) / reference_s:7.1f} clips/s {audio_s / reference_s:8.0f} audio-s/s"
    )
    print(f"  fast (one STFT)            : {len(clips) / fast_s:7.1f} clips/s {audio_s / fast_s:8.0f} audio-s/s")
    print(f"  speed-up fast/reference    : {reference_s / fast_s:.2f}x")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200, help="number of generated clips")
    parser.add_argument("--repeats", type=int, default=3, help="timings per clip and path; the quickest counts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.clips < 1 or args.repeats < 1:
        parser.error("--clips and --repeats must be at least 1")

    # Other processes slow both paths; the load says how far to trust the absolute rates.
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; timing on 1 core")
    with threadpool_limits(limits=1):
        clips = generated_clips(args.clips, args.seed)
        compare("generated clips (synthetic audio, not speech)", clips, args.repeats)
        if (REAL_DATA_DIR / "MANIFEST.csv").is_file():
            compare(f"real clips from {REAL_DATA_DIR.name}/", real_clips(), args.repeats)
        else:
            print(f"real clips: skipped, {REAL_DATA_DIR} is absent")


if __name__ == "__main__":
    main()
