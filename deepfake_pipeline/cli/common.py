"""Arguments that several scripts share, spelled once."""

import contextlib
import os
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
    problem = check_threads(args) or check(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return None
    return args


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def add_threads(parser) -> None:
    parser.add_argument("--threads", type=int,
                        help="CPU threads for the numerical libraries (torch, BLAS, numba) of this run and of "
                             "the worker processes it starts (default: all cores); on a shared machine, your share")


def check_threads(args):
    if getattr(args, "threads", None) is not None and args.threads < 1:
        return "--threads must be at least 1"
    return None


@contextlib.contextmanager
def limited_threads(threads):
    """Cap the thread pools for the duration of a run: the environment variables (read by
    libraries imported later and by worker processes), and the pools of libraries already
    loaded (threadpoolctl for BLAS/OpenMP, torch's own)."""
    if threads is None:
        yield
        return
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if torch is not None:
            torch.set_num_threads(torch_threads)
