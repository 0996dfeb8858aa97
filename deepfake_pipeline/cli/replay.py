"""`--config results/<run>/config.json`: rerun a run with the arguments it recorded.

A replay reruns the run that config.json describes, nothing else. config.json is a file people
hand on, so what it records is checked before any of it is used: an `args` object holding only
options of this script, none of them one that turns the script into something other than a run
(eval_logreg's --score and --from-run, `modes`), each value one the option can take (the
command line built from them must parse back to exactly the recorded values, so a value cannot
smuggle in another option either). Arguments given beside --config replace recorded ones, but
not with `modes`: `--config` with `--score` is refused too. Every refusal is a ReplayRefused
whose message parse_or_refuse prints as one `error:` line."""

import json
import sys
from pathlib import Path

# Not replayed: --config itself, and --run / --overwrite, which say where the replay writes
# (a new run folder unless given beside --config).
NOT_REPLAYED = ("help", "config", "run", "overwrite")


class ReplayRefused(ValueError):
    """A --config that cannot be replayed as the run it describes; the message says why."""


def add_config(parser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="results/<run>/config.json",
        help="rerun with the arguments that run recorded (any other argument given here replaces "
        "the recorded one); says what differs from it (code version, package versions). The "
        "replay writes a new run folder unless --run and --overwrite say otherwise",
    )


def _flag(action) -> str:
    return next((s for s in action.option_strings if s.startswith("--")), action.option_strings[0])


def _options(parser) -> dict:
    return {action.dest: action for action in parser._actions if action.option_strings}


def _plain(value):
    """A parsed value as config.json records it (paths as strings)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _argv_of(parser, recorded: dict) -> list:
    """The command line that parses back to `recorded` (a run's config.json `args`)."""
    argv = []
    for dest, action in _options(parser).items():
        if dest in NOT_REPLAYED:
            continue
        value = recorded.get(dest, action.default)
        if value is None or value == action.default:
            continue
        flag = _flag(action)
        if action.nargs == 0:
            argv += [flag] if value else []
        elif isinstance(value, (list, tuple)):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv


def _config_argument(argv: list) -> tuple:
    """(path or None, argv without --config PATH / --config=PATH)."""
    found = [i for i, token in enumerate(argv) if token == "--config" or token.startswith("--config=")]
    if not found:
        return None, argv
    if len(found) > 1:
        raise ReplayRefused("--config is given more than once: a replay reruns one run")
    i = found[0]
    if argv[i] != "--config":
        return Path(argv[i].split("=", 1)[1]), argv[:i] + argv[i + 1 :]
    if i + 1 >= len(argv):
        raise ReplayRefused("--config needs the path of a run's config.json (or of its folder)")
    return Path(argv[i + 1]), argv[:i] + argv[i + 2 :]


def _read_recorded(path: Path) -> dict:
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ReplayRefused(f"--config {path}: not a readable config.json of a run ({error})") from error
    if not isinstance(recorded, dict) or not isinstance(recorded.get("args"), dict):
        raise ReplayRefused(
            f"--config {path}: not the config.json of a run (it holds no 'args' object): pass "
            "results/<run>/config.json or the run's folder"
        )
    return recorded


def _check_recorded(parser, recorded: dict, path: Path, modes) -> None:
    options = _options(parser)
    unknown = sorted(set(recorded) - set(options))
    if unknown:
        raise ReplayRefused(
            f"--config {path}: it records {', '.join(unknown)}, which {'are' if len(unknown) > 1 else 'is'} not "
            f"an option of {parser.prog}: it is another script's config.json, or was edited; give the arguments "
            "themselves instead"
        )
    carried = [_flag(options[m]) for m in modes if recorded.get(m) not in (None, [], False)]
    if carried:
        raise ReplayRefused(
            f"--config {path}: it records {'/'.join(carried)}, which no run records (the file was edited): a "
            f"replay only reruns the run it describes; to score clips, give --score PATH --from-run results/<run> "
            "without --config"
        )


def _check_parses_back(parser, argv: list, recorded: dict, path: Path) -> None:
    """Refuse recorded values that the rebuilt command line does not parse back to: a wrong type
    (a word for a number, a list for one value), or a value that reads as another option."""

    def refuse(message):
        raise ReplayRefused(
            f"--config {path}: its recorded arguments do not make a command line of "
            f"{parser.prog} ({message}): the file was edited or written by another version; "
            "give the arguments themselves instead"
        )

    parser.error = refuse  # argparse reports every parse failure through self.error
    try:
        parsed = vars(parser.parse_args(argv))
    finally:
        del parser.error
    options = _options(parser)
    for dest, value in recorded.items():
        if dest in NOT_REPLAYED:
            continue
        # JSON's true and false equal 1 and 0 in Python: a flag's value must be a flag's, a number's a number's.
        if _plain(parsed[dest]) != value or isinstance(value, bool) != isinstance(parsed[dest], bool):
            raise ReplayRefused(
                f"--config {path}: its recorded {_flag(options[dest])} {value!r} does not read back as a value of "
                f"that option (it reads as {_plain(parsed[dest])!r}): the file was edited or written by another "
                "version; give the arguments themselves instead"
            )


def replay_argv(parser, argv, modes=()) -> tuple:
    """(`argv` with `--config FILE` replaced by the arguments FILE recorded, those given beside it
    winning; None without --config, else the lines that say how this code and these packages
    differ from the recorded run's, to print once the final arguments pass `check_replayed`),
    after checking FILE (see the module's docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    path, rest = _config_argument(argv)
    if path is None:
        return argv, None
    if path.is_dir():
        path = path / "config.json"
    recorded = _read_recorded(path)
    _check_recorded(parser, recorded["args"], path, modes)
    replayed = _argv_of(parser, recorded["args"])
    _check_parses_back(parser, replayed, recorded["args"], path)
    return replayed + rest, [f"[replay] {line}" for line in _differences(recorded)]


def check_replayed(parser, args, replayed: bool, modes) -> None:
    """After the final parse: refuse `modes` given beside --config, and a --config the
    command line abbreviated (argparse took it as an option, so nothing was replayed)."""
    options = _options(parser)
    # The rebuilt command line never holds --config: set, it was written abbreviated (--conf).
    if getattr(args, "config", None) is not None:
        raise ReplayRefused(
            "--config is given more than once: a replay reruns one run"
            if replayed
            else "write --config in full (--config PATH or --config=PATH) to replay a run"
        )
    if replayed:
        given = [_flag(options[m]) for m in modes if getattr(args, m) not in (None, [], False)]
        if given:
            raise ReplayRefused(
                f"--config replays the run its config.json describes and does not combine with {'/'.join(given)}: "
                "to score clips, give --score PATH --from-run results/<run> without --config"
            )


def _differences(recorded: dict) -> list:
    from deepfake_pipeline.formats.run_dir import git_commit, package_versions

    lines = []
    then_git = git if isinstance(git := recorded.get("git"), dict) else {}
    now_git = git_commit()
    if then_git.get("commit") != now_git.get("commit") or now_git.get("dirty"):
        lines.append(
            f"code: recorded at commit {str(then_git.get('commit'))[:12]}"
            f"{' (uncommitted changes)' if then_git.get('dirty') else ''}, now {str(now_git.get('commit'))[:12]}"
            f"{' (uncommitted changes)' if now_git.get('dirty') else ''}"
        )
    then_versions = versions if isinstance(versions := recorded.get("versions"), dict) else {}
    now_versions = package_versions()
    changed = [
        f"{name} {then_versions.get(name)} -> {now_versions.get(name)}"
        for name in sorted(set(then_versions) | set(now_versions))
        if then_versions.get(name) != now_versions.get(name)
    ]
    lines.append("packages: " + ("; ".join(changed) if changed else "the same versions as recorded"))
    return lines
