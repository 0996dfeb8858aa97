"""Partial fine-tuning through the frame cache against recomputing the whole model, on the same
clips, in one process: one training epoch of the unfrozen block (+ projection head) reading the
cached hidden states, one epoch recomputing the frozen part of Wav2Vec2 for every batch, and the
disk the cache takes per hour of audio.

    .venv/bin/python bench/bench_unfreeze_cache.py [--model random:base] [--clips 24]
        [--unfreeze-last 2] [--batch-size 8] [--seed 0]

Clips: generated 16 kHz voiced-like audio with ASVspoof-like durations (lognormal around 3.3 s,
clipped to 1-8 s), written to a temporary waveform store. Both epochs draw the same batches,
run the same block and head with the same optimiser, and start from the same weights. The
untrained `random:base` model has the shape and cost of wav2vec2-base; speed does not depend
on the weights.
"""

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from synthetic_clips import generated_clips as _generated_clips  # noqa: E402

from deepfake_pipeline.contrastive.frame_cache import build_frame_cache  # noqa: E402
from deepfake_pipeline.contrastive.head import ProjectionHead  # noqa: E402
from deepfake_pipeline.contrastive.loss import supcon_loss  # noqa: E402
from deepfake_pipeline.contrastive.model import ContrastiveModel  # noqa: E402
from deepfake_pipeline.contrastive.unfreeze import UnfrozenBlock, num_transformer_layers  # noqa: E402
from deepfake_pipeline.features.ssl_embed import (  # noqa: E402
    frame_hidden_state,
    normalise_like_feature_extractor,
)
from deepfake_pipeline.features.ssl_loading import load_model  # noqa: E402
from deepfake_pipeline.formats.manifest import MANIFEST_COLUMNS  # noqa: E402
from deepfake_pipeline.formats.wavestore import STORE_DTYPE, WaveStore, write_shard  # noqa: E402

SR = 16000


def generated_clips(n_clips: int, seed: int) -> list:
    return _generated_clips(n_clips, seed, max_seconds=8.0)


def write_store(folder: Path, clips: list) -> WaveStore:
    """A one-shard waveform store of the clips, half of them labelled spoof."""
    (folder / "waves").mkdir(parents=True)
    rows, offset = [], 0
    for i, clip in enumerate(clips):
        rows.append(
            {
                "utt_id": f"bench_{i:05d}",
                "corpus": "bench",
                "split": "bench",
                "label": i % 2,
                "attack": "-" if i % 2 == 0 else "A01",
                "speaker": f"S{i % 4}",
                "source_path": "-",
                "duration_s": len(clip) / SR,
                "orig_sr": SR,
                "num_samples": len(clip),
                "shard": 0,
                "offset": offset,
                "audio_sha1": f"{i:040x}",
            }
        )
        offset += len(clip)
    write_shard(folder, 0, np.concatenate([np.asarray(c, dtype=np.float32) for c in clips]))
    pd.DataFrame(rows, columns=MANIFEST_COLUMNS).to_csv(folder / "manifest.csv", index=False)
    (folder / "info.json").write_text(
        json.dumps({"corpus": "bench", "split": "bench", "split_id": "bench", "store_dtype": STORE_DTYPE})
    )
    return WaveStore(folder)


def pad(states: list) -> tuple:
    longest = max(len(s) for s in states)
    frames = torch.zeros(len(states), longest, states[0].shape[1])
    mask = torch.zeros(len(states), longest, dtype=torch.bool)
    for row, state in enumerate(states):
        frames[row, : len(state)] = state
        mask[row, : len(state)] = True
    return frames, mask


def epoch(model: ContrastiveModel, batches, inputs_of, labels) -> float:
    optimizer = torch.optim.AdamW(model.parameter_groups(1e-3, 2e-5))
    model.train()
    started = time.perf_counter()
    for indices in batches:
        loss = supcon_loss(model(inputs_of(indices)), torch.as_tensor(labels[indices]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="random:base")
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--unfreeze-last", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    loaded = load_model(args.model)
    layers = num_transformer_layers(loaded.model)
    first = layers - args.unfreeze_last + 1
    clips = generated_clips(args.clips, args.seed)
    hours = sum(len(c) for c in clips) / SR / 3600
    labels = np.arange(args.clips) % 2
    order = np.random.default_rng(args.seed).permutation(args.clips)
    batches = [order[i : i + args.batch_size] for i in range(0, args.clips, args.batch_size)]

    def model_input(waveform):
        return torch.from_numpy(normalise_like_feature_extractor(loaded, waveform))[None]

    print(
        f"model {args.model}{' (untrained; speed does not depend on the weights)' if loaded.untrained else ''}, "
        f"{layers} transformer layers, unfreezing {first}..{layers}; {args.clips} clips, {hours * 3600:.1f} s of "
        f"audio, batches of {args.batch_size}, torch threads {torch.get_num_threads()}"
    )
    pretrained = copy.deepcopy(loaded.model.state_dict())

    def fresh_model():
        loaded.model.load_state_dict(pretrained)
        torch.manual_seed(args.seed)
        return ContrastiveModel(ProjectionHead(loaded.dim), UnfrozenBlock(loaded.model, first, layers, layers))

    with tempfile.TemporaryDirectory() as tmp:
        store = write_store(Path(tmp) / "bench", clips)
        started = time.perf_counter()
        cache = build_frame_cache(
            store, loaded, first, Path(tmp) / "frames", model_input, stream=open("/dev/null", "w")
        )
        build_s = time.perf_counter() - started
        disk = sum(p.stat().st_size for p in (Path(tmp) / "frames").iterdir())

        cached_s = epoch(fresh_model(), batches, cache.batch, labels)

        def recomputed_inputs(indices):
            with torch.no_grad():
                states = [frame_hidden_state(loaded.model, model_input(clips[i]), first - 1)[0] for i in indices]
            return pad(states)

        full_s = epoch(fresh_model(), batches, recomputed_inputs, labels)

    print(f"cache build (once):            {build_s:7.2f} s  ({build_s / hours / 60:.1f} min per hour of audio)")
    print(f"epoch through the cache:       {cached_s:7.2f} s  ({cached_s / hours / 60:.2f} min per hour of audio)")
    print(f"epoch recomputing the model:   {full_s:7.2f} s  ({full_s / hours / 60:.2f} min per hour of audio)")
    print(f"speed-up per epoch:            {full_s / cached_s:7.1f}x")
    print(
        f"cache on disk: {disk / 2**20:.1f} MiB float16 = {disk / 2**30 / hours:.2f} GiB per hour of audio "
        f"(hidden size {loaded.dim}, about 50 frames per second)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
