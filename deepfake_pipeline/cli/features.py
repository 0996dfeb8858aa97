"""Step 2: spectral statistics and frozen self-supervised (wav2vec2, HuBERT, WavLM, data2vec-audio)
embeddings of every layer per corpus split."""

import argparse
from pathlib import Path

from deepfake_pipeline.cli.common import add_threads, declare_outputs, guarded_main, limited_threads, parse_or_refuse
from deepfake_pipeline.features.cluster_job import ClusterJob
from deepfake_pipeline.formats.paths import INTERIM_DIR, PROCESSED_DIR

MODEL_REQUIRED = (
    "name the model whose embeddings to compute with --model: a Hugging Face id "
    "(facebook/wav2vec2-base, facebook/wav2vec2-xls-r-300m, microsoft/wavlm-base-plus, ...), a local "
    "folder, or random:base for an UNTRAINED model (smoke tests only); or pass --what spectral"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="features.py",
        description="Compute spectral statistics and mean-pooled hidden states of every layer of a "
        "frozen self-supervised speech model (wav2vec2 / XLS-R, HuBERT, WavLM, data2vec-audio) "
        "for corpus splits made by preprocess_datasets.py. Resumable: "
        "rerun the same command after a crash.",
    )
    parser.add_argument("--splits", nargs="+", required=True, help="split ids, e.g. asvspoof2019_dev")
    parser.add_argument("--what", choices=("spectral", "embeddings", "both"), default="both")
    parser.add_argument(
        "--model",
        help="required for embeddings: a Hugging Face id (facebook/wav2vec2-base, "
        "facebook/wav2vec2-xls-r-300m, facebook/hubert-base-ls960, microsoft/wavlm-base-plus, "
        "facebook/data2vec-audio-base), a local folder, or random:<arch> for an UNTRAINED "
        "model (smoke runs, benchmarks; e.g. random:base, random:wavlm-base). It is loaded "
        "and checked before any work starts",
    )
    parser.add_argument(
        "--layers",
        type=int,
        nargs="+",
        help="hidden states to keep (0 = the input of transformer layer 1, i = the output of transformer layer i; "
        "default: all; see docs/DESIGN.md)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float16", "float32"),
        default="float16",
        help="storage type of the embeddings (default %(default)s)",
    )
    parser.add_argument(
        "--precision",
        choices=("float32", "bfloat16"),
        default="float32",
        help="arithmetic of the model (bfloat16 only where the CPU supports it)",
    )
    parser.add_argument(
        "--allow-emulated-bf16",
        action="store_true",
        help="run --precision bfloat16 even where the CPU only emulates it (several times "
        "slower than float32): for checking what bf16 does to the results, not for speed",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument(
        "--batch-seconds",
        type=float,
        help="audio per forward pass, in sorted length-matched batches (default: 0 = one "
        "clip per pass on cpu, no padding at all and as fast as batching there; 32 on cuda)",
    )
    parser.add_argument(
        "--memory-gb",
        type=float,
        help="memory (GiB) one forward pass may use beyond the loaded model; a split whose "
        "longest clip needs more is refused before any work (default: the memory "
        "available now; cpu only; docs/reference.md, 'Long clips')",
    )
    parser.add_argument("--shard", default="1/1", help="K/N: this job's share of the work (cluster arrays)")
    parser.add_argument("--merge-only", action="store_true", help="only join the parts that --shard jobs wrote")
    parser.add_argument("--jobs", type=int, default=-1, help="processes for spectral features (default: all cores)")
    parser.add_argument("--interim-dir", type=Path, default=INTERIM_DIR)
    parser.add_argument("--processed-dir", type=Path, default=PROCESSED_DIR)
    parser.add_argument("--overwrite", action="store_true", help="discard earlier output and recompute")
    add_threads(parser)
    return parser


def main(argv=None) -> int:
    return guarded_main(_main, argv)


def _check_args(args) -> str | None:
    """Why these arguments cannot run, or None (parse_or_refuse prints it as one `error:` line)."""
    if args.what != "spectral" and not args.model:
        return MODEL_REQUIRED
    if args.jobs == 0 or args.jobs < -1:
        return "--jobs must be a positive number of workers, or -1 for all cores"
    try:
        ClusterJob.parse(args.shard)
    except ValueError as error:
        return str(error)
    return None


def _main(argv) -> int:
    args = parse_or_refuse(build_parser(), _check_args, argv)
    if args is None:
        return 2
    declare_outputs({"--processed-dir": args.processed_dir})
    with limited_threads(args.threads):
        return _run(args)


def _run(args) -> int:
    # The libraries load once the arguments are known, so --help and a wrong argument answer at once.
    import contextlib

    from deepfake_pipeline.common.lock import output_lock
    from deepfake_pipeline.common.progress import note
    from deepfake_pipeline.evaluation import closing
    from deepfake_pipeline.features.extract import FeatureSettings, compute_features, job_clips, open_stores

    settings = FeatureSettings(
        what=args.what,
        model=args.model,
        layers=args.layers,
        dtype=args.dtype,
        precision=args.precision,
        device=args.device,
        allow_emulated_bf16=args.allow_emulated_bf16,
        batch_seconds=args.batch_seconds,
        shard=ClusterJob.parse(args.shard),
        jobs=args.jobs,
        overwrite=args.overwrite,
        merge_only=args.merge_only,
        memory_gb=args.memory_gb,
    )
    stores = open_stores(args.interim_dir, args.splits)  # an InputError names a split step 1 has not made
    with contextlib.ExitStack() as locks:
        # One run per split and --shard: jobs of a cluster array share a split by design.
        shard = "" if settings.shard.count == 1 else f".shard{settings.shard.index}of{settings.shard.count}"
        for store in stores:
            locks.enter_context(
                output_lock(
                    Path(args.processed_dir) / f"{store.split_id}{shard}",
                    f"the features of {store.split_id}",
                    note=note,
                )
            )
        tag = compute_features(stores, settings, args.processed_dir)
    untrained = settings.wants_embeddings and args.model.startswith("random:")
    for store in stores:
        caveats = closing.caveat_suffix(untrained, bool(store.info.get("demo")))
        # A --shard job counts the clips it did, not the split's total.
        print(
            f"FEATURES split={store.split_id} clips={job_clips(store, settings.shard)} what={args.what} "
            f"model={args.model if settings.wants_embeddings else '-'} "
            + (f"embeddings={tag} " if tag else "")
            + f"shard={settings.shard.index}/{settings.shard.count}{caveats}"
        )
    return 0
