"""Step 3: the logistic-regression baseline on spectral features or frozen embeddings, scored as
the field scores (ROC-AUC and EER with speaker-clustered bootstrap CIs, per attack, beside a
silence-only shortcut), with C (and the layer) chosen on dev data only; or, with --score, a
fitted run's model applied to new clips."""

import argparse
from pathlib import Path

from deepfake_pipeline.baseline import DEFAULT_C_GRID, DEFAULT_TOP_DB, DEV_BY_CV, SELECTION_CRITERIA
from deepfake_pipeline.cli.common import (
    add_clip_lengths,
    add_run_paths,
    add_threads,
    check_lengths,
    crop_of,
    declare_outputs,
    guarded_main,
    limited_threads,
    parse_or_refuse,
)
from deepfake_pipeline.cli.replay import add_config
from deepfake_pipeline.common.errors import PipelineError
from deepfake_pipeline.ingest import DEFAULT_MAX_DURATION_S, DEFAULT_MIN_DURATION_S

# The options that turn this script from fitting a run into scoring clips: never replayed by --config.
SCORING_MODE = ("score", "from_run", "out")


class OneOrMany(argparse.Action):
    """One value as itself, several as a list: config.json then records a single --train as every
    run before several existed did, so those runs replay unchanged (cli/replay.py)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values[0] if len(values) == 1 else list(values))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eval_logreg.py",
        description="Fit StandardScaler + LogisticRegression on --train, choose C (and layer) on --dev "
        "(or by speaker-grouped CV on --train: --dev cv), report ROC-AUC and EER on each --test split; or "
        "speaker-grouped nested CV on one split (--cv).",
    )
    feats = parser.add_argument_group("features")
    feats.add_argument("--features", choices=("spectral", "embeddings"), help="which step-2 features to fit on")
    feats.add_argument(
        "--model",
        help="embeddings of this model (as given to features.py, e.g. random:base or "
        "facebook/wav2vec2-base); default: the only one computed",
    )
    layer = feats.add_mutually_exclusive_group()
    layer.add_argument(
        "--layer",
        type=int,
        help="one layer (0 = the input of transformer layer 1, i = the output of transformer layer i)",
    )
    layer.add_argument("--layers", type=int, nargs="+", help="concatenate these layers")
    layer.add_argument(
        "--layer-sweep",
        action="store_true",
        help="every stored layer in turn; the layer is chosen on dev (the default for embeddings)",
    )

    proto = parser.add_argument_group("protocol")
    proto.add_argument(
        "--train",
        nargs="+",
        action=OneOrMany,
        help="split id(s) to fit on, e.g. asvspoof2019_train; several (e.g. asvspoof2019_train "
        "asvspoof2019_train+rawboost5) are fitted on as one",
    )
    proto.add_argument(
        "--dev",
        help="split id to choose C (and layer) on, e.g. asvspoof2019_dev; or 'cv' when there is no dev split: "
        "choose them by speaker-grouped --folds-fold cross-validation on --train, then refit on all of it",
    )
    proto.add_argument("--test", nargs="+", default=[], help="held-out split id(s) to report, e.g. asvspoof2019_eval")
    proto.add_argument("--cv", help="a single split: speaker-grouped K-fold cross-validation instead")
    proto.add_argument("--folds", type=int, default=5, help="folds for --cv and --dev cv (default %(default)s)")
    proto.add_argument("--inner-folds", type=int, help="folds of the inner CV choosing C in --cv (default: --folds)")
    proto.add_argument(
        "--C-grid",
        type=float,
        nargs="+",
        default=list(DEFAULT_C_GRID),
        dest="C_grid",
        help="inverse regularisation strengths to choose from (default %(default)s)",
    )
    proto.add_argument(
        "--select-by",
        choices=SELECTION_CRITERIA,
        default="auc",
        help="dev metric that chooses C and layer (default %(default)s)",
    )
    proto.add_argument(
        "--allow-overlap",
        action="store_true",
        help="report a test split even when more than a handful of its clips have the same audio as "
        "training or dev clips (refused by default: such a test is not held out)",
    )
    proto.add_argument(
        "--keep-duplicates",
        action="store_true",
        help="score clips that step 1 marked as copies of another clip's audio (FakeAVCeleb's "
        "duplicate_of); left out by default, since a copy counts one trial twice",
    )
    proto.add_argument("--seed", type=int, default=0)
    proto.add_argument(
        "--n-boot", type=int, default=1000, help="bootstrap resamples (clustered by speaker) for the 95%% CIs; 0 = none"
    )
    proto.add_argument(
        "--silence-top-db",
        type=float,
        default=DEFAULT_TOP_DB,
        help="librosa trim threshold (dB below the peak) of the silence-only check (default %(default)s)",
    )
    proto.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="parallel fits (threads); with --score, processes decoding and featurising the clips",
    )

    score = parser.add_argument_group("scoring new clips")
    score.add_argument(
        "--score",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="audio files, a folder, or a CSV (path[,label]) to score with --from-run's model",
    )
    score.add_argument("--from-run", type=Path, help="a results/<run> folder written by this script")
    score.add_argument(
        "--out",
        type=Path,
        metavar="scores.csv",
        help="also write the results to this CSV (path,score,verdict,threshold,rejected); an existing file is "
        "replaced only with --overwrite",
    )
    add_clip_lengths(parser, "scoring new clips: their lengths, as step 1 takes them (--score only)")

    add_run_paths(parser, overwrite_help="replace an existing --run of the same name")
    add_threads(parser)
    add_config(parser)
    return parser


def _check_args(args) -> str | None:
    """A message saying what to fix, or None."""
    if args.jobs < 1:
        return "--jobs must be at least 1"
    if args.score:
        if args.from_run is None:
            return "--score needs --from-run results/<run> (a run of this script that fitted the model)"
        if args.out is not None:
            if args.out.exists() and not (args.overwrite and args.out.is_file()):
                return f"--out {args.out} exists: choose another file, or pass --overwrite to replace it"
            if not args.out.parent.is_dir():
                return f"--out {args.out}: the folder {args.out.parent} does not exist; create it first"
        return check_lengths(args)
    if args.out is not None:
        return "--out applies to --score only: a run writes its score files under results/<run>/scores/"
    if (
        args.crop is not None
        or args.crop_at != "start"
        or args.min_duration != DEFAULT_MIN_DURATION_S
        or args.max_duration != DEFAULT_MAX_DURATION_S
    ):
        return (
            "--min-duration/--max-duration/--crop/--crop-at apply to --score only: the corpus splits got "
            "theirs from preprocess_datasets.py"
        )
    if args.features is None:
        return "choose --features spectral or --features embeddings"
    if args.features == "spectral" and (args.model or args.layer is not None or args.layers or args.layer_sweep):
        return "--model/--layer/--layers/--layer-sweep apply to --features embeddings only"
    if args.cv:
        if args.train or args.dev or args.test:
            return "--cv replaces --train/--dev/--test: give either one split to --cv or all three"
        if args.folds < 2 or (args.inner_folds is not None and args.inner_folds < 2):
            return "--folds and --inner-folds must be at least 2"
    elif args.dev == DEV_BY_CV and args.train and args.test:
        if not isinstance(args.train, str):
            return (
                "--dev cv takes one --train split for now (its out-of-fold scores are named by it): give a dev "
                "split to fit on several, e.g. --train A A+rawboost5 --dev SPLIT"
            )
        if args.folds < 2:
            return "--folds must be at least 2"
        if args.inner_folds is not None:
            return "--inner-folds applies to --cv only: with --dev cv, --folds says how many folds choose C"
    elif not (args.train and args.dev and args.test):
        return (
            "give --train SPLIT --dev SPLIT --test SPLIT [SPLIT ...] (e.g. asvspoof2019_train, asvspoof2019_dev, "
            "asvspoof2019_eval), --dev cv to choose C by cross-validation on --train when there is no dev split, "
            "or --cv SPLIT for a corpus with a single split"
        )
    if any(C <= 0 for C in args.C_grid):
        return "--C-grid values must be positive"
    if args.n_boot < 0:
        return "--n-boot must be >= 0 (0 skips the confidence intervals)"
    return None


def _spec(args):
    from deepfake_pipeline.formats.feature_sets import FeatureSpec

    if args.features == "spectral":
        return FeatureSpec("spectral")
    sweep = args.layer_sweep or (args.layer is None and not args.layers)
    return FeatureSpec(
        "embeddings",
        model=args.model,
        layer=args.layer,
        layers=tuple(args.layers) if args.layers else None,
        sweep=sweep,
    )


def _default_run_name(args, spec) -> str:
    from deepfake_pipeline.formats.feature_files import model_tag
    from deepfake_pipeline.formats.model_identity import ModelIdentityError

    if spec.kind == "spectral":
        what = "spectral"
    elif not spec.model:
        what = "embeddings"
    else:
        try:
            what = model_tag(spec.model)
        except ModelIdentityError:  # a folder that is not here: reading its embeddings says so, in one line
            what = Path(spec.model).name
    if spec.kind == "embeddings":
        what += (
            "_sweep" if spec.sweep else (f"_L{'+'.join(map(str, spec.layers))}" if spec.layers else f"_L{spec.layer}")
        )
    train = args.train if isinstance(args.train, str) else "+".join(args.train or ())
    if args.cv:
        protocol = f"cv{args.folds}_{args.cv}"
    elif args.dev == DEV_BY_CV:
        protocol = f"{train}_cv{args.folds}_to_{'+'.join(args.test)}"
    else:
        protocol = f"{train}_to_{'+'.join(args.test)}"
    return f"logreg_{what}_{protocol}"


def main(argv=None) -> int:
    return guarded_main(_main, argv)


def _main(argv) -> int:
    args = parse_or_refuse(build_parser(), _check_args, argv, modes=SCORING_MODE)
    if args is None:
        return 2
    declare_outputs({"--results-dir": args.results_dir, "--processed-dir": args.processed_dir})
    with limited_threads(args.threads):
        return _run(args)


def _run(args) -> int:
    # Imported once the arguments are known, so that --help and a wrong argument answer at once.
    from deepfake_pipeline.baseline.protocols import BaselineSettings, run_baseline
    from deepfake_pipeline.baseline.train_cv import run_train_cv
    from deepfake_pipeline.formats.run_dir import RunDir

    if args.score:
        from deepfake_pipeline.baseline.score_new import score_paths

        # A path that is not there or cannot be scored, a malformed CSV line (PipelineErrors all)
        # ends in guarded_main as one `error:` line.
        return score_paths(
            args.score,
            args.from_run,
            seed=args.seed,
            jobs=args.jobs,
            lengths={
                "min_duration_s": args.min_duration,
                "max_duration_s": args.max_duration,
                "crop": crop_of(args),
            },
            out=args.out,
        )
    spec = _spec(args)
    settings = BaselineSettings(
        spec=spec,
        train=args.train,
        dev=args.dev,
        tests=list(args.test),
        cv=args.cv,
        folds=args.folds,
        inner_folds=args.inner_folds,
        C_grid=tuple(sorted(args.C_grid)),
        seed=args.seed,
        n_boot=args.n_boot,
        select_by=args.select_by,
        jobs=args.jobs,
        top_db=args.silence_top_db,
        interim_dir=args.interim_dir,
        processed_dir=args.processed_dir,
        allow_overlap=args.allow_overlap,
        keep_duplicates=args.keep_duplicates,
    )
    config_args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    run = RunDir(  # a RunDirError is a PipelineError: guarded_main prints it
        args.results_dir,
        args.run or _default_run_name(args, spec),
        explicit=bool(args.run),
        overwrite=args.overwrite,
        args=config_args,
    )
    from deepfake_pipeline.common.lock import output_lock
    from deepfake_pipeline.common.progress import note

    try:
        with output_lock(run.path, f"the run {run.path}", note=note):
            (run_train_cv if settings.protocol == "train_cv" else run_baseline)(settings, run, config_args)
    except PipelineError as error:  # guarded_main prints it as the closing `error:` line, exit 2
        if run.created:
            with run.log_path.open("a") as log:
                log.write(f"error: {error}\n")
        raise
    return 0
