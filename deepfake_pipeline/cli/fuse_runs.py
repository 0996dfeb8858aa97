"""Fuse two or more finished runs scored on the same trials: a prior-weighted logistic-regression
fusion fitted on their dev scores, applied to each test split and reported like a step-3 run in a
run folder of its own, with a verdict against each input run."""

import argparse
import sys
from pathlib import Path

from deepfake_pipeline.cli.common import add_threads, declare_outputs, guarded_main, limited_threads, parse_or_refuse
from deepfake_pipeline.cli.replay import add_config
from deepfake_pipeline.formats.paths import INTERIM_DIR, RESULTS_DIR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fuse_runs.py",
        description="Fuse the scores of two or more eval_logreg.py runs (or earlier fusions) scored on the same "
        "dev and test trials; the fusion is fitted on dev and reported like any run.",
    )
    parser.add_argument(
        "--runs",
        nargs="+",
        type=Path,
        required=True,
        metavar="results/<run>",
        help="the run folders to fuse (two or more, each with its dev scores: scores/<dev>.dev.txt)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resamples (default %(default)s)")
    parser.add_argument(
        "--n-boot", type=int, default=1000, help="bootstrap resamples (clustered by speaker) for the 95%% CIs; 0 = none"
    )
    out = parser.add_argument_group("paths")
    out.add_argument("--run", help="name of the fusion's results folder (default: fusion_<run>+<run>...)")
    out.add_argument("--overwrite", action="store_true", help="replace an existing --run of the same name")
    out.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    out.add_argument(
        "--interim-dir",
        type=Path,
        help="step 1's folder, where the trials' labels and speakers are read (default: the one the first "
        f"run's config.json records, else {INTERIM_DIR})",
    )
    add_threads(parser)
    add_config(parser)
    return parser


def _check_args(args):
    if len(args.runs) < 2:
        return "--runs needs two or more run folders to fuse"
    resolved = [path.resolve() for path in args.runs]
    if len(set(resolved)) != len(resolved):
        return "--runs names one run twice: fuse different runs"
    missing = [str(path) for path in args.runs if not path.is_dir()]
    if missing:
        return f"--runs: not a folder: {', '.join(missing)}; give results/<run> folders"
    if args.n_boot < 0:
        return "--n-boot must be >= 0 (0 skips the confidence intervals)"
    return None


def default_run_name(runs) -> str:
    return "fusion_" + "+".join(Path(path).name for path in runs)


def interim_dir_of(args, first_run) -> Path:
    """--interim-dir, else the folder the first run read its splits from (as step 4 defaults to
    its baseline's), else the project's."""
    if args.interim_dir is not None:
        return args.interim_dir
    recorded = (first_run.config.get("args") or {}).get("interim_dir")
    return Path(recorded) if recorded else INTERIM_DIR


def main(argv=None) -> int:
    return guarded_main(_main, argv)


def _main(argv) -> int:
    args = parse_or_refuse(build_parser(), _check_args, argv)
    if args is None:
        return 2
    declare_outputs({"--results-dir": args.results_dir})
    with limited_threads(args.threads):
        return _run(args)


def _run(args) -> int:
    # Imported once the arguments are known, so that --help and a wrong argument answer at once.
    from deepfake_pipeline.common.lock import output_lock
    from deepfake_pipeline.common.progress import note
    from deepfake_pipeline.formats.run_dir import RunDir, RunDirError
    from deepfake_pipeline.fusion.experiment import fuse, read_runs
    from deepfake_pipeline.fusion.fit import FusionError
    from deepfake_pipeline.fusion.inputs import InputRunError
    from deepfake_pipeline.fusion.report import config_features, input_records, report_fusion
    from deepfake_pipeline.fusion.trials import TrialsError

    config_args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    config_args["runs"] = [str(path) for path in args.runs]
    try:
        runs = read_runs(args.runs)
        interim_dir = interim_dir_of(args, runs[0])
        config_args["interim_dir"] = str(interim_dir)  # as resolved, so a fusion of this fusion finds it too
        run = RunDir(
            args.results_dir,
            args.run or default_run_name(args.runs),
            explicit=bool(args.run),
            overwrite=args.overwrite,
            args=config_args,
        )
        if any(run.path.resolve() == r.path.resolve() for r in runs):
            raise RunDirError(f"--run {run.name} is one of the runs being fused: pick another --run name")
        with output_lock(run.path, f"the run {run.path}", note=note):
            fusion = fuse(runs, interim_dir)
            run.write_config(
                config_args,
                args.seed,
                config_features(fusion),
                extra={"protocol": "fusion", "inputs": input_records(fusion)},
            )
            report_fusion(run, fusion, args.n_boot, args.seed, note=note)
    except (InputRunError, TrialsError, FusionError, RunDirError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
