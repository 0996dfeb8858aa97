"""How far a bfloat16 run's pooled embeddings are from float32 ones, measured at the start of the
run on the split's own first clips, so that every bf16 set carries the figure it was made with
(the embeddings JSON's ``precision_drift``) instead of a number measured once elsewhere.

Definition: for each probe clip c and kept layer l, the relative drift
``d[c, l] = ||e_bf16[c, l] - e_fp32[c, l]||_2 / ||e_fp32[c, l]||_2`` of the mean-pooled hidden
states (float64 norms), both computed one clip per forward pass so that only the precision
differs. Recorded per layer: the median and the max over the probe clips.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from deepfake_pipeline.common import atomic

# A few clips: enough to see the order of magnitude per layer, little enough that the float32
# copy of the model costs seconds at the start of a long run.
PROBE_CLIPS = 4
DEFINITION = (
    "||e_bfloat16 - e_float32|| / ||e_float32|| of each probe clip's mean-pooled embedding per layer, "
    "one clip per forward pass; median and max over the probe clips"
)
DRIFT_FILE = "precision_drift.json"


def probe_rows(store, count: int = PROBE_CLIPS) -> list[int]:
    """The first `count` clips of the split in manifest order that give at least one frame: the
    same clips whichever --shard job measures."""
    from deepfake_pipeline.features.ssl_embed import waveform_too_short

    samples = store.manifest["num_samples"].to_numpy()
    return [i for i in range(len(store)) if not waveform_too_short(int(samples[i]))][:count]


def relative_drift(approx: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(clips, layers) relative distances of (clips, layers, dim) embeddings."""
    approx, reference = approx.astype(np.float64), reference.astype(np.float64)
    return np.linalg.norm(approx - reference, axis=-1) / np.linalg.norm(reference, axis=-1)


def measure(bf16_loaded, float32_loaded, store, layers: list[int]) -> dict:
    """The drift record of `bf16_loaded` against `float32_loaded` on `store`'s probe clips."""
    from deepfake_pipeline.features.ssl_embed import embed_waveforms

    rows = probe_rows(store)
    clips = [store.waveform(i) for i in rows]
    drift = relative_drift(
        embed_waveforms(bf16_loaded, clips, layers=layers, batch_seconds=0.0),
        embed_waveforms(float32_loaded, clips, layers=layers, batch_seconds=0.0),
    )
    return {
        "definition": DEFINITION,
        "reference": "float32",
        "clips": [str(u) for u in store.manifest["utt_id"].iloc[rows]],
        "layers": list(layers),
        "median": [float(v) for v in np.median(drift, axis=0)] if len(rows) else [],
        "max": [float(v) for v in np.max(drift, axis=0)] if len(rows) else [],
    }


def describe(record: dict) -> str:
    """One line: the median drift of every layer and the worst clip's."""
    if not record.get("clips"):
        return "bfloat16 drift from float32 not measured: the split has no clip long enough"
    per_layer = ", ".join(
        f"{layer}: {value:.2e}" for layer, value in zip(record["layers"], record["median"], strict=True)
    )
    worst = int(np.argmax(record["max"]))
    return (
        f"bfloat16 drift from float32 on the first {len(record['clips'])} clips "
        f"(||bf16 - fp32|| / ||fp32|| of the pooled embedding, median over clips) by layer: {per_layer}; "
        f"worst clip {record['max'][worst]:.2e} at layer {record['layers'][worst]}"
    )


def read(parts_dir: Path) -> dict | None:
    """The record a job of this run left beside its parts, or None."""
    try:
        return json.loads((parts_dir / DRIFT_FILE).read_text())
    except (OSError, ValueError):
        return None


def write(parts_dir: Path, record: dict) -> None:
    # Beside the parts, not in their config.json: the figure comes from the hardware that measured
    # it, and two --shard jobs on different GPUs must still agree on the settings.
    atomic.write_text(parts_dir / DRIFT_FILE, json.dumps(record, indent=1))
