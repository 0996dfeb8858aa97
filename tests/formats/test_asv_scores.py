"""The ASV score files' refusals are the user's to fix (formats/asv_scores.py): InputErrors, so
that step 3, which reads them with no except of its own, ends in one `error:` line, not a
traceback. (What the readers read, and the t-DCF from it: tests/evaluation/test_tdcf.py.)"""

import json

import pytest
from logreg_fixtures import balanced_design, informative, make_split

from deepfake_pipeline.cli.eval_logreg import main as eval_logreg
from deepfake_pipeline.common.errors import InputError
from deepfake_pipeline.formats.asv_scores import load_asv_scores, read_asv2019_scores, read_asv2021_scores


def test_a_bad_line_of_a_2019_score_file_is_an_input_error_naming_file_and_line(tmp_path):
    path = tmp_path / "scores.txt"
    path.write_text("bonafide target 1.0\nbonafide target one\n")
    with pytest.raises(InputError) as refused:
        read_asv2019_scores(path)
    assert str(refused.value) == f"{path}, line 2: score 'one' is not a number: 'bonafide target one'"


def test_the_other_refusals_of_the_files_are_input_errors_too(tmp_path):
    one_key = tmp_path / "one_key.txt"
    one_key.write_text("bonafide target 1.0\n")
    with pytest.raises(
        InputError, match="^" + f"{one_key} holds no nontarget or spoof trials; the t-DCF needs all three"
    ):
        read_asv2019_scores(one_key)
    with pytest.raises(InputError, match="^subset must be one of progress, eval, hidden_track or None, got 'dev'$"):
        read_asv2021_scores(tmp_path, subset="dev")
    with pytest.raises(InputError, match="^unknown ASV score format 'asvspoof2015' in info.json$"):
        load_asv_scores({"format": "asvspoof2015"})


@pytest.mark.slow
def test_step_3_on_a_split_whose_asv_scores_are_malformed_ends_in_one_error_line(tmp_path, capsys):
    dirs = {name: tmp_path / name for name in ("interim", "processed", "results")}
    for i, split in enumerate(("train", "dev", "eval")):
        labels, speakers = balanced_design(4, 6, seed=i)
        spectral = informative(labels, 15, [0, 3], seed=10 + i)
        split_dir = make_split(
            dirs["interim"], dirs["processed"], f"toy_{split}", labels, speakers, seed=i, spectral=spectral
        )
    asv = tmp_path / "asv_eval.txt"
    asv.write_text("bonafide target 1.0\nbonafide nontarget 0.0\nA01 spoof\n")
    info = json.loads((split_dir / "info.json").read_text())
    info["asv_scores"] = {"format": "asvspoof2019", "path": str(asv)}
    (split_dir / "info.json").write_text(json.dumps(info))
    argv = ["--features", "spectral", "--train", "toy_train", "--dev", "toy_dev", "--test", "toy_eval"]
    argv += ["--n-boot", "0", "--C-grid", "1", "--run", "r", "--jobs", "1"]
    assert eval_logreg([*argv, *(f"--{name}-dir={folder}" for name, folder in dirs.items())]) == 2
    err = capsys.readouterr().err  # progress lines come before the closing one
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert "Traceback" not in err and err.rstrip().endswith(errors[-1]), err
    assert errors == [f"error: {asv}, line 3: expected 3 fields (CM_KEY ASV_KEY SCORE), got 2: 'A01 spoof'"]
