"""Arguments that several scripts share, spelled once."""

import contextlib
import errno
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

from deepfake_pipeline.common.errors import PipelineError
from deepfake_pipeline.formats.paths import INTERIM_DIR, PROCESSED_DIR, RESULTS_DIR


def add_run_paths(parser, overwrite_help: str, data_from: str | None = None) -> None:
    """`data_from`: what the data folders default to when they are read from another run (step 4:
    its baseline's); None: the project's data/ folders."""
    out = parser.add_argument_group("paths")
    out.add_argument("--run", help="name of the results folder (default: derived from the settings)")
    out.add_argument("--overwrite", action="store_true", help=overwrite_help)
    out.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    if data_from:
        out.add_argument("--interim-dir", type=Path, help=f"default: {data_from}")
        out.add_argument("--processed-dir", type=Path, help=f"default: {data_from}")
    else:
        out.add_argument("--interim-dir", type=Path, default=INTERIM_DIR)
        out.add_argument("--processed-dir", type=Path, default=PROCESSED_DIR)


def add_clip_lengths(parser, group_title: str | None = None) -> None:
    """The clip-length options of step 1, which `eval_logreg.py --score` takes too, so that new
    clips are cut and refused as the corpus splits were."""
    from deepfake_pipeline.ingest import DEFAULT_MAX_DURATION_S, DEFAULT_MIN_DURATION_S

    group = parser.add_argument_group(group_title) if group_title else parser
    group.add_argument(
        "--min-duration",
        type=float,
        default=DEFAULT_MIN_DURATION_S,
        help="clips shorter than this many seconds are rejected (default %(default)s)",
    )
    group.add_argument(
        "--max-duration",
        type=float,
        default=DEFAULT_MAX_DURATION_S,
        help="clips longer than this many seconds are rejected as too_long (default "
        "%(default)s). Step 2 embeds each clip in one forward pass, whose memory grows "
        "with the clip (docs/reference.md, 'Long clips'); raise it only where that memory is there",
    )
    group.add_argument(
        "--crop",
        type=float,
        metavar="SECONDS",
        help="keep at most this many seconds of each clip instead of rejecting longer ones "
        "(e.g. 4 s, or 4.0375 = the 64,600 samples AASIST and RawNet2 take); recorded per "
        "clip in the manifest (source_duration_s, crop_start_s)",
    )
    group.add_argument(
        "--crop-at",
        choices=("start", "centre"),
        default="start",
        help="which part --crop keeps: the first SECONDS (default, as the field does) or the middle ones",
    )


def check_lengths(args) -> str | None:
    """Why the clip-length options cannot run, or None."""
    if not args.max_duration > args.min_duration:
        return "--max-duration must be longer than --min-duration"
    if args.crop is not None and not args.min_duration <= args.crop <= args.max_duration:
        return (
            f"--crop {args.crop:g} must lie between --min-duration ({args.min_duration:g}) and --max-duration "
            f"({args.max_duration:g}) seconds"
        )
    if args.crop is None and args.crop_at != "start":
        return "--crop-at says where --crop cuts: give --crop SECONDS too"
    return None


def crop_of(args):
    """The decode.Crop the arguments ask for, or None."""
    if args.crop is None:
        return None
    from deepfake_pipeline.ingest.decode import Crop

    return Crop(args.crop, args.crop_at)


def parse_or_refuse(parser, check, argv, modes=()):
    """The parsed arguments, or None after printing why they cannot run (`check` returns that
    reason, or None): a wrong argument stops the run before any work starts. `--config` replays
    a recorded run's arguments (cli/replay.py); `modes`: the options that make the script do
    something other than a run, which a replay refuses."""
    from deepfake_pipeline.cli.replay import ReplayRefused, check_replayed, replay_argv

    if "--config" not in parser._option_string_actions:  # a script that records no runs
        args, replay_lines = parser.parse_args(argv), None
    else:
        try:
            replayed_argv, replay_lines = replay_argv(parser, argv, modes)
            args = parser.parse_args(replayed_argv)
            check_replayed(parser, args, replay_lines is not None, modes)
        except ReplayRefused as error:
            print(f"error: {error}", file=sys.stderr)
            return None
    for line in replay_lines or ():
        print(line, file=sys.stderr)
    problem = check_threads(args) or check_run(args) or check(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return None
    return args


def check_run(args):
    """A --run that is not a plain name (`..`, `a/b`) would put the run outside --results-dir."""
    if getattr(args, "run", None) is None:
        return None
    from deepfake_pipeline.formats.run_dir import check_run_name

    return check_run_name(args.run)


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def add_threads(parser) -> None:
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads for the numerical libraries (torch, BLAS, numba) of this run and of "
        "the worker processes it starts (default: all cores); on a shared machine, your share",
    )


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


INTERRUPTED = "interrupted: rerun the same command to resume"
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# A write refused by the file system (read-only) or by the folder's permissions.
UNWRITABLE_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)

# The running script's output folders by the option that chooses each (`declare_outputs`), so
# that an unwritable folder's closing line names the option to change.
_OUTPUTS: dict = {}


def declare_outputs(folders: dict) -> None:
    """`{"--interim-dir": path, ...}`: where this run writes, once its arguments are known."""
    _OUTPUTS.update({option: Path(folder) for option, folder in folders.items()})


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that `finally` blocks and context managers
    (locks, temporary files) unwind."""


def _raise_terminated(signum, frame):
    raise Terminated()


def is_disk_full(error: BaseException) -> bool:
    """ENOSPC or EDQUOT, or numpy's "N requested and M written" from a short write."""
    if not isinstance(error, OSError):
        return False
    if error.errno in DISK_FULL_ERRNOS:
        return True
    text = str(error)
    return "requested and" in text and "written" in text


def is_unwritable(error: BaseException) -> bool:
    """An output that the file system or the folder's permissions refuse to write. EROFS comes
    only from a write; a permission error only counts when it came from writing an output
    (common/atomic.writing marks those), not from reading an input."""
    if not isinstance(error, OSError) or error.errno not in UNWRITABLE_ERRNOS:
        return False
    return error.errno == errno.EROFS or hasattr(error, "pipeline_path")


def _existing_folder(path: Path) -> Path:
    """The folder that refused: the nearest existing one above what was being written."""
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def unwritable_line(error: OSError) -> str:
    folder = _existing_folder(Path(getattr(error, "pipeline_path", None) or error.filename or "."))
    # The option whose folder holds the one that refused, else one below it (not made yet).
    option = next((o for o, value in _OUTPUTS.items() if folder.is_relative_to(value.absolute())), None) or next(
        (o for o, value in _OUTPUTS.items() if value.absolute().is_relative_to(folder)), None
    )
    assert error.errno is not None  # is_unwritable(error) holds
    way = "remount it read-write" if error.errno == errno.EROFS else "fix its permissions"
    what = f"choose a writable {option} or {way}" if option else way
    return f"error: cannot write to {folder} ({os.strerror(error.errno).lower()}): {what}, then rerun the same command"


def guarded_main(body, argv=None) -> int:
    """Run a script's `body(argv)` so that each fault ends in one line on standard error that says
    how to go on, not a traceback: Ctrl-C (exit 130) and SIGTERM (exit 143) as `interrupted: ...`,
    a full disk and an unwritable output folder (exit 1), another run holding the output's lock
    and every other refusal the user can act on (a PipelineError: `error: <message>`, its
    exit_code, 2). Every step resumes, so the way on is the same command again."""

    # joblib's note on the tasks an interrupt cancelled would come after the one closing line.
    warnings.filterwarnings("ignore", message=r".*tasks which were still being processed by the workers")
    previous = None
    _OUTPUTS.clear()
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return body(argv)
    except KeyboardInterrupt:
        _last_line(INTERRUPTED)
        return 130
    except Terminated:
        _last_line(INTERRUPTED)
        return 128 + signal.SIGTERM
    except PipelineError as error:  # before OSError: a CorpusLayoutError is a FileNotFoundError
        _last_line(f"error: {error}")
        return error.exit_code
    except OSError as error:
        if is_disk_full(error):
            where = getattr(error, "pipeline_path", None) or error.filename or "the output"
            _last_line(f"error: disk full writing {where}: free space and rerun the same command to resume")
            return 1
        if is_unwritable(error):
            _last_line(unwritable_line(error))
            return 1
        raise
    finally:
        _OUTPUTS.clear()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _last_line(line: str) -> None:
    # Progress lines share standard error: end any half-written line first.
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    print(line, file=sys.stderr, flush=True)
