"""Step 1's `--augment`: a derived split (augmented or degraded copies of an ingested split) made
from that split's store, its arguments checked here and the work done by augment/derive.py."""

import sys

from deepfake_pipeline.ingest import DEFAULT_MAX_DURATION_S, DEFAULT_MIN_DURATION_S

# Options of --corpus that a derived split takes from its source instead.
_CORPUS_ONLY = ("root", "name", "splits", "crop")


def add_augment_options(parser) -> None:
    group = parser.add_argument_group("derived splits (instead of --corpus)")
    group.add_argument(
        "--augment",
        metavar="SPLIT",
        help="an ingested split id (e.g. asvspoof2019_train) to make copies of, through --recipe; "
        "writes the split SPLIT+<recipe>",
    )
    group.add_argument(
        "--recipe",
        help="what each copy goes through, e.g. rawboost5, mp3-32k, mulaw-8k, noise:<folder>[:snr=LO-HI], "
        "rir:<folder> (docs/augmentation.md lists them)",
    )
    group.add_argument("--copies", type=int, default=1, help="copies per clip, each drawn afresh (default 1)")
    group.add_argument("--shard", default="1/1", help="K/N: this job's share of the shards (cluster arrays)")


def augment_problem(args) -> str | None:
    """Why the arguments cannot run, or None."""
    if args.augment is None:
        if args.corpus is None:
            return (
                "give --corpus KIND (a corpus to ingest) or --augment SPLIT --recipe NAME (copies of an ingested split)"
            )
        if args.recipe or args.copies != 1 or args.shard != "1/1":
            return "--recipe/--copies/--shard apply to --augment SPLIT only"
        return None
    if args.corpus is not None:
        return "give either --corpus (ingest a corpus) or --augment (copies of an ingested split), not both"
    if not args.recipe:
        return f"--augment {args.augment} needs --recipe NAME, e.g. rawboost5 or mp3-32k"
    given = [f"--{option}" for option in _CORPUS_ONLY if getattr(args, option) is not None]
    if args.min_duration != DEFAULT_MIN_DURATION_S or args.max_duration != DEFAULT_MAX_DURATION_S:
        given.append("--min-duration/--max-duration")
    if given:
        return f"{', '.join(given)} apply to --corpus; a derived split takes its source's clips as they are"
    if args.copies < 1:
        return f"--copies must be at least 1 (got {args.copies})"
    from deepfake_pipeline.features.cluster_job import ClusterJob

    try:
        ClusterJob.parse(args.shard)
    except ValueError as error:
        return str(error)
    return None


def run_augment(args, summary_line) -> int:
    """Make, resume or find the derived split; `summary_line(info, rejects_path)` is step 1's."""
    from deepfake_pipeline.augment.derive import DeriveRequest, derive_split, derived_split_id
    from deepfake_pipeline.augment.recipes import recipe_from_spec
    from deepfake_pipeline.common.lock import output_lock
    from deepfake_pipeline.common.progress import note
    from deepfake_pipeline.features.cluster_job import ClusterJob
    from deepfake_pipeline.ingest.shards import EveryClipRejected

    cluster_job = ClusterJob.parse(args.shard)
    recipe = recipe_from_spec(args.recipe)  # an InputError names what is wrong with the spec
    try:
        request = DeriveRequest(args.augment, args.recipe, args.copies, args.seed)
        folder = args.interim_dir / derived_split_id(args.augment, recipe.name)
        # One run per derived split and --shard: the jobs of a cluster array share it by design.
        job = "" if cluster_job.count == 1 else f".shard{cluster_job.index}of{cluster_job.count}"
        with output_lock(folder.with_name(folder.name + job), f"split {folder.name}", note=note):
            summary = derive_split(
                request, recipe, args.interim_dir, jobs=args.jobs, cluster_job=cluster_job, overwrite=args.overwrite
            )
    except EveryClipRejected as error:
        print(f"error: {error}: no copy could be made, so there is no split to use", file=sys.stderr)
        return 2
    # Any other refusal (DeriveError, PlanMismatch, StoreError, ...) is a PipelineError: it ends in
    # guarded_main as one error: line.
    if summary is not None:
        print(summary_line(summary.info, summary.split_dir / "rejects.csv"))
    return 0
