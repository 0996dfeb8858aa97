"""Frame-level cache of the hidden state entering the first unfrozen transformer layer.

Fine-tuning layers first..last only needs hidden state first-1, which the frozen part of the
model computes identically every epoch; computing it once and reading it back is what turns the
tens of hours of partial fine-tuning into minutes. Layout, per split, model and first layer:

    data/processed/<split_id>/frames/<model_tag>__input-of-layer-<first>/
        meta.json                     model, revision, hidden-state index, dim, manifest hash
        part_00000.lengths.npy        frames per clip of this part (int64)
        part_00000.npy                float16 (frames of its clips, dim), clips back to back

Parts hold consecutive manifest rows; each is written under a temporary name and renamed, the
frames file last, so a killed run leaves only whole parts and a rerun computes the rest."""

import json
from pathlib import Path

import numpy as np
import torch

from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.errors import PipelineError
from deepfake_pipeline.common.progress import Progress
from deepfake_pipeline.features.ssl_embed import frame_hidden_state
from deepfake_pipeline.formats.manifest import manifest_sha256
from deepfake_pipeline.formats.run_dir import write_json
from deepfake_pipeline.formats.wavestore import SAMPLE_RATE, WaveStore

CACHE_FORMAT = 2  # 2: the model identity
DEFAULT_CLIPS_PER_PART = 256


class FrameCacheError(PipelineError, RuntimeError):
    pass


def cache_dir(processed_dir, split_id: str, tag: str, first_layer: int) -> Path:
    """`tag`: the model's file tag (LoadedModel.tag), which no other model shares."""
    return Path(processed_dir) / split_id / "frames" / f"{tag}__input-of-layer-{first_layer}"


def _part_paths(directory: Path, part: int) -> tuple:
    return directory / f"part_{part:05d}.npy", directory / f"part_{part:05d}.lengths.npy"


def expected_meta(store: WaveStore, loaded, first_layer: int, clips_per_part: int) -> dict:
    return {
        "format": CACHE_FORMAT,
        "model": loaded.spec,
        "revision": loaded.revision,
        "model_identity": loaded.identity.as_json(),
        "untrained": bool(loaded.untrained),
        "arch": loaded.arch,
        "input_of_layer": first_layer,
        "hidden_state": first_layer - 1,
        "dim": int(loaded.dim),
        "dtype": "float16",
        "sample_rate": SAMPLE_RATE,
        "split_id": store.split_id,
        "num_clips": len(store),
        "clips_per_part": clips_per_part,
        "manifest_sha256": manifest_sha256(store.split_dir),
        "demo": bool(store.info.get("demo", False)),
    }


def build_frame_cache(
    store: WaveStore,
    loaded,
    first_layer: int,
    directory,
    model_input,
    clips_per_part: int = DEFAULT_CLIPS_PER_PART,
    stream=None,
) -> "FrameCache":
    """Compute the missing parts of the cache of hidden state first_layer-1 for every clip of
    `store`, then open it. `model_input(waveform) -> (1, samples) tensor` prepares a clip the way
    step 2 does (normalisation). Clips run one at a time, unpadded, so each frame is exactly
    what the full model computes for that clip alone."""
    directory = Path(directory)
    atomic.make_dirs(directory)
    meta = expected_meta(store, loaded, first_layer, clips_per_part)
    meta_path = directory / "meta.json"
    if meta_path.is_file():
        found = json.loads(meta_path.read_text())
        differing = sorted(k for k in meta if found.get(k) != meta[k])
        if differing:
            raise FrameCacheError(
                f"the frame cache in {directory} was built with different {differing}: delete that folder to rebuild it"
            )
    else:
        write_json(meta_path, meta)
    num_parts = -(-len(store) // clips_per_part)
    todo = [p for p in range(num_parts) if not _part_paths(directory, p)[0].is_file()]
    done_clips = len(store) - sum(min(clips_per_part, len(store) - p * clips_per_part) for p in todo)
    progress = Progress(
        f"frame cache {store.split_id} layer<{first_layer}", len(store), already_done=done_clips, stream=stream
    )
    model = loaded.model.eval()
    device = next(model.parameters()).device
    for part in todo:
        rows = range(part * clips_per_part, min((part + 1) * clips_per_part, len(store)))
        frames, lengths = [], []
        for row in rows:
            waveform = store.waveform(row)
            with torch.inference_mode():
                hidden = frame_hidden_state(model, model_input(waveform).to(device), first_layer - 1)
            clip_frames = hidden[0].float().cpu().numpy().astype(np.float16)
            if not np.isfinite(clip_frames).all():
                raise FrameCacheError(
                    f"{store.manifest.utt_id.iloc[row]}: hidden state {first_layer - 1} overflows float16; "
                    "this model's activations need a float32 cache, which is not implemented"
                )
            frames.append(clip_frames)
            lengths.append(len(frames[-1]))
            progress.update(1, audio_seconds=len(waveform) / SAMPLE_RATE)
        frames_path, lengths_path = _part_paths(directory, part)
        atomic.save_npy(lengths_path, np.asarray(lengths, dtype=np.int64))
        atomic.save_npy(frames_path, np.concatenate(frames, axis=0))
    return FrameCache(directory)


class FrameCache:
    """Read side: `frames(i)` is clip i's (frames, dim) float16 array, memory-mapped;
    `batch(indices)` pads a batch to (batch, max frames, dim) float32 with a frame mask."""

    def __init__(self, directory):
        self.directory = Path(directory)
        meta_path = self.directory / "meta.json"
        if not meta_path.is_file():
            raise FrameCacheError(f"no frame cache in {self.directory}")
        self.meta = json.loads(meta_path.read_text())
        per_part = self.meta["clips_per_part"]
        num_parts = -(-self.meta["num_clips"] // per_part)
        self._parts, lengths = [], []
        for part in range(num_parts):
            frames_path, lengths_path = _part_paths(self.directory, part)
            if not frames_path.is_file():
                raise FrameCacheError(f"{self.directory} is incomplete (part {part} missing): rerun to finish it")
            self._parts.append(np.load(frames_path, mmap_mode="r"))
            lengths.append(np.load(lengths_path))
        self.lengths = np.concatenate(lengths)
        # offset of each clip inside its own part's frames array
        self._offsets = np.concatenate(
            [np.concatenate([[0], np.cumsum(part_lengths)[:-1]]) for part_lengths in lengths]
        )
        self.dim = int(self.meta["dim"])

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def nbytes(self) -> int:
        return sum(part.nbytes for part in self._parts)

    def frames(self, i: int) -> np.ndarray:
        part = self._parts[i // self.meta["clips_per_part"]]
        start = self._offsets[i]
        return part[start : start + self.lengths[i]]

    def batch(self, indices) -> tuple:
        indices = np.asarray(indices)
        longest = int(self.lengths[indices].max())
        padded = np.zeros((len(indices), longest, self.dim), dtype=np.float32)
        mask = np.zeros((len(indices), longest), dtype=bool)
        for slot, i in enumerate(indices):
            clip = self.frames(int(i))
            padded[slot, : len(clip)] = clip
            mask[slot, : len(clip)] = True
        return torch.from_numpy(padded), torch.from_numpy(mask)
