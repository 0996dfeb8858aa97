"""Speed of the augmentation recipes against bare decoding of the same clips: for each recipe,
clips per second and its cost in bare decodes (how many times longer than `soundfile` reading
the clip's 16-bit FLAC, the floor of any step-1 pass), on one core.

    .venv/bin/python bench/bench_augment.py [--clips 60] [--repeats 2] [--seed 0] [--only rawboost5,g722]

Clips: generated 16 kHz voiced-like audio with ASVspoof-like durations (lognormal around 3.3 s,
clipped to 1-13 s, bench/synthetic_clips.py), each held as FLAC bytes in memory. `noise` and
`rir` use folders the bench writes: two 60 s noise files and four 0.5 s decaying-noise room
responses. On each clip the decode and the recipe run back to back, `--repeats` times, and each
clip keeps its quickest timing per path (outside load only ever slows a call down). A codec's
one-off calibration (a 1 s trip, per setting and rate) runs before the timing and is not in it.
"""

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from threadpoolctl import threadpool_limits

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from synthetic_clips import SR, generated_clips  # noqa: E402

from deepfake_pipeline.augment.recipes import RECIPES, AugmentError, recipe_from_spec, seeded_rng  # noqa: E402

CLIPS_AT_SCALE = 100_000


def flac_bytes(clip: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, clip, SR, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def write_folders(root: Path, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    noise, rooms = root / "noise", root / "rirs"
    noise.mkdir()
    rooms.mkdir()
    for i in range(2):
        sf.write(noise / f"noise_{i}.flac", 0.1 * rng.standard_normal(60 * SR), SR, subtype="PCM_16")
    t = np.arange(SR // 2) / SR
    for i in range(4):
        response = rng.standard_normal(len(t)) * np.exp(-t / rng.uniform(0.05, 0.15))
        response[0] = 4 * np.abs(response).max()  # the direct path
        sf.write(rooms / f"room_{i}.wav", response / np.abs(response).max(), SR, subtype="FLOAT")
    return {"noise": f"noise:{noise}", "rir": f"rir:{rooms}"}


def recipe_seconds(recipe, encoded: list, repeats: int) -> tuple[float, float]:
    """Total seconds of (bare decode, decode + recipe) over the clips, quickest per clip."""
    decode_s = np.full((repeats, len(encoded)), np.inf)
    recipe_s = np.full((repeats, len(encoded)), np.inf)
    for repeat in range(repeats):
        for i, data in enumerate(encoded):
            start = time.perf_counter()
            wave, rate = sf.read(io.BytesIO(data), dtype="float32")
            middle = time.perf_counter()
            recipe.apply(wave, rate, seeded_rng(recipe.name, f"clip{i}", 0, 0))
            decode_s[repeat, i], recipe_s[repeat, i] = middle - start, time.perf_counter() - middle
    return float(decode_s.min(axis=0).sum()), float(recipe_s.min(axis=0).sum())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=60, help="number of generated clips")
    parser.add_argument("--repeats", type=int, default=2, help="timings per clip and path; the quickest counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="comma-separated recipe names (default: all)")
    args = parser.parse_args(argv)
    if args.clips < 1 or args.repeats < 1:
        parser.error("--clips and --repeats must be at least 1")

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; timing on 1 core")
    with threadpool_limits(limits=1), tempfile.TemporaryDirectory() as tmp:
        clips = generated_clips(args.clips, args.seed)
        encoded = [flac_bytes(c) for c in clips]
        audio_s = sum(c.size for c in clips) / SR
        specs = list(RECIPES) + list(write_folders(Path(tmp), args.seed).values())
        if args.only:
            wanted = set(args.only.split(","))
            specs = [s for s in specs if s in wanted or s.split(":")[0] in wanted]
        print(f"{len(clips)} generated clips, {audio_s:.0f} s of audio (mean {audio_s / len(clips):.1f} s)")
        print(f"| recipe | clips/s | ms/clip | audio-s/s | x bare decode | h per {CLIPS_AT_SCALE // 1000}k clips |")
        print("|---|---:|---:|---:|---:|---:|")
        decode_total = []
        for spec in specs:
            recipe = recipe_from_spec(spec)
            try:  # values first: this also runs each codec's calibration outside the timing
                recipe.apply(clips[0], SR, seeded_rng(recipe.name, "warm-up", 0, 0))
            except AugmentError as error:
                print(f"| {recipe.name} | unavailable: {error} | | | | |")
                continue
            decode_s, recipe_s = recipe_seconds(recipe, encoded, args.repeats)
            decode_total.append(decode_s)
            per_clip = recipe_s / len(clips)
            print(
                f"| {recipe.name} | {len(clips) / recipe_s:.1f} | {1000 * per_clip:.1f} | {audio_s / recipe_s:.0f} | "
                f"{recipe_s / decode_s:.1f} | {per_clip * CLIPS_AT_SCALE / 3600:.2f} |"
            )
        if decode_total:
            decode_s = float(np.median(decode_total))
            print(
                f"| bare decode (soundfile, FLAC) | {len(clips) / decode_s:.1f} | {1000 * decode_s / len(clips):.2f} | "
                f"{audio_s / decode_s:.0f} | 1.0 | {decode_s / len(clips) * CLIPS_AT_SCALE / 3600:.2f} |"
            )


if __name__ == "__main__":
    main()
