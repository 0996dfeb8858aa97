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

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "sklearn", "librosa", "pandas")


@pytest.mark.parametrize("script", ["preprocess_datasets", "features", "eval_logreg", "train_contrastive"])
def test_help_imports_no_heavy_library(script):
    module = {"preprocess_datasets": "preprocess"}.get(script, script)
    code = (
        f"import sys\nfrom deepfake_pipeline.cli.{module} import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
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
    assert line.startswith(
        __import__("time").strftime("%Y-%m-%d %H:%M:%S", __import__("time").localtime(1_700_000_000))
    )
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


@pytest.mark.slow
def test_a_run_replays_from_its_config_and_says_what_differs(tmp_path, capsys):
    """--config results/<run>/config.json reruns step 3 with the recorded arguments (to a new run
    folder) and gives the same numbers; what differs from the recorded run is printed."""
    import json

    from logreg_fixtures import balanced_design, informative, make_split

    from deepfake_pipeline.cli.eval_logreg import main

    dirs = [tmp_path / "interim", tmp_path / "processed", tmp_path / "results"]
    for i, split in enumerate(("train", "dev", "eval")):
        labels, speakers = balanced_design(6, 8, seed=i)
        make_split(
            dirs[0],
            dirs[1],
            f"toy_{split}",
            labels,
            speakers,
            seed=i,
            spectral=informative(labels, 15, [0, 3], seed=10 + i),
        )
    assert (
        main(
            [
                "--features",
                "spectral",
                "--train",
                "toy_train",
                "--dev",
                "toy_dev",
                "--test",
                "toy_eval",
                "--run",
                "first",
                "--n-boot",
                "30",
                "--C-grid",
                "0.1",
                "1",
                "--seed",
                "3",
                "--interim-dir",
                str(dirs[0]),
                "--processed-dir",
                str(dirs[1]),
                "--results-dir",
                str(dirs[2]),
            ]
        )
        == 0
    )
    first = capsys.readouterr().out
    config = dirs[2] / "first" / "config.json"
    recorded = json.loads(config.read_text())
    recorded["versions"]["scikit-learn"] = "0.0.1"  # as if recorded with another version
    config.write_text(json.dumps(recorded))
    assert main(["--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert "scikit-learn 0.0.1 -> " in captured.err
    replayed = sorted(p.name for p in dirs[2].iterdir())
    assert replayed == ["first", "logreg_spectral_toy_train_to_toy_eval"]
    replay_config = json.loads((dirs[2] / replayed[1] / "config.json").read_text())["args"]
    for key in ("train", "dev", "test", "C_grid", "n_boot", "seed", "features"):
        assert replay_config[key] == recorded["args"][key], key
    closing = [line for line in first.splitlines() if line.startswith("ROC-AUC")]
    assert closing == [line for line in captured.out.splitlines() if line.startswith("ROC-AUC")]


WRONG_ARGUMENTS = {
    "preprocess": (["--corpus", "csv", "--root", "clips.csv", "--jobs", "0"], "--jobs must be a positive number"),
    "features": (["--splits", "x_dev", "--model", "random:tiny", "--shard", "3/2"], "K must be between 1 and N"),
    "eval_logreg": (["--features", "spectral", "--train", "a", "--test", "b"], "--dev"),
    "train_contrastive": (["--baseline-run", "results/x", "--epochs", "0"], "--epochs"),
}


@pytest.mark.parametrize("module", sorted(WRONG_ARGUMENTS))
def test_a_wrong_argument_is_one_error_line_before_any_library_loads(module):
    argv, expected = WRONG_ARGUMENTS[module]
    code = (
        f"import sys\nfrom deepfake_pipeline.cli.{module} import main\n"
        f"code = main({argv!r})\n"
        f"print(code, sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert done.stdout.strip().splitlines()[-1] == "2 []", (done.stdout, done.stderr)
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and expected in errors[0], errors


def test_a_pipeline_error_ends_in_one_error_line_and_a_bug_keeps_its_traceback(capsys):
    """Every refusal the user can act on derives from PipelineError and is caught once, in
    guarded_main: one `error:` line on standard error and its exit code. Anything else is a bug
    and is not dressed up as an `error:` line."""
    from deepfake_pipeline.baseline.logreg import ProtocolError
    from deepfake_pipeline.cli.common import guarded_main
    from deepfake_pipeline.common.errors import PipelineError
    from deepfake_pipeline.common.lock import LockHeld
    from deepfake_pipeline.contrastive.checkpoint import CheckpointMismatch
    from deepfake_pipeline.contrastive.frame_cache import FrameCacheError
    from deepfake_pipeline.contrastive.unfreeze import BlockError
    from deepfake_pipeline.features.ssl_families import ModelLoadError
    from deepfake_pipeline.formats.feature_files import FeatureError
    from deepfake_pipeline.formats.run_dir import RunDirError
    from deepfake_pipeline.formats.step3_run import BaselineRunError
    from deepfake_pipeline.ingest.corpora import CorpusLayoutError
    from deepfake_pipeline.ingest.shards import PlanMismatch

    # the classes the scripts caught in lists of their own, each keeping its older base
    for cls, base in (
        (BaselineRunError, ValueError),
        (BlockError, ValueError),
        (CheckpointMismatch, RuntimeError),
        (FeatureError, RuntimeError),
        (FrameCacheError, RuntimeError),
        (ModelLoadError, RuntimeError),
        (ProtocolError, ValueError),
        (RunDirError, ValueError),
        (CorpusLayoutError, FileNotFoundError),
        (PlanMismatch, RuntimeError),
        (LockHeld, RuntimeError),
    ):
        assert issubclass(cls, PipelineError) and issubclass(cls, base), cls

    def refused(argv):
        raise FeatureError("no embeddings of random:base for toy_dev: run features.py first")

    assert guarded_main(refused) == 2
    captured = capsys.readouterr()
    assert captured.err == "error: no embeddings of random:base for toy_dev: run features.py first\n"
    assert captured.out == ""

    # a FileNotFoundError of the layout kind is a refusal, not an unwritable folder
    def no_layout(argv):
        raise CorpusLayoutError("no LA/ASVspoof2019_LA_cm_protocols under data/raw/asvspoof")

    assert guarded_main(no_layout) == 2
    assert capsys.readouterr().err == "error: no LA/ASVspoof2019_LA_cm_protocols under data/raw/asvspoof\n"

    def bug(argv):
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        guarded_main(bug)
    assert "error:" not in capsys.readouterr().err
