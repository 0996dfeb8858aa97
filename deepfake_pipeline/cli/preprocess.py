"""Step 1: corpora -> per-split manifests and a 16 kHz mono waveform store under data/interim/."""

import argparse
import sys
from pathlib import Path

from deepfake_pipeline.cli.augment import add_augment_options, augment_problem, run_augment
from deepfake_pipeline.cli.common import add_clip_lengths, check_lengths, crop_of, declare_outputs, guarded_main
from deepfake_pipeline.formats.paths import DEFAULT_CORPUS_ROOTS, INTERIM_DIR
from deepfake_pipeline.ingest.corpora import CorpusLayoutError, is_demo_root, safe_id

CORPORA = (
    "asvspoof2019",
    "asvspoof2021_la",
    "asvspoof2021_df",
    "in_the_wild",
    "asvspoof5",
    "fakeavceleb",
    "csv",
    "folder",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="preprocess_datasets.py",
        description="Decode a corpus once into 16 kHz mono shards plus one manifest per split.",
    )
    parser.add_argument(
        "--corpus",
        choices=CORPORA,
        help="asvspoof2019 (LA), asvspoof2021_la / asvspoof2021_df (eval data + keys), "
        "in_the_wild, asvspoof5 (track 1), fakeavceleb (v1.2), "
        "csv (path,label[,speaker,attack,split]) or folder (real/ and fake/ subfolders)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        help="corpus root, CSV file or folder (defaults: data/raw/asvspoof, data/raw/asvspoof2021, "
        "data/raw/in_the_wild, data/raw/asvspoof5, data/raw/fakeav)",
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


def _collect(args) -> dict:
    # The parsers load pandas and the audio libraries: only once the arguments are known.
    from deepfake_pipeline.ingest.corpora.asvspoof import asvspoof_clips
    from deepfake_pipeline.ingest.corpora.asvspoof5 import asvspoof5_clips
    from deepfake_pipeline.ingest.corpora.asvspoof2021 import asvspoof2021_clips
    from deepfake_pipeline.ingest.corpora.fakeavceleb import fakeavceleb_clips
    from deepfake_pipeline.ingest.corpora.in_the_wild import in_the_wild_clips
    from deepfake_pipeline.ingest.corpora.user_audio import csv_clips, folder_clips

    if args.corpus == "asvspoof2019":
        return asvspoof_clips(args.root, args.splits or ("train", "dev", "eval"))
    if args.corpus in ("asvspoof2021_la", "asvspoof2021_df"):
        return asvspoof2021_clips(args.root, args.corpus[-2:].upper(), None if args.subset == "all" else (args.subset,))
    if args.corpus == "in_the_wild":
        return in_the_wild_clips(args.root)
    if args.corpus == "asvspoof5":
        return asvspoof5_clips(args.root, args.splits or ("train", "dev", "eval"))
    if args.corpus == "fakeavceleb":
        split_file = args.interim_dir / f"{args.name}_identity_split.json"
        return fakeavceleb_clips(args.root, split_file, args.seed, args.splits or ("train", "dev", "eval"))
    clips = csv_clips(args.root) if args.corpus == "csv" else folder_clips(args.root)
    if args.splits:
        unknown = sorted(set(args.splits) - set(clips))
        if unknown:
            raise ValueError(f"splits {unknown} are not in {args.root}; it has {sorted(clips)}")
        clips = {s: clips[s] for s in args.splits}
    return clips


def _asv_scores(args, split: str):
    from deepfake_pipeline.ingest.corpora import asvspoof, asvspoof2021

    """Where the organisers' ASV scores of this split are, for the t-DCF (None: it has none)."""
    if args.corpus == "asvspoof2019":
        return asvspoof.asv_scores_of(args.root, split)
    if args.corpus == "asvspoof2021_la":
        return asvspoof2021.asv_scores_of(args.root, "LA", None if args.subset == "all" else (args.subset,))
    return None


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


def _main(argv) -> int:
    args = build_parser().parse_args(argv)
    declare_outputs({"--interim-dir": args.interim_dir})
    if args.jobs == 0 or args.jobs < -1:
        print("error: --jobs must be a positive number of workers, or -1 for all cores", file=sys.stderr)
        return 2
    problem = augment_problem(args) or check_lengths(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.augment:
        return run_augment(args, _summary_line)
    if args.root is None:
        if args.corpus not in DEFAULT_CORPUS_ROOTS:
            print(f"error: --corpus {args.corpus} needs --root (the CSV file or the folder)", file=sys.stderr)
            return 2
        args.root = DEFAULT_CORPUS_ROOTS[args.corpus]
    if args.name is None:
        args.name = args.corpus if args.corpus in DEFAULT_CORPUS_ROOTS else safe_id(args.root.stem)
    elif safe_id(args.name) != args.name:
        print(
            f"error: --name may hold only letters, digits, '.', '_' and '-' (try {safe_id(args.name)})", file=sys.stderr
        )
        return 2
    from deepfake_pipeline.common.lock import output_lock
    from deepfake_pipeline.common.progress import note
    from deepfake_pipeline.formats.paths import split_id
    from deepfake_pipeline.ingest.corpora.fakeavceleb import flag_duplicates
    from deepfake_pipeline.ingest.shards import EveryClipRejected, PlanMismatch, ingest_split

    try:
        clips = _collect(args)
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
                            info_extra={"asv_scores": _asv_scores(args, split)},
                            crop=crop_of(args),
                        )
                    )
            except EveryClipRejected as error:  # the other splits are still worth finishing
                unusable.append(error)
        if args.corpus == "fakeavceleb" and summaries:
            duplicates = flag_duplicates([s.split_dir for s in summaries])
            by_category = duplicates["category"].value_counts().sort_index().to_dict()
            print(
                f"[preprocess {args.name}] {len(duplicates):,} clips share their decoded audio with an "
                f"earlier clip (column duplicate_of): {by_category or 'none'}"
            )
    except (CorpusLayoutError, PlanMismatch, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for summary in summaries:
        print(_summary_line(summary.info, summary.split_dir / "rejects.csv"))
    if unusable:
        print(
            f"error: {'; '.join(map(str, unusable))}, fix or replace those clips and rerun the same command",
            file=sys.stderr,
        )
        return 2
    return 0
