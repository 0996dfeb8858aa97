"""An output folder that cannot be written (issue 17): a read-only file system (EROFS) or a folder
without write permission (EACCES) ends steps 1, 2 and 3 in one line naming the folder and the
option that chooses another, exit 1, never a traceback; the atomic writes' clean-up never hides
the error that stopped the write. The tests run as root, whom chmod does not stop, so the folder
is made unwritable by tests/readonly_fs.py; one test uses a real chmod where it can."""

import errno
import os
from pathlib import Path

import pytest
from audio_factory import write_clip
from readonly_fs import UnwritableFolder

from deepfake_pipeline.cli import eval_logreg as eval_logreg_cli
from deepfake_pipeline.cli import features as features_cli
from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.common import atomic

READ_ONLY = "(read-only file system)"
DENIED = "(permission denied)"


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _csv(folder: Path, n: int = 8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,label"]
    for i in range(n):
        write_clip(folder / f"c{i}.wav", seconds=0.3, seed=i)
        rows.append(f"c{i}.wav,{'real' if i % 2 else 'fake'}")
    (folder / "clips.csv").write_text("\n".join(rows) + "\n")
    return folder / "clips.csv"


def _step1(csv, interim):
    return ["--corpus", "csv", "--root", str(csv), "--name", "toy", "--interim-dir", str(interim), "--jobs", "1"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A small CSV corpus and its finished step 1 (for step 2)."""
    root = tmp_path_factory.mktemp("corpus")
    csv = _csv(root / "clips")
    assert preprocess(_step1(csv, root / "interim")) == 0
    return csv, root / "interim"


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    """Features of three splits, ready for step 3."""
    from logreg_fixtures import balanced_design, layered, make_split

    root = tmp_path_factory.mktemp("splits")
    for i, split in enumerate(["toy_train", "toy_dev", "toy_eval"]):
        labels, speakers = balanced_design(4, 6, seed=i)
        make_split(
            root / "interim",
            root / "processed",
            split,
            labels,
            speakers,
            seed=i,
            model="random:base",
            embeddings=layered(labels, 2, 4, signal_layer=1, seed=10 + i),
        )
    return root


def _step3(root, results, run="r"):
    return [
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
        run,
        "--n-boot",
        "0",
        "--C-grid",
        "1",
        "--interim-dir",
        str(root / "interim"),
        "--processed-dir",
        str(root / "processed"),
        "--results-dir",
        str(results),
    ]


def _expect_one_line(capsys, code, returned, folder, reason, option):
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert returned == code, err
    way = "remount it read-write" if reason == READ_ONLY else "fix its permissions"
    assert _last_line(err) == (
        f"error: cannot write to {folder} {reason}: choose a writable {option} or {way}, then rerun the same command"
    )


# --- the atomic writes' clean-up -----------------------------------------------------------------


def test_a_failed_clean_up_does_not_replace_the_error_that_stopped_the_write(tmp_path, monkeypatch):
    def unlink_refused(path, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    target = tmp_path / "out.txt"
    with pytest.raises(OSError) as raised:
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            monkeypatch.setattr(os, "unlink", unlink_refused)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert raised.value.errno == errno.ENOSPC, "the clean-up's error replaced the write's"
    assert raised.value.pipeline_path == str(target)
    assert any(str(atomic.temporary_path(target)) in note for note in raised.value.__notes__)


def test_a_write_on_a_read_only_folder_raises_its_own_error_once(tmp_path, monkeypatch):
    folder = tmp_path / "out"
    folder.mkdir()
    UnwritableFolder(monkeypatch, folder)
    with pytest.raises(OSError) as raised:
        atomic.write_text(folder / "a.json", "{}")
    assert raised.value.errno == errno.EROFS and raised.value.pipeline_path == str(folder / "a.json")
    assert raised.value.__context__ is None, "a second error was raised over the first"


# --- steps 1, 2 and 3 ----------------------------------------------------------------------------


def test_step1_on_a_read_only_interim_dir_names_it(corpus, tmp_path, monkeypatch, capsys):
    csv, _ = corpus
    interim = tmp_path / "interim"
    interim.mkdir()
    UnwritableFolder(monkeypatch, interim)
    _expect_one_line(capsys, 1, preprocess(_step1(csv, interim)), interim, READ_ONLY, "--interim-dir")
    assert not list(interim.iterdir())


def test_step1_in_a_split_folder_without_write_permission_names_the_folder(corpus, tmp_path, monkeypatch, capsys):
    csv, _ = corpus
    interim = tmp_path / "interim"
    (interim / "toy_all").mkdir(parents=True)  # a folder someone else made, not writable by this user
    UnwritableFolder(monkeypatch, interim / "toy_all", errno.EACCES)
    _expect_one_line(capsys, 1, preprocess(_step1(csv, interim)), interim / "toy_all", DENIED, "--interim-dir")
    assert not (interim / "toy_all.lock").exists(), "the lock outlived the run"


def test_step1_whose_store_cannot_be_written_names_the_waves_folder(corpus, tmp_path, monkeypatch, capsys):
    csv, _ = corpus
    interim = tmp_path / "interim"
    monkeypatch.setattr(atomic, "save_npy", _refusing(atomic.save_npy, errno.EACCES))
    _expect_one_line(
        capsys, 1, preprocess(_step1(csv, interim)), interim / "toy_all" / "waves", DENIED, "--interim-dir"
    )
    assert not list((interim / "toy_all").rglob(f"*{atomic.TMP_MARK}*"))


def _refusing(write, code):
    """`write`, whose target folder refuses the write once the temporary file is open."""

    def refused(path, *args, **kwargs):
        with atomic.atomic_path(path) as tmp:
            tmp.write_bytes(b"")
            raise OSError(code, os.strerror(code), str(tmp))

    return refused


def test_step2_on_a_read_only_processed_dir_names_it(corpus, tmp_path, monkeypatch, capsys):
    _, interim = corpus
    processed = tmp_path / "processed"
    processed.mkdir()
    UnwritableFolder(monkeypatch, processed)
    returned = features_cli.main(
        [
            "--splits",
            "toy_all",
            "--what",
            "spectral",
            "--jobs",
            "1",
            "--interim-dir",
            str(interim),
            "--processed-dir",
            str(processed),
        ]
    )
    _expect_one_line(capsys, 1, returned, processed, READ_ONLY, "--processed-dir")


def test_step2_below_a_read_only_folder_names_the_folder_it_could_not_write(corpus, tmp_path, monkeypatch, capsys):
    _, interim = corpus
    UnwritableFolder(monkeypatch, tmp_path)  # --processed-dir does not exist yet and cannot be made
    returned = features_cli.main(
        [
            "--splits",
            "toy_all",
            "--what",
            "spectral",
            "--jobs",
            "1",
            "--interim-dir",
            str(interim),
            "--processed-dir",
            str(tmp_path / "new" / "processed"),
        ]
    )
    _expect_one_line(capsys, 1, returned, tmp_path, READ_ONLY, "--processed-dir")


def test_step3_on_a_read_only_results_dir_names_it(splits, tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    results.mkdir()
    UnwritableFolder(monkeypatch, results)
    _expect_one_line(capsys, 1, eval_logreg_cli.main(_step3(splits, results)), results, READ_ONLY, "--results-dir")


def test_step3_in_a_run_folder_without_write_permission_names_it(splits, tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    (results / "r").mkdir(parents=True)
    UnwritableFolder(monkeypatch, results / "r", errno.EACCES)
    _expect_one_line(capsys, 1, eval_logreg_cli.main(_step3(splits, results)), results / "r", DENIED, "--results-dir")


def test_a_permission_error_reading_an_input_is_not_called_an_output_problem(corpus, tmp_path, monkeypatch):
    """Only writes are said to be unwritable: a refused read is no output problem (and stays
    the error it is)."""
    import pandas as pd

    csv, _ = corpus

    def unreadable(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(csv))

    monkeypatch.setattr(pd, "read_csv", unreadable)
    with pytest.raises(PermissionError):
        preprocess(_step1(csv, tmp_path / "interim"))


def _mode_stops_writes(folder: Path) -> bool:
    """Whether this process is refused a write by a folder's mode: root (with its usual
    capabilities) is not."""
    probe = folder / "probe"
    probe.mkdir(mode=0o555)
    try:
        (probe / "file").touch()
    except PermissionError:
        return True
    finally:
        probe.chmod(0o755)
    return False


@pytest.mark.parametrize("step", [1, 2, 3])
def test_a_real_folder_without_write_permission(corpus, splits, tmp_path, capsys, step):
    if not _mode_stops_writes(tmp_path):
        # As root: setpriv --bounding-set=-dac_override,-dac_read_search --inh-caps=-dac_override,-dac_read_search
        pytest.skip(
            "this process writes into a folder whatever its mode (root); setpriv without CAP_DAC_OVERRIDE runs it"
        )
    csv, interim = corpus
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        if step == 1:
            returned, option = preprocess(_step1(csv, out)), "--interim-dir"
        elif step == 2:
            returned = features_cli.main(
                [
                    "--splits",
                    "toy_all",
                    "--what",
                    "spectral",
                    "--jobs",
                    "1",
                    "--interim-dir",
                    str(interim),
                    "--processed-dir",
                    str(out),
                ]
            )
            option = "--processed-dir"
        else:
            returned, option = eval_logreg_cli.main(_step3(splits, out)), "--results-dir"
    finally:
        out.chmod(0o755)
    _expect_one_line(capsys, 1, returned, out, DENIED, option)
