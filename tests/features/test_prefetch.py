"""The background reader of step 2: the next item is read in another thread while the current
one is handled, yet the caller sees what inline reads give, failures and Ctrl-C included."""

import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from audio_factory import write_asvspoof_layout
from test_ssl_embed import make_clips

from deepfake_pipeline.cli.features import main as features
from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.common.faults import CRASH_ENV, PAUSE_ENV, PAUSED
from deepfake_pipeline.features import jobs
from deepfake_pipeline.features.prefetch import prefetched
from deepfake_pipeline.features.ssl_embed import embed_waveforms
from deepfake_pipeline.features.ssl_loading import load_model

REPO_ROOT = Path(__file__).resolve().parents[2]
SPLIT = "asvspoof2019_dev"
INTERRUPTED = "interrupted: rerun the same command to resume"
WAIT_S = 60.0  # a bound on a wait that ends at once unless the reader is broken; never a timing


def test_the_next_item_is_read_in_another_thread_while_this_one_is_handled():
    started = {}
    read_threads = set()

    def read(item):
        read_threads.add(threading.get_ident())
        started.setdefault(item, threading.Event()).set()
        return item * 10

    got = []
    with prefetched(range(4), read) as pairs:
        for item, value in pairs:
            if item + 1 < 4:  # the next read starts before this item is done
                assert started.setdefault(item + 1, threading.Event()).wait(WAIT_S)
            got.append((item, value))
    assert got == [(0, 0), (1, 10), (2, 20), (3, 30)]
    assert threading.get_ident() not in read_threads
    with prefetched([], read) as pairs:
        assert list(pairs) == []


@pytest.mark.parametrize("background", [True, False])
def test_a_failed_read_raises_at_its_item_after_the_earlier_ones(background):
    def read(item):
        if item == 2:
            raise ValueError("damaged shard 2")
        return item

    handled = []
    with pytest.raises(ValueError, match="damaged shard 2"):
        with prefetched(range(5), read, background=background) as pairs:
            for item, _ in pairs:
                handled.append(item)
    assert handled == [0, 1]


def test_an_error_in_the_caller_abandons_the_read_ahead():
    reads = []
    with pytest.raises(KeyboardInterrupt):
        with prefetched(range(100), reads.append) as pairs:
            for item, _ in pairs:
                if item == 1:
                    raise KeyboardInterrupt
    assert len(reads) <= 3  # items 0, 1 and at most the one read ahead: not the other 97


def test_embeddings_prepared_in_the_background_are_those_prepared_inline(tiny_wav2vec2_base):
    loaded = load_model(str(tiny_wav2vec2_base))
    clips = make_clips([16000, 7000, 12345, 401, 30000, 9000], seed=11)
    for batch_seconds in (0.0, 2.0):  # same batches either way: the same computation
        inline = embed_waveforms(loaded, clips, batch_seconds=batch_seconds, background=False)
        ahead = embed_waveforms(loaded, clips, batch_seconds=batch_seconds, background=True)
        np.testing.assert_array_equal(ahead, inline)


@pytest.fixture(scope="module")
def interim(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    write_asvspoof_layout(root, splits=("dev",), per_split=20, seed=5)  # 3 store shards -> 3 parts
    out = tmp_path_factory.mktemp("interim")
    args = ["--corpus", "asvspoof2019", "--root", str(root), "--splits", "dev", "--interim-dir", str(out)]
    assert preprocess([*args, "--jobs", "1"]) == 0
    return out


def _args(interim, processed):
    return [
        "--splits",
        SPLIT,
        "--what",
        "embeddings",
        "--model",
        "random:tiny",
        "--interim-dir",
        str(interim),
        "--processed-dir",
        str(processed),
    ]


def _last_line(text):
    return [line for line in text.splitlines() if line.strip()][-1]


@pytest.mark.slow
def test_a_damaged_shard_stops_the_run_at_its_part_as_an_inline_read_does(interim, tmp_path, capsys, monkeypatch):
    damaged = tmp_path / "interim"
    shutil.copytree(interim, damaged)
    shard = sorted((damaged / SPLIT / "waves").glob("shard_*.npy"))[-1]
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 3])
    capsys.readouterr()
    assert features(_args(damaged, tmp_path / "ahead")) == 2
    ahead = capsys.readouterr().err
    monkeypatch.setattr(jobs, "prefetched", functools.partial(prefetched, background=False))
    assert features(_args(damaged, tmp_path / "inline")) == 2
    inline = capsys.readouterr().err
    assert "Traceback" not in ahead and _last_line(ahead) == _last_line(inline)
    assert _last_line(ahead).startswith("error: ")
    for run in ("ahead", "inline"):
        parts = tmp_path / run / SPLIT / "embeddings" / "random-tiny.parts"
        assert sorted(p.name for p in parts.glob("part_*")) == ["part_00000.npy", "part_00001.npy"]


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background test run may inherit it ignored


@pytest.mark.slow
def test_ctrl_c_while_the_next_part_is_read_ahead_ends_in_one_line(interim, tmp_path, capsys):
    # file event 2: the first part renamed into place, the second one read ahead meanwhile
    env = {**os.environ, PAUSE_ENV: "2", "PYTHONPATH": str(REPO_ROOT)}
    env.pop(CRASH_ENV, None)
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "features.py"), *_args(interim, tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_default_sigint,
    )
    seen = []
    for line in process.stderr:
        seen.append(line)
        if PAUSED in line:
            break
    process.send_signal(signal.SIGINT)
    err = "".join(seen) + process.stderr.read()
    assert process.wait() == 130, err
    assert "Traceback" not in err and _last_line(err) == INTERRUPTED
    assert features(_args(interim, tmp_path)) == 0
    assert "resuming:" in capsys.readouterr().err
