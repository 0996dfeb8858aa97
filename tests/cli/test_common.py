"""guarded_main (cli/common.py) is the one place where a refusal becomes an `error:` line: bad
input the scripts refuse (InputError and the other PipelineErrors) ends there in exactly one
line on standard error, exit 2, while a plain ValueError raised inside the pipeline is a bug
and keeps its traceback (no script catches bare ValueError to print it)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from audio_factory import write_asvspoof_layout, write_clip
from logreg_fixtures import balanced_design, informative, make_split

from deepfake_pipeline.cli.common import guarded_main
from deepfake_pipeline.cli.eval_logreg import main as eval_logreg
from deepfake_pipeline.cli.features import main as features
from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.common.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[2]
PLANTED = "planted bug"


def _only_error_line(capsys) -> str:
    """The one line on standard error, which must be an `error:` line; returned without its prefix."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0].removeprefix("error: ")


def _planted(*args, **kwargs):
    raise ValueError(PLANTED)


def test_guarded_main_prints_an_input_error_and_lets_a_plain_value_error_through(capsys):
    def refused(argv):
        raise InputError("protocol.txt:3: expected 5 fields")

    assert guarded_main(refused) == 2
    assert capsys.readouterr().err == "error: protocol.txt:3: expected 5 fields\n"

    def bug(argv):
        raise ValueError(PLANTED)

    with pytest.raises(ValueError, match=PLANTED):
        guarded_main(bug)
    assert "error:" not in capsys.readouterr().err


# Step 1: the corpus parsers' refusals, once caught as bare ValueError in cli/preprocess.py.


def test_a_malformed_protocol_line_ends_in_one_error_line(tmp_path, capsys):
    write_asvspoof_layout(tmp_path / "raw", splits=("dev",))
    protocol = tmp_path / "raw" / "LA" / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.dev.trl.txt"
    protocol.write_text("LA_0010 LA_D_1000000 - - bonafide\nLA_0010 LA_D_1000001 -\n")
    argv = ["--corpus", "asvspoof2019", "--root", str(tmp_path / "raw"), "--splits", "dev"]
    assert preprocess([*argv, "--interim-dir", str(tmp_path / "out"), "--jobs", "1"]) == 2
    assert _only_error_line(capsys) == (
        f"{protocol}:2: expected 5 fields `SPEAKER UTT - ATTACK KEY`, got 'LA_0010 LA_D_1000001 -'"
    )
    assert not (tmp_path / "out" / "asvspoof2019_dev").exists()


@pytest.mark.parametrize(
    "content, says",
    [
        (b"", "cannot be read as a CSV (No columns to parse from file)"),
        (b"path,label\n\xff\xfe.wav,real\n", "cannot be read as a CSV ('utf-8' codec can't decode byte 0xff"),
        (b"path,label\na.wav,maybe\n", "unknown label 'maybe'"),
    ],
)
def test_a_csv_that_cannot_be_used_ends_in_one_error_line_naming_it(tmp_path, capsys, content, says):
    listing = tmp_path / "clips.csv"
    listing.write_bytes(content)
    argv = ["--corpus", "csv", "--root", str(listing), "--interim-dir", str(tmp_path / "out"), "--jobs", "1"]
    assert preprocess(argv) == 2
    line = _only_error_line(capsys)
    assert line.startswith(str(listing)) and says in line, line


def test_a_bug_in_a_corpus_parser_keeps_its_traceback(tmp_path, capsys, monkeypatch):
    from deepfake_pipeline.ingest.corpora import user_audio

    write_clip(tmp_path / "a.wav")
    (tmp_path / "clips.csv").write_text("path,label\na.wav,real\n")
    monkeypatch.setattr(user_audio, "safe_id", _planted)
    argv = ["--corpus", "csv", "--root", str(tmp_path / "clips.csv"), "--interim-dir", str(tmp_path / "out")]
    with pytest.raises(ValueError, match=PLANTED):
        preprocess([*argv, "--jobs", "1"])
    assert "error:" not in capsys.readouterr().err


# Step 1's --augment: a --recipe spec it refuses, once caught with the derive errors as ValueError.


@pytest.mark.slow  # imports what the step loads (about a second)
def test_a_recipe_spec_that_cannot_be_used_ends_in_one_error_line(tmp_path, capsys):
    argv = ["--augment", "toy_train", "--recipe", "noise", "--interim-dir", str(tmp_path / "interim")]
    assert preprocess(argv) == 2
    assert _only_error_line(capsys) == "'noise': needs a folder, e.g. noise:/data/musan"


def test_a_bug_while_deriving_a_split_keeps_its_traceback(tmp_path, capsys, monkeypatch):
    from deepfake_pipeline.augment import derive

    monkeypatch.setattr(derive, "derive_split", _planted)
    argv = ["--augment", "toy_train", "--recipe", "rawboost5", "--interim-dir", str(tmp_path / "interim")]
    with pytest.raises(ValueError, match=PLANTED):
        preprocess(argv)
    assert "error:" not in capsys.readouterr().err


# Step 2: a split that is not there, once caught as bare ValueError in cli/features.py.


def test_features_of_a_split_not_ingested_end_in_one_error_line(tmp_path, capsys):
    make_split(tmp_path / "interim", tmp_path / "processed", "toy_dev", [0, 1], ["s1", "s2"])
    argv = ["--what", "spectral", "--splits", "toy_eval", "--jobs", "1"]
    dirs = ["--interim-dir", str(tmp_path / "interim"), "--processed-dir", str(tmp_path / "processed")]
    assert features([*argv, *dirs]) == 2
    assert _only_error_line(capsys) == (
        f"split 'toy_eval' not found in {tmp_path / 'interim'} (found: ['toy_dev']): run preprocess_datasets.py first"
    )


def test_a_bug_while_computing_features_keeps_its_traceback(tmp_path, capsys, monkeypatch):
    from deepfake_pipeline.features import extract

    make_split(tmp_path / "interim", tmp_path / "processed", "toy_dev", [0, 1], ["s1", "s2"])
    monkeypatch.setattr(extract, "compute_features", _planted)
    argv = ["--what", "spectral", "--splits", "toy_dev", "--jobs", "1"]
    dirs = ["--interim-dir", str(tmp_path / "interim"), "--processed-dir", str(tmp_path / "processed")]
    with pytest.raises(ValueError, match=PLANTED):
        features([*argv, *dirs])
    assert "error:" not in capsys.readouterr().err


# Step 3's --score: its inputs, once caught as bare FileNotFoundError / ValueError in
# cli/eval_logreg.py.


@pytest.mark.slow  # imports what the step loads (about a second)
def test_score_without_a_fitted_model_ends_in_one_error_line(tmp_path, capsys):
    write_clip(tmp_path / "a.wav")
    assert eval_logreg(["--score", str(tmp_path / "a.wav"), "--from-run", str(tmp_path / "none")]) == 2
    assert _only_error_line(capsys) == (
        f"no fitted model at {tmp_path / 'none'} (no model.json): pass --from-run a results/<run> "
        "folder written by eval_logreg.py"
    )


def test_a_bug_while_scoring_keeps_its_traceback(tmp_path, capsys, monkeypatch):
    from deepfake_pipeline.baseline import score_new

    write_clip(tmp_path / "a.wav")
    monkeypatch.setattr(score_new, "load_model_bundle", _planted)
    with pytest.raises(ValueError, match=PLANTED):
        eval_logreg(["--score", str(tmp_path / "a.wav"), "--from-run", str(tmp_path / "run")])
    assert "error:" not in capsys.readouterr().err


@pytest.fixture(scope="module")
def fitted_run(tmp_path_factory):
    """A spectral baseline fitted on drawn features: what --score needs before it reads a clip."""
    tmp = tmp_path_factory.mktemp("fitted")
    dirs = {name: tmp / name for name in ("interim", "processed", "results")}
    for i, split in enumerate(("train", "dev", "eval")):
        labels, speakers = balanced_design(4, 6, seed=i)
        spectral = informative(labels, 15, [0, 3], seed=10 + i)
        make_split(dirs["interim"], dirs["processed"], f"toy_{split}", labels, speakers, seed=i, spectral=spectral)
    argv = ["--features", "spectral", "--train", "toy_train", "--dev", "toy_dev", "--test", "toy_eval"]
    argv += ["--n-boot", "0", "--C-grid", "1", "--run", "fitted", "--jobs", "1"]
    argv += [f"--{name}-dir={folder}" for name, folder in dirs.items()]
    assert eval_logreg(argv) == 0
    return dirs["results"] / "fitted"


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, content, says",
    [
        ("gone.wav", None, "no such file or folder: {path}"),
        ("notes.txt", b"not audio", "{path} is not an audio file ("),
        ("empty.csv", b"", "{path} cannot be read as a CSV (No columns to parse from file)"),
        ("list.csv", b"path,label\na.wav,maybe\n", "{path}:2: unknown label 'maybe': use bonafide/spoof"),
    ],
)
def test_score_inputs_that_cannot_be_used_end_in_one_error_line(tmp_path, capsys, fitted_run, name, content, says):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    capsys.readouterr()
    assert eval_logreg(["--score", str(path), "--from-run", str(fitted_run), "--jobs", "1"]) == 2
    line = _only_error_line(capsys)
    assert line.startswith(says.format(path=path)), line


# The same through the scripts as a user runs them: the line alone on standard error, and a bug's
# traceback printed in full.


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


@pytest.mark.slow
def test_preprocess_script_prints_a_refusal_as_one_line_and_a_bug_with_its_traceback(tmp_path):
    (tmp_path / "clips.csv").write_text("path,label\na.wav,maybe\n")
    write_clip(tmp_path / "a.wav")
    argv = ["--corpus", "csv", "--root", str(tmp_path / "clips.csv"), "--interim-dir", str(tmp_path / "out")]
    refused = _python("preprocess_datasets.py", *argv, "--jobs", "1")
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [f"error: {tmp_path / 'clips.csv'}:2: {_unknown_label('maybe')}"]

    (tmp_path / "clips.csv").write_text("path,label\na.wav,real\n")
    bug = _python(
        "-c",
        "import sys\n"
        "from deepfake_pipeline.cli.preprocess import main\n"
        "from deepfake_pipeline.ingest.corpora import user_audio\n"
        "def planted(*args):\n"
        f"    raise ValueError({PLANTED!r})\n"
        "user_audio.safe_id = planted\n"
        f"sys.exit(main({[*argv, '--jobs', '1']!r}))\n",
    )
    assert bug.returncode == 1
    assert "Traceback (most recent call last)" in bug.stderr and f"ValueError: {PLANTED}" in bug.stderr
    assert not any(line.startswith("error:") for line in bug.stderr.splitlines()), bug.stderr


def _unknown_label(value: str) -> str:
    return f"unknown label {value!r}: use bonafide/spoof (also accepted: real/fake, genuine, 0/1)"
