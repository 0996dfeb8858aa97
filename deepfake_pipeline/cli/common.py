"""Arguments that steps 3 and 4 share, spelled once."""

import sys
from pathlib import Path

from deepfake_pipeline.formats.paths import INTERIM_DIR, PROCESSED_DIR, RESULTS_DIR


def add_run_paths(parser, overwrite_help: str) -> None:
    out = parser.add_argument_group("paths")
    out.add_argument("--run", help="name of the results folder (default: derived from the settings)")
    out.add_argument("--overwrite", action="store_true", help=overwrite_help)
    out.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    out.add_argument("--interim-dir", type=Path, default=INTERIM_DIR)
    out.add_argument("--processed-dir", type=Path, default=PROCESSED_DIR)


def parse_or_refuse(parser, check, argv):
    """The parsed arguments, or None after printing why they cannot run (`check` returns that
    reason, or None): a wrong argument stops the run before any work starts."""
    args = parser.parse_args(argv)
    problem = check(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return None
    return args
