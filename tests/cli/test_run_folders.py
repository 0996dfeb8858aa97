"""A run's folder is a plain name directly under --results-dir, and a folder that holds anything
but an unfinished run of the very same command is never written into without --overwrite
(issue 17: `--run ..` wrote into the repository root, replacing its config.json)."""

import json

import pytest
from logreg_fixtures import balanced_design, informative, make_split

from deepfake_pipeline.cli.eval_logreg import main as eval_logreg
from deepfake_pipeline.cli.train_contrastive import main as train_contrastive


@pytest.fixture
def corpus(tmp_path):
    dirs = {
        "interim": tmp_path / "data" / "interim",
        "processed": tmp_path / "data" / "processed",
        "results": tmp_path / "work" / "results",
    }
    for i, split in enumerate(("train", "dev", "eval")):
        labels, speakers = balanced_design(6, 8, seed=i)
        make_split(
            dirs["interim"],
            dirs["processed"],
            f"toy_{split}",
            labels,
            speakers,
            seed=i,
            spectral=informative(labels, 15, [0, 3], seed=10 + i),
        )
    return dirs


def _step3(dirs, *extra):
    return [
        "--features",
        "spectral",
        "--train",
        "toy_train",
        "--dev",
        "toy_dev",
        "--test",
        "toy_eval",
        "--n-boot",
        "0",
        "--C-grid",
        "1",
        "--interim-dir",
        str(dirs["interim"]),
        "--processed-dir",
        str(dirs["processed"]),
        "--results-dir",
        str(dirs["results"]),
        *extra,
    ]


@pytest.mark.parametrize("name", ["..", ".", "a/b", "../elsewhere", "-x", ".hidden", "a b", ""])
def test_a_run_name_that_is_not_a_plain_name_is_refused_before_any_work(corpus, capsys, name):
    parent = corpus["results"].parent
    parent.mkdir(parents=True, exist_ok=True)
    (parent / "config.json").write_text('{"mine": true}\n')
    assert eval_logreg(_step3(corpus, f"--run={name}", "--overwrite")) == 2
    err = capsys.readouterr().err
    assert f"error: --run {name!r} is not a plain name" in err and "Traceback" not in err
    assert (parent / "config.json").read_text() == '{"mine": true}\n'
    assert not corpus["results"].exists()
    assert train_contrastive(["--baseline-run", str(parent), f"--run={name}"]) == 2
    assert "is not a plain name" in capsys.readouterr().err


@pytest.mark.slow
def test_a_folder_holding_other_files_is_not_written_into_without_overwrite(corpus, capsys):
    folder = corpus["results"] / "shared"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("a colleague's notes\n")
    assert eval_logreg(_step3(corpus, "--run", "shared")) == 2
    err = capsys.readouterr().err
    assert f"error: {folder} already holds files (notes.txt): pick another --run name or pass --overwrite" in err
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    assert eval_logreg(_step3(corpus, "--run", "shared", "--overwrite")) == 0
    assert (folder / "metrics.json").is_file() and (folder / "notes.txt").read_text() == "a colleague's notes\n"


@pytest.mark.slow
def test_an_unfinished_run_is_resumed_only_by_the_same_arguments(corpus, capsys):
    folder = corpus["results"] / "killed"
    assert eval_logreg(_step3(corpus, "--run", "killed")) == 0
    (folder / "metrics.json").unlink()  # as if killed before its last file
    recorded = json.loads((folder / "config.json").read_text())["args"]
    assert eval_logreg(_step3(corpus, "--run", "killed", "--C-grid", "0.1")) == 2
    assert f"{folder} holds an unfinished run of other arguments" in capsys.readouterr().err
    assert not (folder / "metrics.json").exists()
    assert eval_logreg(_step3(corpus, "--run", "killed", "--threads", "1")) == 0  # threads change no number
    assert (folder / "metrics.json").is_file()
    assert json.loads((folder / "config.json").read_text())["args"]["C_grid"] == recorded["C_grid"] == [1.0]


@pytest.mark.slow
def test_an_automatic_name_that_is_taken_by_other_files_gets_a_suffix(corpus, capsys):
    assert eval_logreg(_step3(corpus)) == 0
    (first,) = [p for p in corpus["results"].iterdir() if p.is_dir()]
    other = corpus["results"] / f"{first.name}-2"
    other.mkdir()
    (other / "readme.txt").write_text("not a run\n")
    assert eval_logreg(_step3(corpus)) == 0
    assert (corpus["results"] / f"{first.name}-3" / "metrics.json").is_file()
    assert sorted(p.name for p in other.iterdir()) == ["readme.txt"]
