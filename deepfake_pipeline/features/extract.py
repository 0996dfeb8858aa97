"""Step 2 over several corpus splits: the one entry point that `features.py` and the scoring of
new clips (`eval_logreg.py --score`) share, so both compute features the same way."""

from dataclasses import dataclass
from pathlib import Path

from deepfake_pipeline.common.errors import InputError
from deepfake_pipeline.common.progress import note
from deepfake_pipeline.features.jobs import run_embeddings, run_spectral
from deepfake_pipeline.features.parts_job import ClusterJob, store_parts
from deepfake_pipeline.formats.feature_files import FeatureError, embeddings_paths
from deepfake_pipeline.formats.wavestore import SAMPLE_RATE, WaveStore

WHAT = ("spectral", "embeddings", "both")
# Padded audio per forward pass when none is asked for: on CPU one clip per pass (no padding at
# all, and as fast as batching there: bench/bench_embeddings.py); on a GPU batches pay.
# One clip per pass also makes a clip's embedding the same bits whatever other clips are run
# (what `eval_logreg.py --score` relies on, and it always runs so). In a batch, padding is masked
# but the kernels' summation order follows the batch's shape: a clip's float32 embedding then
# moves with its batch-mates by float32 rounding (~1e-6 relative; within 1e-4 tested), which the
# float16 storage can turn into one float16 step on a few dimensions.
CPU_BATCH_SECONDS = 0.0
GPU_BATCH_SECONDS = 32.0


@dataclass(frozen=True)
class FeatureSettings:
    what: str = "both"
    model: str | None = None
    layers: tuple | None = None
    dtype: str = "float16"
    precision: str = "float32"
    device: str = "cpu"
    allow_emulated_bf16: bool = False
    batch_seconds: float | None = None
    shard: ClusterJob = ClusterJob()
    jobs: int = -1
    overwrite: bool = False
    merge_only: bool = False
    memory_gb: float | None = None  # budget for the longest clip's forward pass (None: available memory)

    @property
    def wants_embeddings(self) -> bool:
        return self.what in ("embeddings", "both")

    @property
    def wants_spectral(self) -> bool:
        return self.what in ("spectral", "both")

    def effective_batch_seconds(self) -> float:
        if self.batch_seconds is not None:
            return self.batch_seconds
        return CPU_BATCH_SECONDS if self.device == "cpu" else GPU_BATCH_SECONDS


def open_stores(interim_dir, split_ids) -> list:
    """The finished step-1 splits, or an InputError naming the ones that are there."""
    stores = []
    for split_id in split_ids:
        try:
            stores.append(WaveStore(Path(interim_dir) / split_id))
        except FileNotFoundError:
            known = sorted(p.parent.name for p in Path(interim_dir).glob("*/info.json"))
            raise InputError(
                f"split {split_id!r} not found in {interim_dir} (found: "
                f"{known or 'none'}): run preprocess_datasets.py first"
            ) from None
    return stores


def job_clips(store, shard: ClusterJob) -> int:
    """The clips of `store` that job `shard` computes."""
    parts = store_parts(store)
    return int(sum(len(parts[p]) for p in shard.parts_of(len(parts))))


def load_checked_model(settings: FeatureSettings, stream=None):
    """The model, resolved, loaded and checked before any feature of any split is computed: a
    wrong id or missing weights stop the run at once, not after hours of spectral features."""
    from deepfake_pipeline.features.ssl_loading import ModelLoadError, load_model

    assert settings.model is not None  # embeddings are wanted
    try:
        loaded = load_model(
            settings.model,
            device=settings.device,
            precision=settings.precision,
            allow_emulated_bf16=settings.allow_emulated_bf16,
        )
    except ModelLoadError as error:
        raise FeatureError(str(error)) from None
    assert loaded.identity is not None  # load_model sets it
    note(
        f"[features] model {loaded.identity.describe()}, embeddings {loaded.tag}: {loaded.arch}, "
        f"{loaded.num_layers} hidden states of {loaded.dim} dims, {loaded.precision} on {loaded.device}"
        + (" (UNTRAINED)" if loaded.untrained else ""),
        stream=stream,
    )
    return loaded


# Audio the bf16 notice times each precision on: enough for a stable ratio, little enough that
# the notice costs seconds at the start of an overnight run.
BF16_PROBE_SECONDS = 8.0


def bf16_notice(loaded, stores: list, settings: FeatureSettings):
    """On a CPU that runs bfloat16 natively, the speed-up bf16 gives on this machine's own first
    clips, and how to check it changes nothing downstream; None elsewhere. float32 stays the
    default: bf16 moves embeddings by ~0.5%, which must be shown harmless on the user's task."""
    import time

    import torch

    from deepfake_pipeline.features.ssl_embed import embed_waveforms
    from deepfake_pipeline.features.ssl_loading import load_model, native_bf16_support

    if settings.device != "cpu" or settings.precision != "float32" or not stores or not len(stores[0]):
        return None
    native, reason = native_bf16_support(torch.device("cpu"))
    if not native:
        return None
    store, clips, seconds = stores[0], [], 0.0
    for i in range(len(store)):
        clips.append(store.waveform(i))
        seconds += len(clips[-1]) / SAMPLE_RATE
        if seconds >= BF16_PROBE_SECONDS:
            break
    assert settings.model is not None  # embeddings are wanted
    bf16 = load_model(settings.model, device="cpu", precision="bfloat16")
    timings = {}
    for name, model in (("float32", loaded), ("bfloat16", bf16)):
        embed_waveforms(model, clips[:1], batch_seconds=0.0)  # warm-up: first-call costs
        started = time.perf_counter()
        embed_waveforms(model, clips, batch_seconds=0.0)
        timings[name] = time.perf_counter() - started
    return (
        f"[features] this CPU runs bfloat16 natively ({reason}): on the first {len(clips)} clips of "
        f"{store.split_id} ({seconds:.1f} s of audio) bf16 took {timings['bfloat16']:.2f} s against "
        f"{timings['float32']:.2f} s in float32 ({timings['float32'] / timings['bfloat16']:.1f}x). float32 stays "
        "the default; --precision bfloat16 is worth it once bench/bf16_downstream.py shows it leaves your "
        "step-3 result unchanged (docs/reference.md, Speed)"
    )


def drift_measurer(loaded, settings: FeatureSettings):
    """`drift(store, layers)` for run_embeddings: the precision_drift record of a bf16 run, against
    a float32 copy of the model loaded for the measurement only (on CPU, memory was checked for
    one model) and released after it."""
    from deepfake_pipeline.features import precision_drift
    from deepfake_pipeline.features.ssl_loading import load_model

    def drift(store, layers):
        assert settings.model is not None  # embeddings are wanted
        reference = load_model(settings.model, device=settings.device, precision="float32")
        try:
            return precision_drift.measure(loaded, reference, store, layers)
        finally:
            del reference
            release_device_memory(settings.device)

    return drift


def release_device_memory(device: str) -> None:
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def compute_features(stores: list, settings: FeatureSettings, processed_dir, stream=None) -> str | None:
    """Spectral statistics and/or pooled hidden states for each split; resumable, see jobs.py.
    Returns the embeddings' file tag (formats/model_identity.py), None without embeddings."""
    loaded = load_checked_model(settings, stream) if settings.wants_embeddings else None
    if loaded is not None and settings.device == "cpu" and not settings.merge_only:
        from deepfake_pipeline.features.memory import GIB, check_fits

        # Before any work: a clip too long for the memory stops the run now, in one line.
        check_fits(
            loaded,
            stores,
            settings.effective_batch_seconds(),
            None if settings.memory_gb is None else settings.memory_gb * GIB,
        )
    pending = (
        []
        if loaded is None or settings.merge_only
        else [store for store in stores if not embeddings_paths(store.split_id, loaded.tag, processed_dir)[0].is_file()]
    )
    if pending:
        # Timing both precisions loads the model a second time: only when there is work it could speed up.
        notice = bf16_notice(loaded, pending, settings)
        if notice:
            note(notice, stream=stream)
    if settings.wants_spectral:
        for store in stores:
            run_spectral(
                store,
                processed_dir,
                settings.shard,
                settings.jobs,
                settings.overwrite,
                settings.merge_only,
                stream=stream,
            )
    if not settings.wants_embeddings:
        return None
    from deepfake_pipeline.features.ssl_embed import embed_waveforms

    def get_model():
        return loaded

    batch_seconds = settings.effective_batch_seconds()

    def embed(model, waveforms, layers):
        return embed_waveforms(model, waveforms, layers=layers, batch_seconds=batch_seconds)

    drift = drift_measurer(loaded, settings) if loaded is not None and loaded.precision != "float32" else None
    for store in stores:
        run_embeddings(
            store,
            processed_dir,
            get_model,
            settings.layers,
            settings.dtype,
            settings.shard,
            settings.overwrite,
            settings.merge_only,
            embed=embed,
            stream=stream,
            drift=drift,
        )
    assert loaded is not None  # loaded whenever embeddings are wanted
    return loaded.tag
