"""Step 2: spectral statistics and frozen Wav2Vec2 embeddings (every layer) per corpus split."""

import argparse
import sys
from pathlib import Path

from ..feature_jobs import ShardSpec, run_embeddings, run_spectral
from ..feature_store import FeatureError, model_tag
from ..paths import INTERIM_DIR, PROCESSED_DIR
from ..wavestore import WaveStore

DEFAULT_MODEL = "random:base"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="features.py",
        description="Compute spectral statistics and mean-pooled hidden states of every layer of a "
                    "frozen Wav2Vec2 for corpus splits made by preprocess_datasets.py. Resumable: "
                    "rerun the same command after a crash.")
    parser.add_argument("--splits", nargs="+", required=True, help="split ids, e.g. asvspoof2019_dev")
    parser.add_argument("--what", choices=("spectral", "embeddings", "both"), default="both")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="Hugging Face id (facebook/wav2vec2-base, facebook/wav2vec2-xls-r-300m), a "
                             "local folder, or random:<arch> for an UNTRAINED model (smoke runs, "
                             "benchmarks). Default: %(default)s")
    parser.add_argument("--layers", type=int, nargs="+",
                        help="layer indices to keep (0 = CNN feature projection; default: all)")
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16",
                        help="storage type of the embeddings (default %(default)s)")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                        help="arithmetic of the model (bfloat16 only where the CPU supports it)")
    parser.add_argument("--allow-emulated-bf16", action="store_true",
                        help="run --precision bfloat16 even where the CPU only emulates it (several times "
                             "slower than float32): for checking what bf16 does to the results, not for speed")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--batch-seconds", type=float,
                        help="audio per forward pass, in sorted length-matched batches (default: 0 = one "
                             "clip per pass on cpu, no padding at all and as fast as batching there; 32 on cuda)")
    parser.add_argument("--shard", default="1/1", help="K/N: this job's share of the work (cluster arrays)")
    parser.add_argument("--merge-only", action="store_true",
                        help="only join the parts that --shard jobs wrote")
    parser.add_argument("--jobs", type=int, default=-1, help="processes for spectral features (default: all cores)")
    parser.add_argument("--interim-dir", type=Path, default=INTERIM_DIR)
    parser.add_argument("--processed-dir", type=Path, default=PROCESSED_DIR)
    parser.add_argument("--overwrite", action="store_true", help="discard earlier output and recompute")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        shard = ShardSpec.parse(args.shard)
        if args.jobs == 0 or args.jobs < -1:
            raise ValueError("--jobs must be a positive number of workers, or -1 for all cores")
        stores = []
        for sid in args.splits:
            try:
                stores.append(WaveStore(args.interim_dir / sid))
            except FileNotFoundError:
                known = sorted(p.parent.name for p in args.interim_dir.glob("*/info.json"))
                raise ValueError(f"split {sid!r} not found in {args.interim_dir} (found: "
                                 f"{known or 'none'}): run preprocess_datasets.py first") from None
        if args.what in ("spectral", "both"):
            for store in stores:
                run_spectral(store, args.processed_dir, shard, args.jobs, args.overwrite, args.merge_only)
        if args.what in ("embeddings", "both"):
            from ..wav2vec import ModelLoadError, embed_waveforms, load_model  # torch only when needed

            loaded = []

            def get_model():
                if not loaded:
                    try:
                        loaded.append(load_model(args.model, device=args.device, precision=args.precision,
                                                 allow_emulated_bf16=args.allow_emulated_bf16))
                    except ModelLoadError as error:
                        raise FeatureError(str(error)) from None
                return loaded[0]

            tag = model_tag(args.model, args.precision)
            batch_seconds = args.batch_seconds if args.batch_seconds is not None else (
                0.0 if args.device == "cpu" else 32.0)
            for store in stores:
                run_embeddings(
                    store, args.processed_dir, tag, get_model, args.layers, args.dtype, shard,
                    args.overwrite, args.merge_only,
                    embed=lambda model, waves, layers: embed_waveforms(model, waves, layers=layers,
                                                                batch_seconds=batch_seconds))
    except (FeatureError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    untrained = args.what != "spectral" and args.model.startswith("random:")
    for store in stores:
        caveats = (" [untrained model: not a detection result]" if untrained else "") + \
                  (" [demo corpus]" if store.info.get("demo") else "")
        print(f"FEATURES split={store.split_id} clips={len(store)} what={args.what} "
              f"model={args.model if args.what != 'spectral' else '-'} "
              f"shard={shard.index}/{shard.count}{caveats}")
    return 0
