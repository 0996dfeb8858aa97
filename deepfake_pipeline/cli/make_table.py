"""One set of tables across finished runs: a headline table (systems x test splits: EER, min
t-DCF, ROC-AUC, with their CIs) and per-attack / per-condition tables, in Markdown, LaTeX and
CSV, with a footnote per caveat and a manifest tracing every cell to its run and score file."""

import argparse
import sys
from pathlib import Path

from deepfake_pipeline.cli.common import declare_outputs, guarded_main, parse_or_refuse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make_table.py",
        description="Write table.md, table.tex, table.csv and table_manifest.json in --out from finished run "
        "folders (eval_logreg.py, train_contrastive.py, fuse_runs.py); every value is the run's own.",
    )
    parser.add_argument(
        "--runs",
        nargs="+",
        type=Path,
        required=True,
        metavar="results/<run>",
        help="the run folders, one row each (a step-4 run with several seeds: one row per seed), in this order",
    )
    parser.add_argument("--out", type=Path, required=True, help="the folder to write the tables in")
    parser.add_argument("--overwrite", action="store_true", help="replace tables already in --out")
    return parser


def _check_args(args):
    resolved = [path.resolve() for path in args.runs]
    if len(set(resolved)) != len(resolved):
        return "--runs names one run twice: give each run once"
    missing = [str(path) for path in args.runs if not path.is_dir()]
    if missing:
        return f"--runs: not a folder: {', '.join(missing)}; give results/<run> folders"
    if args.out.exists() and not args.out.is_dir():
        return f"--out {args.out} exists and is not a folder"
    return None


def main(argv=None) -> int:
    return guarded_main(_main, argv)


def _main(argv) -> int:
    args = parse_or_refuse(build_parser(), _check_args, argv)
    if args is None:
        return 2
    declare_outputs({"--out": args.out})
    from deepfake_pipeline.common.lock import output_lock
    from deepfake_pipeline.common.progress import note
    from deepfake_pipeline.reporting.runs import TableRunError
    from deepfake_pipeline.reporting.write import existing_outputs, write_tables

    present = existing_outputs(args.out)
    if present and not args.overwrite:
        print(
            f"error: {args.out} already holds {', '.join(present)}: pass --overwrite to replace them, or choose "
            "another --out",
            file=sys.stderr,
        )
        return 2
    try:
        with output_lock(args.out, f"the tables in {args.out}", note=note):
            written, headline = write_tables(args.runs, args.out)
    except TableRunError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(headline, end="")
    print(f"[make_table] wrote {', '.join(str(path) for path in written.values())}")
    return 0
