"""What a researcher meets first at the terminal: --help answers at once (no heavy library is
imported to print it), progress lines carry the wall-clock time and go to standard error, and
--threads caps the numerical libraries for the run only."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deepfake_pipeline.cli.common import limited_threads
from deepfake_pipeline.common.progress import Progress

REPO_ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "sklearn", "librosa", "pandas")


@pytest.mark.parametrize("script", ["preprocess_datasets", "features", "eval_logreg", "train_contrastive"])
def test_help_imports_no_heavy_library(script):
    module = {"preprocess_datasets": "preprocess"}.get(script, script)
    code = (f"import sys\nfrom deepfake_pipeline.cli.{module} import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]", f"{script} --help imported {done.stdout.splitlines()[-1]}"


def test_progress_lines_are_timestamped_and_go_to_stderr(capsys):
    ticks = iter([0.0, 12.0, 24.0])
    progress = Progress("features x", 2, clock=lambda: next(ticks), wall=lambda: 1_700_000_000.0)
    progress.update(1, audio_seconds=3.0)
    captured = capsys.readouterr()
    assert captured.out == ""
    line = captured.err.strip()
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[features x\] 1/2 clips \(50\.0%\)", line), line
    assert line.startswith(__import__("time").strftime("%Y-%m-%d %H:%M:%S", __import__("time").localtime(1_700_000_000)))
    assert "0.2 audio-s/s" in line  # 3 s of audio in 12 s


def test_threads_cap_the_pools_for_the_run_only():
    from threadpoolctl import threadpool_info

    before = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    with limited_threads(1):
        assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["OPENBLAS_NUM_THREADS"] == "1"
        pools = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert pools and all(pool["num_threads"] == 1 for pool in pools)
    assert {name: os.environ.get(name) for name in before} == before


def test_a_wrong_thread_count_stops_at_once(capsys):
    from deepfake_pipeline.cli.eval_logreg import main

    assert main(["--features", "spectral", "--cv", "x", "--threads", "0"]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err
