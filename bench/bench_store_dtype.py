"""Why the waveform store holds float32: size, write/read time and feature fidelity of a
float32 store against an int16 store with a per-clip gain, on the real clips.

    .venv/bin/python bench/bench_store_dtype.py

For every clip of ../shared/data/real/ (MP3 included) the decoder's output is stored both ways;
the spectral features of what each store gives back are compared with those of the decoded
audio (largest relative difference over the 15 features), and the plain int16 store of the
older step 1 (samples x 32768, clipped, rounded) is shown beside them.
"""

import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from deepfake_pipeline.features.spectral import spectral_features  # noqa: E402
from deepfake_pipeline.formats.paths import REPO_ROOT  # noqa: E402
from deepfake_pipeline.ingest.decode import load_clip  # noqa: E402

REAL_DIR = REPO_ROOT.parent / "shared" / "data" / "real"


def plain_int16(x):
    return np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16), np.float32(1 / 32768)


def int16_with_gain(x):
    peak = float(np.abs(x).max())
    gain = peak / 32767 if peak > 0 else 1.0
    return np.rint(x / gain).astype(np.int16), np.float32(gain)


def as_float32(x):
    return x, None


def measure(name, encode, clips, folder: Path, repeats=3) -> np.ndarray:
    best_write = best_read = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        encoded = [encode(c) for c in clips]
        np.save(folder / f"{name}.npy", np.concatenate([e[0] for e in encoded]))
        best_write = min(best_write, time.perf_counter() - start)
        start = time.perf_counter()
        store, offset, back = np.load(folder / f"{name}.npy", mmap_mode="r"), 0, []
        for clip, (_, gain) in zip(clips, encoded, strict=True):
            piece = store[offset : offset + len(clip)]
            back.append(np.array(piece) if gain is None else piece.astype(np.float32) * gain)
            offset += len(clip)
        best_read = min(best_read, time.perf_counter() - start)
    size = (folder / f"{name}.npy").stat().st_size
    hours = sum(len(c) for c in clips) / 16000 / 3600
    rel = np.array(
        [
            np.max(
                np.abs(spectral_features(b) - spectral_features(c)) / np.maximum(np.abs(spectral_features(c)), 1e-12)
            )
            for b, c in zip(back, clips, strict=True)
        ]
    )
    print(
        f"{name:16s} {size / 2**20:6.1f} MiB ({size / 2**30 / hours:.3f} GiB per audio-hour), "
        f"write {best_write * 1000:4.0f} ms, read all {best_read * 1000:4.0f} ms; clips off by "
        f"> 1e-4 {np.sum(rel > 1e-4)}, > 0.1% {np.sum(rel > 1e-3)}, > 1% {np.sum(rel > 1e-2)}, "
        f"max {rel.max():.1e}"
    )
    return rel


def main():
    if not (REAL_DIR / "MANIFEST.csv").is_file():
        print(f"no real clips at {REAL_DIR}: nothing to measure")
        return
    rows = list(csv.DictReader(open(REAL_DIR / "MANIFEST.csv")))
    clips = [load_clip(REAL_DIR / row["relpath"]).samples for row in rows]
    mp3 = np.array([row["relpath"].lower().endswith(".mp3") for row in rows])
    print(f"{len(clips)} real clips ({mp3.sum()} MP3), {sum(len(c) for c in clips) / 16000 / 3600:.3f} h")
    with tempfile.TemporaryDirectory() as tmp:
        for name, encode in (("int16 (old)", plain_int16), ("int16 + gain", int16_with_gain), ("float32", as_float32)):
            rel = measure(name, encode, clips, Path(tmp))
            print(
                f"{'':16s} MP3 clips off by > 0.1%: {np.sum(rel[mp3] > 1e-3)} of {mp3.sum()}, "
                f"> 1%: {np.sum(rel[mp3] > 1e-2)}"
            )


if __name__ == "__main__":
    main()
