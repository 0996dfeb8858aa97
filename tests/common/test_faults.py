"""Faults end in one clear line (issue 11): a full disk, damaged files of a step-3 run or of a
model's weights, Ctrl-C and SIGTERM, a second run on the same output, and a killed run's pool
workers. Each ends with one line on standard error that says how to go on, never a traceback."""

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from audio_factory import write_clip

from deepfake_pipeline.cli import eval_logreg as eval_logreg_cli
from deepfake_pipeline.cli import features as features_cli
from deepfake_pipeline.cli import preprocess as preprocess_cli
from deepfake_pipeline.cli import train_contrastive as train_contrastive_cli
from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.faults import CRASH_ENV, PAUSE_ENV, PAUSED

REPO_ROOT = Path(__file__).resolve().parents[2]
INTERRUPTED = "interrupted: rerun the same command to resume"


def _clips_csv(folder: Path, n: int, seconds=0.3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,label"]
    for i in range(n):
        write_clip(folder / f"c{i:04d}.wav", seconds=seconds, seed=i)
        rows.append(f"c{i:04d}.wav,{'real' if i % 3 == 0 else 'fake'}")
    (folder / "clips.csv").write_text("\n".join(rows) + "\n")
    return folder / "clips.csv"


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    return _clips_csv(tmp_path_factory.mktemp("small"), 24)


@pytest.fixture(scope="module")
def large_csv(tmp_path_factory):
    """64 shards of 8 clips: enough work that a run is still busy after its first progress line."""
    return _clips_csv(tmp_path_factory.mktemp("large"), 512)


def _step1_args(csv, interim, jobs=1):
    return ["--corpus", "csv", "--root", str(csv), "--name", "toy", "--interim-dir", str(interim), "--jobs", str(jobs)]


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


# --- disk full ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["enospc", "numpy_short_write"])
def test_disk_full_in_step1_ends_in_one_line_and_leaves_nothing_half_written(
    small_csv, tmp_path, monkeypatch, capsys, fault
):
    real_write_csv = atomic.write_csv
    calls = []

    def full_disk(frame, path, on_written=None):
        calls.append(path)
        if len(calls) < 2:
            return real_write_csv(frame, path, on_written)
        with atomic.atomic_path(path) as tmp:
            tmp.write_text("half a ro")
            if fault == "enospc":
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            raise OSError("4096 requested and 17 written")  # what numpy says

    monkeypatch.setattr(atomic, "write_csv", full_disk)
    interim = tmp_path / "interim"
    assert preprocess(_step1_args(small_csv, interim)) == 1
    err = capsys.readouterr().err
    _no_traceback(err)
    split_dir = interim / "toy_all"
    assert _last_line(err) == (f"error: disk full writing {calls[1]}: free space and rerun the same command to resume")
    assert not list(split_dir.rglob(f"*{atomic.TMP_MARK}*")), "a temporary file was left behind"
    assert not (split_dir / "info.json").exists() and not (split_dir / "manifest.csv").exists()
    assert not Path(calls[1]).exists()
    # Space freed: the same command resumes and finishes.
    monkeypatch.setattr(atomic, "write_csv", real_write_csv)
    assert preprocess(_step1_args(small_csv, interim)) == 0
    assert (split_dir / "info.json").exists()


# --- damaged step-3 runs -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    from logreg_fixtures import balanced_design, layered, make_split

    root = tmp_path_factory.mktemp("baseline")
    for i, split in enumerate(["toy_train", "toy_dev", "toy_eval"]):
        labels, speakers = balanced_design(6, 10, seed=i)
        make_split(
            root / "interim",
            root / "processed",
            split,
            labels,
            speakers,
            seed=i,
            model="random:base",
            embeddings=layered(labels, 3, 8, signal_layer=1, strength=1.2, seed=20 + i),
        )
    assert (
        eval_logreg_cli.main(
            [
                "--features",
                "embeddings",
                "--model",
                "random:base",
                "--layer",
                "1",
                "--train",
                "toy_train",
                "--dev",
                "toy_dev",
                "--test",
                "toy_eval",
                "--run",
                "baseline",
                "--n-boot",
                "20",
                "--C-grid",
                "1",
                *_dirs(root),
            ]
        )
        == 0
    )
    return root


def _dirs(root):
    return [
        "--interim-dir",
        str(root / "interim"),
        "--processed-dir",
        str(root / "processed"),
        "--results-dir",
        str(root / "results"),
    ]


def _copy(root, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    return copy


def _damage(path: Path, how: str) -> None:
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "deleted":
        import shutil

        shutil.rmtree(path) if path.is_dir() else path.unlink()


@pytest.mark.parametrize(
    "target,how,says",
    [
        ("metrics.json", "truncated", "is damaged or cut short"),
        ("metrics.json", "empty", "is damaged or cut short"),
        ("config.json", "truncated", "is damaged or cut short"),
        ("scores", "deleted", "is missing"),
        ("scores/toy_eval.txt", "deleted", "is missing"),
        ("scores/toy_eval.txt", "truncated", "unreadable"),
    ],
)
def test_step4_on_a_damaged_step3_run_says_what_to_rerun(baseline, tmp_path, capsys, target, how, says):
    root = _copy(baseline, tmp_path)
    run = root / "results" / "baseline"
    if target.startswith("scores/") and how == "truncated":
        lines = (run / target).read_text().splitlines()
        (run / target).write_text("\n".join(lines[:-1] + [lines[-1].split()[0]]))  # cut before the last score
    else:
        _damage(run / target, how)
    capsys.readouterr()
    code = train_contrastive_cli.main(
        [
            "--baseline-run",
            str(run),
            "--epochs",
            "1",
            "--n-boot",
            "0",
            "--hidden-dim",
            "8",
            "--proj-dim",
            "4",
            "--run",
            "c",
            *_dirs(root),
        ]
    )
    err = capsys.readouterr().err
    _no_traceback(err)
    assert code == 2
    assert _last_line(err).startswith("error: ") and says in _last_line(err)
    assert "eval_logreg.py" in _last_line(err)


@pytest.mark.parametrize(
    "target,how,says",
    [
        ("model.npz", "truncated", "model.npz is damaged or is not the one model.json was written with"),
        ("model.npz", "empty", "model.npz is damaged or is not the one model.json was written with"),
        ("model.npz", "deleted", "model.npz is missing"),
        ("model.json", "truncated", "model.json is damaged"),
        ("model.json", "empty", "model.json is damaged"),
    ],
)
def test_score_with_damaged_model_says_how_to_fit_it_again(baseline, tmp_path, capsys, target, how, says):
    root = _copy(baseline, tmp_path)
    run = root / "results" / "baseline"
    _damage(run / target, how)
    clip = write_clip(tmp_path / "new.wav", seconds=0.5)
    capsys.readouterr()
    code = eval_logreg_cli.main(["--score", str(clip), "--from-run", str(run)])
    err = capsys.readouterr().err
    _no_traceback(err)
    assert code == 2
    line = _last_line(err)
    assert line.startswith("error: ") and says in line, line
    assert line.endswith(
        f"`eval_logreg.py --config {run}/config.json --results-dir {run.parent} --run baseline --overwrite`"
    ), line


# --- damaged model weights ---------------------------------------------------------------------


@pytest.mark.slow
def test_truncated_safetensors_weights_say_they_are_damaged(small_csv, tmp_path, capsys):
    from conftest import save_tiny_ssl

    model = save_tiny_ssl(tmp_path / "model", "wav2vec2-base")
    weights = model / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    interim = tmp_path / "interim"
    assert preprocess(_step1_args(small_csv, interim)) == 0
    capsys.readouterr()
    code = features_cli.main(
        [
            "--splits",
            "toy_all",
            "--what",
            "embeddings",
            "--model",
            str(model),
            "--interim-dir",
            str(interim),
            "--processed-dir",
            str(tmp_path / "processed"),
        ]
    )
    err = capsys.readouterr().err
    _no_traceback(err)
    assert code == 2
    line = _last_line(err)
    assert line.startswith("error: ") and "weights" in line and "are damaged" in line
    assert "hf download" in line and "rerun the same command" in line


# --- Ctrl-C and SIGTERM ------------------------------------------------------------------------


@pytest.mark.parametrize("module", [preprocess_cli, features_cli, eval_logreg_cli, train_contrastive_cli])
@pytest.mark.parametrize("fault,code", [(KeyboardInterrupt, 130)])
def test_every_script_ends_an_interrupt_in_one_line(module, fault, code, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise fault()

    monkeypatch.setattr(module, "build_parser", interrupted)
    try:
        returned = module.main([])
    except fault:
        pytest.fail(f"{fault.__name__} escaped {module.__name__}.main as a traceback")
    assert returned == code
    err = capsys.readouterr().err
    assert err.strip() == INTERRUPTED


def _start(args, **kwargs):
    return subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kwargs
    )


def _wait_for_progress(process, marker) -> list:
    """Standard error's lines up to the first one holding `marker`."""
    seen = []
    for line in process.stderr:
        seen.append(line)
        if marker in line:
            return seen
    raise AssertionError(f"the run ended before printing {marker!r}:\n{''.join(seen)}")


def _default_sigint():
    """In the child before it starts Python: SIGINT back to its default disposition. A test run
    started as a background job of a non-interactive shell (`bash -c 'pytest ... & wait'`, CI)
    inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler: Ctrl-C would
    not reach the run at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_run_ends_in_one_line_and_the_rerun_resumes(small_csv, tmp_path, sig, code, capsys):
    """The run stops at a chosen point (after its first shard is written: file event 4 of 12,
    faults.PAUSE_ENV) and waits there, so the signal lands mid-run whatever the machine's load;
    racing a running step 1 once lost to it (it finished first)."""
    interim = tmp_path / "interim"
    args = [str(REPO_ROOT / "preprocess_datasets.py"), *_step1_args(small_csv, interim)]
    env = {**os.environ, PAUSE_ENV: "4"}
    env.pop(CRASH_ENV, None)
    process = _start(args, env=env, preexec_fn=_default_sigint)
    seen = _wait_for_progress(process, PAUSED)
    assert (interim / "toy_all" / "parts" / "shard_00000.csv").is_file()
    process.send_signal(sig)
    rest = process.stderr.read()
    assert process.wait() == code, "".join(seen) + rest
    err = "".join(seen) + rest
    _no_traceback(err)
    assert _last_line(err) == INTERRUPTED
    assert not (interim / "toy_all" / "info.json").exists(), "the run finished before the signal"
    assert not (interim / "toy_all.lock").exists(), "the interrupted run left its lock"
    capsys.readouterr()
    assert preprocess(_step1_args(small_csv, interim)) == 0
    assert "resuming: 8 clips already done" in capsys.readouterr().err
    assert (interim / "toy_all" / "info.json").is_file()


# --- one run per output ------------------------------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_second_run_on_a_locked_split_stops_at_once_naming_the_holder(small_csv, tmp_path, capsys):
    interim = tmp_path / "interim"
    interim.mkdir()
    holder = os.getppid()  # the process that started the tests: alive for as long as they run
    (interim / "toy_all.lock").write_text(f"{holder} {socket.gethostname()}\n")
    assert preprocess(_step1_args(small_csv, interim)) == 2
    err = capsys.readouterr().err
    _no_traceback(err)
    line = _last_line(err)
    assert line.startswith("error: ") and f"PID {holder}" in line and "wait for it" in line
    assert not (interim / "toy_all").exists(), "the refused run wrote into the split"
    assert (interim / "toy_all.lock").read_text().split()[0] == str(holder), "the holder's lock was touched"


def test_a_lock_of_a_dead_process_is_taken_over_with_a_note(small_csv, tmp_path, capsys):
    interim = tmp_path / "interim"
    interim.mkdir()
    dead = _dead_pid()
    (interim / "toy_all.lock").write_text(f"{dead} {socket.gethostname()}\n")
    assert preprocess(_step1_args(small_csv, interim)) == 0
    err = capsys.readouterr().err
    assert f"took over the lock {interim / 'toy_all.lock'} of PID {dead}" in err
    assert (interim / "toy_all" / "info.json").exists()
    assert not (interim / "toy_all.lock").exists(), "the lock outlived the run"


def test_features_and_step3_runs_are_locked_too(baseline, tmp_path, capsys):
    root = _copy(baseline, tmp_path)
    holder = os.getppid()
    host = socket.gethostname()
    (root / "processed" / "toy_eval.lock").write_text(f"{holder} {host}\n")
    assert features_cli.main(["--splits", "toy_eval", "--what", "spectral", "--jobs", "1", *_dirs(root)[:4]]) == 2
    assert f"PID {holder}" in _last_line(capsys.readouterr().err)
    (root / "results" / "again.lock").write_text(f"{holder} {host}\n")
    assert (
        eval_logreg_cli.main(
            [
                "--features",
                "embeddings",
                "--model",
                "random:base",
                "--layer",
                "1",
                "--train",
                "toy_train",
                "--dev",
                "toy_dev",
                "--test",
                "toy_eval",
                "--run",
                "again",
                "--n-boot",
                "0",
                "--C-grid",
                "1",
                *_dirs(root),
            ]
        )
        == 2
    )
    assert f"PID {holder}" in _last_line(capsys.readouterr().err)
    assert not (root / "results" / "again" / "metrics.json").exists()
    (root / "results" / "c.lock").write_text(f"{holder} {host}\n")
    assert (
        train_contrastive_cli.main(
            [
                "--baseline-run",
                str(root / "results" / "baseline"),
                "--run",
                "c",
                "--epochs",
                "1",
                "--n-boot",
                "0",
                *_dirs(root),
            ]
        )
        == 2
    )
    assert f"PID {holder}" in _last_line(capsys.readouterr().err)


# --- pool workers of a killed run --------------------------------------------------------------


def _children(pid: int) -> list:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has stopped; init reaps it when it will


def _finished_files(split_dir: Path) -> set:
    return {p for p in split_dir.rglob("*") if p.is_file() and atomic.TMP_MARK not in p.name}


@pytest.mark.slow
def test_workers_stop_when_step1_is_killed(large_csv, tmp_path):
    interim = tmp_path / "interim"
    process = _start([str(REPO_ROOT / "preprocess_datasets.py"), *_step1_args(large_csv, interim, jobs=2)])
    _wait_for_progress(process, "[preprocess toy_all]")
    workers = [
        pid
        for pid in _children(process.pid)
        if "loky" in Path(f"/proc/{pid}/cmdline").read_text()
        and "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text()
    ]
    assert workers, "no pool workers found"
    process.kill()
    process.wait()
    at_kill = _finished_files(interim / "toy_all")
    for _ in range(600):  # bounded: at most about a minute, normally a few iterations
        if not any(_running(pid) for pid in workers):
            break
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers), "pool workers outlived their killed parent"
    later = _finished_files(interim / "toy_all") - at_kill
    # A worker may have been renaming its shard (store, then rows) at the very moment of the kill.
    assert len(later) <= 2 * 2, f"workers wrote {len(later)} files after their parent died: {sorted(later)}"
    assert not (interim / "toy_all" / "info.json").exists()
