"""`eval_logreg.py --score`: what the run knows is said once at the top (untrained, demo, its test
result, a shortcut it did not beat, what the score means, the threshold's clips), a count at the
end, and `--out scores.csv` holding the same verdicts."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from test_eval_logreg import _run_from_audio, _write_wav

from deepfake_pipeline.baseline.score_report import header_lines
from deepfake_pipeline.cli.eval_logreg import main
from deepfake_pipeline.evaluation.closing import parse_closing_line


@pytest.fixture
def dirs(tmp_path):
    return {"interim": tmp_path / "interim", "processed": tmp_path / "processed", "results": tmp_path / "results"}


def _bundle(**changes):
    bundle = {
        "feature_spec": {"kind": "embeddings"},
        "feature_meta": {"model": "random:base"},
        "layers": [5],
        "C": 0.1,
        "fitted_on": "mine_train",
        "threshold": 0.25,
        "threshold_source": "EER threshold on the dev split",
        "untrained": False,
        "demo": False,
    }
    return {**bundle, **changes}


def _write_metrics(run: Path, payload: dict) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    (run / "metrics.json").write_text(json.dumps(payload))
    return run


def test_the_header_says_what_the_run_knows_once(tmp_path):
    run = _write_metrics(
        tmp_path / "fit",
        {
            "protocol": "holdout",
            "dev": {"n_bonafide": 12, "n_spoof": 40},
            "tests": {
                "a_eval": {"auc": 0.6944, "silence_only": {"auc": 1.0, "clearly_beaten": False}},
                "b_eval": {"auc": 0.9, "silence_only": {"auc": 0.5, "clearly_beaten": True}},
            },
        },
    )
    lines = header_lines(run, _bundle(untrained=True, demo=True))
    text = "\n".join(lines)
    assert (
        lines[0]
        == "[eval_logreg --score] model of run fit: embeddings random:base layer 5, C=0.1, fitted on mine_train"
    )
    assert "UNTRAINED" in text and "demo corpus" in text
    assert "that run's result on test=a_eval: ROC-AUC 0.6944" in text
    assert "test=b_eval: ROC-AUC 0.9000" in text
    # The shortcut warning for the test where the model did not beat silence, and only that one.
    warnings = [line for line in lines if "WARNING" in line]
    assert len(warnings) == 1 and "test=a_eval" in warnings[0] and "silence-only ROC-AUC 1.0000" in warnings[0]
    assert lines[-1].endswith(
        "-> bonafide when score >= 0.250000, the EER threshold on the dev split, set on 52 clips (12 bona fide, "
        "40 spoof) -- few: the threshold is rough"
    )
    assert "log-odds that a clip is bona fide" in lines[-1]
    # A trained model, real data: none of the notes.
    plain = "\n".join(header_lines(run, _bundle()))
    assert "UNTRAINED" not in plain and "demo corpus" not in plain


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({"protocol": "train_cv", "train_cv": {"n_bonafide": 400, "n_spoof": 600}}, "set on 1,000 clips (400 bona"),
        ({"protocol": "cv", "tests": {"x(cv5)": {"auc": 0.7, "n_bonafide": 30, "n_spoof": 31}}}, "set on 61 clips"),
        ({}, "on how many clips is not recorded"),
    ],
)
def test_the_threshold_says_how_many_clips_it_rests_on_for_every_protocol(tmp_path, payload, says):
    lines = header_lines(_write_metrics(tmp_path / "r", payload), _bundle(feature_spec={"kind": "spectral"}, layers=[]))
    assert says in lines[-1] and "few" not in lines[-1]


@pytest.mark.slow
def test_score_counts_its_verdicts_and_writes_them_to_a_csv(tmp_path, dirs, capsys):
    run = _run_from_audio(tmp_path, dirs, per_split=12)
    threshold = json.loads((Path(run) / "model.json").read_text())["threshold"]
    capsys.readouterr()
    new = tmp_path / "new"
    for i in range(3):
        _write_wav(new / "real" / f"r{i}.wav", 700 + i, False)
        _write_wav(new / "fake" / f"f{i}.wav", 710 + i, True)
    (new / "fake" / "broken.wav").write_bytes(b"not audio")
    out_csv = tmp_path / "scores.csv"
    assert main(["--score", str(new), "--from-run", run, "--jobs", "1", "--out", str(out_csv)]) == 0
    out = capsys.readouterr().out.splitlines()
    header = [line for line in out if line.startswith("[eval_logreg --score]")]
    # mine_dev: 12 clips, every other one spoofed
    assert "set on 12 clips (6 bona fide, 6 spoof) -- few" in header[-3]
    scored = {
        m["path"]: (float(m["score"]), m["verdict"])
        for m in (re.match(r"^(?P<path>\S+) score=(?P<score>\S+) -> (?P<verdict>\w+) ", line) for line in out)
        if m
    }
    assert len(scored) == 6
    n_bona = sum(verdict == "bonafide" for _, verdict in scored.values())
    assert f"6 clips scored: {n_bona} -> bonafide, {6 - n_bona} -> spoof; 1 rejected (listed above)" in header[-2]
    assert header[-1] == f"[eval_logreg --score] wrote {out_csv}"
    (closing,) = [line for line in out if line.startswith("ROC-AUC test=")]  # the clips are labelled
    assert parse_closing_line(closing)["run"] == "fit"
    table = pd.read_csv(out_csv, keep_default_na=False)
    assert list(table.columns) == ["path", "score", "verdict", "threshold", "rejected"]
    kept = table[table["rejected"] == ""].astype({"score": float, "threshold": float})
    assert {p: (round(s, 6), v) for p, s, v in zip(kept["path"], kept["score"], kept["verdict"], strict=True)} == {
        p: (round(s, 6), v) for p, (s, v) in scored.items()
    }
    assert all((s >= threshold) == (v == "bonafide") for s, v in zip(kept["score"], kept["verdict"], strict=True))
    (rejected,) = table[table["rejected"] != ""].itertuples()
    assert rejected.path.endswith("broken.wav") and rejected.verdict == "" and rejected.rejected

    # An existing --out is replaced only with --overwrite; --out belongs to --score.
    assert main(["--score", str(new), "--from-run", run, "--out", str(out_csv)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["--features", "spectral", "--train", "a", "--dev", "b", "--test", "c", "--out", "x.csv"]) == 2
    assert "--out applies to --score only" in capsys.readouterr().err
    assert main(["--score", str(new), "--from-run", run, "--out", str(tmp_path / "no" / "s.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
