"""Step 1: corpora -> per-split manifests and a 16 kHz mono waveform store under data/interim/."""

import argparse
import sys
from pathlib import Path

from deepfake_pipeline.cli.augment import add_augment_options, augment_problem, run_augment
from deepfake_pipeline.cli.common import (
    add_clip_lengths,
    check_lengths,
    crop_of,
    declare_outputs,
    guarded_main,
    parse_or_refuse,
)
from deepfake_pipeline.formats.paths import INTERIM_DIR, RAW_DIR
from deepfake_pipeline.ingest.corpora import is_demo_root, safe_id
from deepfake_pipeline.ingest.corpora.registry import CorpusRequest, corpus, declared


def build_parser() -> argparse.ArgumentParser:
    kinds = declared()
    parser = argparse.ArgumentParser(
        prog="preprocess_datasets.py",
        description="Decode a corpus once into 16 kHz mono shards plus one manifest per split.",
    )
    parser.add_argument(
        "--corpus",
        choices=list(kinds),
        help=", ".join(kind.described for kind in kinds.values() if kind.described),
    )
    parser.add_argument(
        "--root",
        type=Path,
        help="corpus root, CSV file or folder (defaults: "
        + ", ".join(sorted({f"data/raw/{c.default_folder}" for c in kinds.values() if c.default_folder}))
        + ")",
    )
    parser.add_argument(
        "--name", help="corpus name used in split ids (default: the corpus kind, or the CSV/folder name)"
    )
    parser.add_argument("--splits", nargs="+", help="splits to ingest (default: all)")
    parser.add_argument(
        "--subset",
        default="eval",
        help="ASVspoof 2021: the key file's subset to ingest: eval (default, what the organisers "
        "rank on), progress, hidden_track, or all",
    )
    parser.add_argument("--interim-dir", type=Path, default=INTERIM_DIR)
    parser.add_argument("--jobs", type=int, default=-1, help="worker processes (default: all cores)")
    add_clip_lengths(parser)
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the FakeAVCeleb identity split, or of --augment's draws"
    )
    add_augment_options(parser)
    parser.add_argument(
        "--overwrite", action="store_true", help="delete earlier output for these splits and start again"
    )
    return parser


def _summary_line(info: dict, rejects_path: Path) -> str:
    attacks = ", ".join(f"{k} {v:,}" for k, v in info["spoof_per_attack"].items()) or "none"
    lines = [
        f"[preprocess {info['split_id']}] {info['num_clips']:,} clips, {info['hours']:.2f} h, "
        f"bona fide {info['num_bonafide']:,} / spoof {info['num_spoof']:,}"
        + (f" / unlabelled {info['num_unlabelled']:,}" if info["num_unlabelled"] else ""),
        f"[preprocess {info['split_id']}] spoof per attack: {attacks}",
    ]
    if info["num_rejected"]:
        reasons = ", ".join(f"{k} {v}" for k, v in info["rejected_by_reason"].items())
        lines.append(
            f"[preprocess {info['split_id']}] rejected {info['num_rejected']} clips ({reasons}): "
            f"listed in {rejects_path}"
        )
    caveat = " [demo corpus]" if info["demo"] else ""
    lines.append(
        f"PREPROCESS split={info['split_id']} clips={info['num_clips']} hours={info['hours']:.3f} "
        f"bonafide={info['num_bonafide']} spoof={info['num_spoof']} "
        f"rejected={info['num_rejected']}{caveat}"
    )
    return "\n".join(lines)


def main(argv=None) -> int:
    return guarded_main(_main, argv)


def _check_args(args) -> str | None:
    """Why these arguments cannot run, or None (parse_or_refuse prints it as one `error:` line).
    Fills in the corpus's default --root and --name on the way."""
    if args.jobs == 0 or args.jobs < -1:
        return "--jobs must be a positive number of workers, or -1 for all cores"
    problem = augment_problem(args) or check_lengths(args)
    if problem or args.augment:
        return problem
    kind = declared()[args.corpus]
    if args.root is None:
        if kind.default_folder is None:
            return f"--corpus {args.corpus} needs --root (the CSV file or the folder)"
        args.root = kind.default_root(RAW_DIR)
    if args.name is None:
        args.name = args.corpus if kind.default_folder is not None else safe_id(args.root.stem)
    elif safe_id(args.name) != args.name:
        return f"--name may hold only letters, digits, '.', '_' and '-' (try {safe_id(args.name)})"
    return None


def _main(argv) -> int:
    args = parse_or_refuse(build_parser(), _check_args, argv)
    if args is None:
        return 2
    declare_outputs({"--interim-dir": args.interim_dir})
    if args.augment:
        return run_augment(args, _summary_line)
    from deepfake_pipeline.common.lock import output_lock
    from deepfake_pipeline.common.progress import note
    from deepfake_pipeline.formats.paths import split_id
    from deepfake_pipeline.ingest.shards import EveryClipRejected, ingest_split

    request = CorpusRequest(
        args.root, args.name, tuple(args.splits) if args.splits else None, args.subset, args.interim_dir, args.seed
    )
    # A corpus the parsers refuse (CorpusLayoutError, InputError: PipelineErrors) ends in guarded_main,
    # which prints one `error:` line; any other exception is a bug and keeps its traceback.
    chosen = corpus(args.corpus)
    clips = chosen.clips(request)
    demo = is_demo_root(args.root)
    summaries, unusable = [], []
    for split, split_clips in clips.items():
        sid = split_id(args.name, split)
        try:
            with output_lock(args.interim_dir / sid, f"split {sid}", note=note):
                summaries.append(
                    ingest_split(
                        split_clips,
                        args.interim_dir,
                        args.name,
                        split,
                        jobs=args.jobs,
                        min_duration_s=args.min_duration,
                        max_duration_s=args.max_duration,
                        demo=demo,
                        source_root=str(args.root.resolve()),
                        overwrite=args.overwrite,
                        info_extra={"asv_scores": chosen.asv_scores(request, split)},
                        crop=crop_of(args),
                    )
                )
        except EveryClipRejected as error:  # the other splits are still worth finishing
            unusable.append(error)
    if chosen.after_ingest is not None and summaries:
        line = chosen.after_ingest(request, [s.split_dir for s in summaries])
        if line:
            print(line)
    for summary in summaries:
        print(_summary_line(summary.info, summary.split_dir / "rejects.csv"))
    if unusable:
        print(
            f"error: {'; '.join(map(str, unusable))}, fix or replace those clips and rerun the same command",
            file=sys.stderr,
        )
        return 2
    return 0
