"""Reading one layer of step 2's embeddings: time and peak RSS of each way, on a file of the
XLS-R 300M shape (25 hidden states x 1024, float16) and ASVspoof 2019 LA train size (25,380
clips, 1.3 GB), stored clips-major (clips, layers, dim) and layers-major (layers, clips, dim).

    .venv/bin/python bench/bench_layer_read.py [--clips 25380] [--root /tmp/...]

Ways (each in a fresh process, its peak RSS minus that of a process that reads nothing; the
median of --repeats runs):
  fancy      np.load(mmap_mode="r")[:, [layer], :] as float32: what step 3 did
  blocks     clips-major memmap, one layer copied out in blocks of 2,048 rows, float16
  pread      clips-major, one os.preadv per clip of that layer's 2 KiB, no mmap
  contiguous layers-major, one readinto of the layer's bytes, no mmap
  lmmap      layers-major memmap, np.array(array[layer])
`one`: layer 12 alone; `sweep`: every layer in turn, each freed before the next (what a layer
sweep reads). `cold` drops the file from the page cache first (posix_fadvise DONTNEED), `warm`
reads it again right after a full read. Memory-mapped pages a process touched count in its RSS.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

LAYERS, DIM = 25, 1024
BLOCK = 2048


def header_end(path) -> tuple:
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, _ = read(handle)
        return shape, handle.tell()


def read_layer(way: str, path: str, layer: int) -> np.ndarray:
    shape, offset = header_end(path)
    if way == "fancy":
        return np.asarray(np.load(path, mmap_mode="r")[:, [layer], :], dtype=np.float32)
    if way == "blocks":
        array = np.load(path, mmap_mode="r")
        out = np.empty((shape[0], shape[2]), dtype=array.dtype)
        for start in range(0, shape[0], BLOCK):
            out[start : start + BLOCK] = array[start : start + BLOCK, layer, :]
        del array
        return out
    if way == "pread":
        clips, layers, dim = shape
        out = np.empty((clips, dim), dtype=np.float16)
        fd = os.open(path, os.O_RDONLY)
        try:
            row_bytes, piece = layers * dim * 2, dim * 2
            view = memoryview(out).cast("B")
            for i in range(clips):
                os.preadv(fd, [view[i * piece : (i + 1) * piece]], offset + i * row_bytes + layer * piece)
        finally:
            os.close(fd)
        return out
    if way == "contiguous":
        layers, clips, dim = shape
        out = np.empty((clips, dim), dtype=np.float16)
        with open(path, "rb") as handle:
            handle.seek(offset + layer * clips * dim * 2)
            handle.readinto(memoryview(out).cast("B"))
        return out
    if way == "lmmap":
        array = np.load(path, mmap_mode="r")
        out = np.array(array[layer])
        del array
        return out
    raise ValueError(way)


def child(way, path, mode, cache) -> None:
    if cache == "cold":
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    start = time.perf_counter()
    if way != "none":
        layers = range(LAYERS) if mode == "sweep" else [12]
        total = 0.0
        for layer in layers:
            total += float(read_layer(way, path, layer)[:, 0].astype(np.float32).sum())
    print(f"{time.perf_counter() - start:.3f} {peak_rss_mib():.1f}")


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: a child that subprocess starts with vfork
    inherits its parent's peak there (exec records the old address space's high-water mark)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(way, path, mode, cache, repeats) -> tuple:
    """(seconds, peak RSS MiB) of a fresh process, the median of `repeats`."""
    seconds, rss = [], []
    for _ in range(repeats):
        if cache == "warm":  # a full read first, so the file is in the page cache
            with open(path, "rb") as handle:
                while handle.read(1 << 24):
                    pass
        out = subprocess.run(
            [sys.executable, __file__, "--child", way, path, mode, cache], capture_output=True, text=True, check=True
        ).stdout.split()
        seconds.append(float(out[0]))
        rss.append(float(out[1]))
    return float(np.median(seconds)), float(np.median(rss))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=25_380)
    parser.add_argument("--root", type=Path, default=Path("/tmp") / f"bench_layer_read_{os.getuid()}")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each way; the median is shown")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    args.root.mkdir(parents=True, exist_ok=True)
    clips_major, layers_major = args.root / "clips_major.npy", args.root / "layers_major.npy"
    if not clips_major.is_file():
        rng = np.random.default_rng(0)
        array = np.lib.format.open_memmap(clips_major, "w+", np.float16, (args.clips, LAYERS, DIM))
        for start in range(0, args.clips, BLOCK):
            stop = min(args.clips, start + BLOCK)
            array[start:stop] = rng.standard_normal((stop - start, LAYERS, DIM), dtype=np.float32)
        array.flush()
        del array
    if not layers_major.is_file():
        source = np.load(clips_major, mmap_mode="r")
        array = np.lib.format.open_memmap(layers_major, "w+", np.float16, (LAYERS, args.clips, DIM))
        for layer in range(LAYERS):
            array[layer] = source[:, layer, :]
        array.flush()
        del array, source
    size = clips_major.stat().st_size / 1e9
    _, base_rss = measure("none", str(clips_major), "one", "warm", args.repeats)
    print(
        f"file {args.clips:,} x {LAYERS} x {DIM} float16 = {size:.2f} GB; a process reading nothing: "
        f"{base_rss:.0f} MiB RSS; one layer = {args.clips * DIM * 2 / 2**20:.0f} MiB float16"
    )
    print("| way | layout | read | cache | seconds | RSS above an idle process, MiB |\n|---|---|---|---|---|---|")
    ways = [
        ("fancy", clips_major),
        ("blocks", clips_major),
        ("pread", clips_major),
        ("contiguous", layers_major),
        ("lmmap", layers_major),
    ]
    for mode in ("one", "sweep"):
        for way, path in ways:
            for cache in ("cold", "warm"):
                if way == "fancy" and mode == "sweep" and cache == "cold":
                    continue
                seconds, rss = measure(way, str(path), mode, cache, args.repeats)
                layout = "(clips, layers, dim)" if path == clips_major else "(layers, clips, dim)"
                print(f"| {way} | {layout} | {mode} | {cache} | {seconds:.2f} | {rss - base_rss:.0f} |", flush=True)
    if not args.keep:
        clips_major.unlink()
        layers_major.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
