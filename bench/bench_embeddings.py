"""Throughput of frozen Wav2Vec2 embedding extraction: the naive way against embed_waveforms.

Runs in one process on the same generated clips (ASVspoof-like durations: lognormal around
3.3 s, clipped to 1-13 s), with UNTRAINED random:<arch> models of the real shapes; the numbers
are speeds and numerical differences only, never detection results.

    .venv/bin/python bench/bench_embeddings.py [--arch base large] [--audio-seconds 120]

Ways:
  naive      random order, batches of 8 zero-padded to the longest, each padded row normalised
             as a whole (what Wav2Vec2FeatureExtractor does without an attention mask), plain
             forward, mean over all frames including the padding ones; torch.no_grad, float32.
  default    embed_waveforms as features.py runs it on CPU: float32, one clip per forward pass
             (batch_seconds=0), so no padding at all.
  batched    embed_waveforms with sorted, length-matched padded batches of up to --batch-seconds
             of audio (default DEFAULT_BATCH_SECONDS; features.py's default on cuda).
  eager      the batched way with transformers' eager attention instead of SDPA.
  bf16-*     embed_waveforms under bf16: autocast (float32 weights) or bf16 weights. On a CPU
             without native bf16 these are emulated and slow, so they run on a short subset.
FLOPs are counted with torch.utils.flop_counter on the meta device (on CPU the fused SDPA kernel
has no FLOP formula, so a CPU count would leave attention out). "useful" FLOPs are those of each
clip alone, without padding; achieved GFLOP/s = useful FLOPs / wall time.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import resource
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deepfake_pipeline.features.ssl_embed import DEFAULT_BATCH_SECONDS, embed_waveforms, plan_batches
from deepfake_pipeline.features.ssl_loading import load_model, native_bf16_support

SAMPLE_RATE = 16000
LA_DEV_CLIPS = 24_844
LA_DEV_AUDIO_SECONDS = 82_000.0
NAIVE_BATCH = 8


def generate_clips(total_seconds: float, seed: int) -> list[np.ndarray]:
    """Noisy tones with ASVspoof 2019 LA-like durations (lognormal around 3.3 s, 1-13 s)."""
    rng = np.random.default_rng(seed)
    clips, total = [], 0.0
    while total < total_seconds:
        seconds = float(np.clip(rng.lognormal(np.log(3.0), 0.45), 1.0, 13.0))
        n = int(seconds * SAMPLE_RATE)
        t = np.arange(n) / SAMPLE_RATE
        clip = 0.3 * np.sin(2 * np.pi * rng.uniform(80, 300) * t) + 0.05 * rng.standard_normal(n)
        clips.append(clip.astype(np.float32))
        total += seconds
    return clips


class PeakRSS:
    """Peak resident memory while the block runs, sampled from /proc every 5 ms (Linux);
    elsewhere the process-wide ru_maxrss, which never goes down."""

    def __init__(self):
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._statm = Path("/proc/self/statm")

    def _rss(self) -> int:
        if self._statm.exists():
            return int(self._statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        scale = 1 if platform.system() == "Darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak_bytes = max(self.peak_bytes, self._rss())

    def __enter__(self):
        self.peak_bytes = self._rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._rss())


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_peak_gflops(dtype: torch.dtype, seconds: float = 1.5, device: str = "cpu") -> float:
    best = 0.0
    sizes = (1024, 2048) if device == "cpu" else (4096, 8192)
    for n in sizes:
        a, b = torch.randn(n, n, device=device).to(dtype), torch.randn(n, n, device=device).to(dtype)
        a @ b
        synchronize(device)
        start, runs = time.perf_counter(), 0
        while time.perf_counter() - start < seconds / 2:
            a @ b
            runs += 1
            synchronize(device)
        best = max(best, 2 * n**3 * runs / (time.perf_counter() - start) / 1e9)
    return best


class PeakProbe:
    """The matmul peak, measured as the best of short tries taken between the ways' units: one
    busy moment during a single measurement made "% of peak" exceed 100%."""

    def __init__(self, device: str, every_units: int):
        self.device, self.every_units, self.units = device, max(1, every_units), 0
        self.peaks = {name: matmul_peak_gflops(getattr(torch, name), 0.6, device) for name in ("float32", "bfloat16")}
        self.tries = 1

    def after_unit(self) -> None:
        self.units += 1
        if self.units % self.every_units == 0:
            for name in self.peaks:
                self.peaks[name] = max(self.peaks[name], matmul_peak_gflops(getattr(torch, name), 0.3, self.device))
            self.tries += 1


class FlopCounter:
    """FLOPs of one forward pass on a (batch, samples) input, counted on the meta device."""

    def __init__(self, model):
        self.meta_model = copy.deepcopy(model).to("meta")
        self.cache: dict[tuple[int, int], int] = {}

    def __call__(self, batch: int, samples: int) -> int:
        if (batch, samples) not in self.cache:
            with torch.inference_mode(), FlopCounterMode(display=False) as counter:
                self.meta_model(torch.zeros(batch, samples, device="meta"), output_hidden_states=True)
            self.cache[(batch, samples)] = counter.get_total_flops()
        return self.cache[(batch, samples)]


def naive_batches(num_clips: int, seed: int) -> list[list[int]]:
    order = np.random.default_rng(seed).permutation(num_clips)
    return [order[start : start + NAIVE_BATCH].tolist() for start in range(0, num_clips, NAIVE_BATCH)]


def naive_embed(loaded, clips: list[np.ndarray]) -> np.ndarray:
    """One naive batch: padded to the longest, each padded row normalised whole, no mask, mean
    over every frame."""
    longest = max(len(c) for c in clips)
    batch = np.zeros((len(clips), longest), dtype=np.float32)
    for row, clip in enumerate(clips):
        batch[row, : len(clip)] = clip
    batch = (batch - batch.mean(1, keepdims=True)) / np.sqrt(batch.var(1, keepdims=True) + 1e-7)
    with torch.no_grad():
        hidden_states = loaded.model(torch.from_numpy(batch).to(loaded.device), output_hidden_states=True).hidden_states
    return torch.stack(hidden_states, dim=1).mean(dim=2).float().cpu().numpy()


@dataclass
class Way:
    """One way of computing the embeddings, cut into units of work (one forward pass each) so
    that the ways can take turns on the CPU."""

    name: str
    clip_indices: list[int]
    units: list[list[int]]  # positions in clip_indices, one forward pass each
    run: Callable[[list[np.ndarray]], np.ndarray]
    peak_key: str = "float32"
    unit_seconds: list[float] = field(default_factory=list)
    peak_rss: int = 0
    output: np.ndarray | None = None


def relative_difference(approx: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per clip and layer: ||approx - reference|| / ||reference|| over the embedding dimension."""
    return np.linalg.norm(approx - reference, axis=-1) / np.linalg.norm(reference, axis=-1)


def print_layer_differences(label: str, relative: np.ndarray) -> None:
    print(f"  {label}: relative difference per layer (max over clips / mean over clips):")
    cells = [
        f"L{layer}: {relative[:, layer].max():.4f}/{relative[:, layer].mean():.4f}"
        for layer in range(relative.shape[1])
    ]
    for start in range(0, len(cells), 6):
        print("    " + "   ".join(cells[start : start + 6]))


def run_arch(arch: str, clips: list[np.ndarray], args) -> None:
    audio_seconds = sum(len(c) for c in clips) / SAMPLE_RATE
    print(f"\n=== random:{arch} (UNTRAINED weights: speed and numerics only) ===")
    start = time.perf_counter()
    loaded = load_model(f"random:{arch}", device=args.device)
    print(
        f"built in {time.perf_counter() - start:.1f} s: {loaded.arch}, {loaded.num_layers} hidden states x {loaded.dim}"
    )
    count_flops = FlopCounter(loaded.model)
    useful_flops = sum(count_flops(1, len(c)) for c in clips)
    print(
        f"{len(clips)} clips, {audio_seconds:.1f} audio-s, "
        f"{useful_flops / audio_seconds / 1e9:.1f} GFLOP per audio-second (useful)"
    )

    # The timed set has few clips, so its sorted batches pad more than the feature driver's calls
    # (one wave-store shard per call: 389 clips for LA dev); show what padding costs there.
    call_lengths = [len(c) for c in generate_clips(args.call_clips * 3.5, args.seed + 1)][: args.call_clips]
    call_useful = sum(count_flops(1, n) for n in call_lengths)
    call_executed = sum(
        count_flops(len(b), max(call_lengths[i] for i in b)) for b in plan_batches(call_lengths, args.batch_seconds)
    )
    print(
        f"padding at {args.batch_seconds:g} s per batch: the timed set executes the FLOPs shown below; "
        f"a call of {len(call_lengths)} clips (the driver's) "
        f"executes {call_executed / call_useful:.3f}x the useful FLOPs"
    )

    native_bf16, bf16_reason = native_bf16_support(torch.device(args.device))
    bf16_clips = clips
    if not native_bf16:
        # emulated bf16 is several times slower than float32: time it on a short subset
        bf16_clips, total = [], 0.0
        for clip in clips:
            if total >= args.bf16_seconds:
                break
            bf16_clips.append(clip)
            total += len(clip) / SAMPLE_RATE

    def bf16_model(mode):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_model(
                f"random:{arch}", device=args.device, precision="bfloat16", bf16_mode=mode, allow_emulated_bf16=True
            )

    def embed_with(model, attention="sdpa"):
        def run(unit_clips):
            model.model.config._attn_implementation = attention
            try:
                # one unit is one planned batch: a budget that keeps it whole
                return embed_waveforms(model, unit_clips, batch_seconds=float("inf"))
            finally:
                model.model.config._attn_implementation = "sdpa"

        return run

    everything = list(range(len(clips)))
    bf16_part = list(range(len(bf16_clips)))

    def planned(indices, batch_seconds):
        return plan_batches([len(clips[i]) for i in indices], batch_seconds)

    ways = [
        Way("naive", everything, naive_batches(len(clips), args.seed), lambda c: naive_embed(loaded, c)),
        Way("default (1 clip/pass)", everything, planned(everything, 0.0), embed_with(loaded)),
        Way("batched", everything, planned(everything, args.batch_seconds), embed_with(loaded)),
        Way("eager attention", everything, planned(everything, args.batch_seconds), embed_with(loaded, "eager")),
    ]
    for mode in ("autocast", "weights"):
        label = f"bf16 {mode}" + ("" if native_bf16 else " (emulated)")
        ways.append(
            Way(label, bf16_part, planned(bf16_part, args.batch_seconds), embed_with(bf16_model(mode)), "bfloat16")
        )

    def unit_audio(way, unit):
        return sum(len(clips[way.clip_indices[k]]) for k in unit) / SAMPLE_RATE

    # The ways take turns unit by unit (the one furthest behind in audio goes next) and each
    # unit keeps its fastest repeat, so a burst of other work on the machine slows no way in
    # particular and timings measure the code rather than the neighbours. The matmul peak is
    # probed between units too, and its best try kept.
    probe = PeakProbe(args.device, sum(len(w.units) for w in ways) // 8)
    for _ in range(args.repeats):
        progress = {way.name: 0 for way in ways}
        done_audio = {way.name: 0.0 for way in ways}
        total_audio = {way.name: sum(unit_audio(way, u) for u in way.units) for way in ways}
        while True:
            pending = [way for way in ways if progress[way.name] < len(way.units)]
            if not pending:
                break
            way = min(pending, key=lambda w: done_audio[w.name] / total_audio[w.name])
            position = progress[way.name]
            unit = way.units[position]
            unit_clips = [clips[way.clip_indices[k]] for k in unit]
            with PeakRSS() as memory:
                synchronize(args.device)
                start = time.perf_counter()
                embeddings = way.run(unit_clips)
                synchronize(args.device)
                elapsed = time.perf_counter() - start
            probe.after_unit()
            if way.output is None:
                way.output = np.empty((len(way.clip_indices),) + embeddings.shape[1:], dtype=np.float32)
            way.output[unit] = embeddings
            if len(way.unit_seconds) <= position:
                way.unit_seconds.append(elapsed)
            way.unit_seconds[position] = min(way.unit_seconds[position], elapsed)
            way.peak_rss = max(way.peak_rss, memory.peak_bytes)
            progress[way.name] += 1
            done_audio[way.name] += unit_audio(way, unit)

    rows = []
    for way in ways:
        lengths = [len(clips[i]) for i in way.clip_indices]
        way_audio = sum(lengths) / SAMPLE_RATE
        way_useful = sum(count_flops(1, n) for n in lengths)
        executed = sum(count_flops(len(unit), max(lengths[k] for k in unit)) for unit in way.units)
        elapsed = sum(way.unit_seconds)
        rows.append(
            dict(
                name=way.name,
                audio=way_audio,
                rate=way_audio / elapsed,
                gflops=way_useful / elapsed / 1e9,
                executed=executed / elapsed / 1e9,
                waste=executed / way_useful,
                peak=probe.peaks[way.peak_key],
                rss=way.peak_rss / 2**20,
            )
        )
    outputs = {way.name: way.output for way in ways}

    naive_rate = rows[0]["rate"]
    print(
        f"{'way':<26}{'audio-s':>8}{'audio-s/s':>10}{'x naive':>8}{'useful GF/s':>12}{'% peak':>7}"
        f"{'exec GF/s':>10}{'exec/useful':>12}{'peak RSS MB':>12}{'LA dev h':>9}"
    )
    for row in rows:
        print(
            f"{row['name']:<26}{row['audio']:>8.1f}{row['rate']:>10.2f}{row['rate'] / naive_rate:>8.2f}"
            f"{row['gflops']:>12.1f}{100 * row['gflops'] / row['peak']:>6.0f}%{row['executed']:>10.1f}"
            f"{row['waste']:>12.2f}{row['rss']:>12.0f}{LA_DEV_AUDIO_SECONDS / row['rate'] / 3600:>9.2f}"
        )
    print(
        f"  matmul peak, best of {probe.tries} tries between the units: float32 {probe.peaks['float32']:.0f}, "
        f"bfloat16 {probe.peaks['bfloat16']:.0f} GFLOP/s"
    )
    print(
        f"  (% peak: useful GFLOP/s over the measured matmul peak of the precision used; "
        f"LA dev h: projected hours for ASVspoof 2019 LA dev, "
        f"{LA_DEV_CLIPS} clips, ~{LA_DEV_AUDIO_SECONDS:.0f} audio-s)"
    )

    reference = outputs["default (1 clip/pass)"]
    print_layer_differences(
        "naive vs default (padding leaking into the naive embeddings)", relative_difference(outputs["naive"], reference)
    )
    print_layer_differences(
        "batched vs default (padding must not leak)", relative_difference(outputs["batched"], reference)
    )
    print_layer_differences(
        "eager vs sdpa attention (both batched)", relative_difference(outputs["eager attention"], outputs["batched"])
    )
    for way in ways[4:]:
        print_layer_differences(f"{way.name} vs float32", relative_difference(way.output, reference[: len(bf16_clips)]))
    if not native_bf16:
        print(f"  bf16: {bf16_reason}; timed on the first {len(bf16_clips)} clips only")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", nargs="+", default=["base", "large"], choices=["tiny", "base", "large"])
    parser.add_argument("--audio-seconds", type=float, default=60.0, help="generated audio per arch (default 60)")
    parser.add_argument("--bf16-seconds", type=float, default=8.0, help="audio timed under emulated bf16 (default 8)")
    parser.add_argument(
        "--batch-seconds",
        type=float,
        default=DEFAULT_BATCH_SECONDS,
        help=f"padded audio per forward pass of embed_waveforms (default {DEFAULT_BATCH_SECONDS:g})",
    )
    parser.add_argument(
        "--call-clips", type=int, default=389, help="clips per embed_waveforms call in the driver (default 389)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=1, help="timed rounds, each unit's fastest kept (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    capabilities = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    print("Wav2Vec2 embedding benchmark: UNTRAINED random weights, synthetic audio (speed only)")
    print(
        f"CPU {capabilities.get('cpu_name', platform.processor())}, {os.cpu_count()} logical cores, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads, "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    native, reason = native_bf16_support(torch.device(args.device))
    print(f"device {args.device}; bf16 {'native' if native else 'emulated'}: {reason}")
    if args.device.startswith("cuda"):
        print(f"GPU {torch.cuda.get_device_name()}")
    clips = generate_clips(args.audio_seconds, args.seed)
    for arch in args.arch:
        run_arch(arch, clips, args)
    print(
        f"\nload average after: {os.getloadavg()[0]:.2f} (above the core count means other work competed for the CPU)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
