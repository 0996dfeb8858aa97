"""Step 3 reports the field's own numbers: the official EER on the closing line and in
metrics.json, min t-DCF where step 1 recorded the organisers' ASV scores (n/a, said so, where
there are none), and the ASVspoof 5 metrics beside them."""

import json

import numpy as np
import pytest
from logreg_fixtures import balanced_design, informative, make_split, retie_spectral

from deepfake_pipeline.cli.eval_logreg import main
from deepfake_pipeline.evaluation import tdcf
from deepfake_pipeline.evaluation.closing import parse_closing_line
from deepfake_pipeline.formats.asv_scores import read_asv2019_scores
from deepfake_pipeline.formats.score_files import read_score_file


def official_eer_by_hand(labels, scores):
    """The ASVspoof evaluation package's EER, restated: sort all scores (bona fide first among
    ties), reject the k lowest for k = 0..n, take the k where |FRR - FAR| is smallest (the first
    such k) and average the two rates there."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    bona, spoof = scores[labels == 0], scores[labels == 1]
    order = np.argsort(np.concatenate([bona, spoof]), kind="mergesort")
    is_bona = order < bona.size
    best = None
    for k in range(order.size + 1):
        frr = is_bona[:k].sum() / bona.size
        far = (spoof.size - (~is_bona[:k]).sum()) / spoof.size
        if best is None or abs(frr - far) < best[0]:
            best = (abs(frr - far), (frr + far) / 2)
    return best[1]


def _corpus(dirs, with_asv: bool):
    for i, split in enumerate(("train", "dev", "eval")):
        labels, speakers = balanced_design(8, 10, seed=i)
        if split == "eval":
            # Unequal class sizes: the official EER then falls off the interpolated crossing.
            labels = np.array([0] * 23 + [1] * 57)
            speakers = [f"s{k % 8}" for k in range(80)]
        split_dir = make_split(
            dirs["interim"],
            dirs["processed"],
            f"toy_{split}",
            labels,
            speakers,
            seed=i,
            spectral=informative(labels, 15, [0, 3], strength=0.6, seed=10 + i),
        )
        if with_asv and split == "eval":
            rng = np.random.default_rng(5)
            asv = dirs["interim"].parent / "asv_eval.txt"
            lines = [f"bonafide target {x:.5f}" for x in rng.normal(3, 1, 60)]
            lines += [f"bonafide nontarget {x:.5f}" for x in rng.normal(-3, 1, 200)]
            lines += [f"A0{1 + k % 2} spoof {x:.5f}" for k, x in enumerate(rng.normal(1, 1.5, 80))]
            asv.write_text("\n".join(lines) + "\n")
            info = json.loads((split_dir / "info.json").read_text())
            info["asv_scores"] = {"format": "asvspoof2019", "path": str(asv)}
            (split_dir / "info.json").write_text(json.dumps(info))


@pytest.fixture
def dirs(tmp_path):
    return {"interim": tmp_path / "interim", "processed": tmp_path / "processed", "results": tmp_path / "results"}


def _run(dirs, capsys):
    rc = main(
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
            "r",
            "--n-boot",
            "40",
            "--C-grid",
            "0.1",
            "1",
            "--interim-dir",
            str(dirs["interim"]),
            "--processed-dir",
            str(dirs["processed"]),
            "--results-dir",
            str(dirs["results"]),
        ]
    )
    assert rc == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ROC-AUC test=")]
    run = dirs["results"] / "r"
    return parse_closing_line(lines[-1]), json.loads((run / "metrics.json").read_text())["tests"]["toy_eval"], run


@pytest.mark.slow
def test_closing_line_carries_the_official_eer_and_min_tdcf(dirs, capsys):
    _corpus(dirs, with_asv=True)
    parsed, saved, run = _run(dirs, capsys)
    labels = np.array(_labels(dirs))
    _, scores = read_score_file(run / "scores" / "toy_eval.txt")
    expected_eer = official_eer_by_hand(labels, scores)
    assert saved["eer"] == pytest.approx(expected_eer, abs=1e-12)
    assert parsed["eer"] == pytest.approx(100 * expected_eer, abs=5e-3)
    asv = read_asv2019_scores(dirs["interim"].parent / "asv_eval.txt")
    expected_tdcf = tdcf.min_tdcf_2019(
        scores[labels == 0], scores[labels == 1], asv.target, asv.nontarget, asv.spoof
    ).min_tdcf
    assert saved["min_tdcf"] == pytest.approx(expected_tdcf, abs=1e-12) and saved["min_tdcf_version"] == "2019"
    assert parsed["min_tdcf"] == pytest.approx(expected_tdcf, abs=5e-5)
    # ASVspoof 5's metrics beside them; Cllr on the scores made LLRs with the training prior.
    for key in ("min_dcf", "act_dcf", "cllr", "min_cllr", "eer_interpolated"):
        assert saved[key] is not None, key
    assert saved["min_cllr"] <= saved["cllr"] + 1e-9
    # This corpus is one where the two conventions differ, so the test tells them apart.
    assert saved["eer"] != saved["eer_interpolated"]
    assert abs(saved["eer"] - saved["eer_interpolated"]) <= 0.5 / min(np.sum(labels == 0), np.sum(labels == 1)) + 1e-12


@pytest.mark.slow
def test_no_asv_scores_is_said_not_guessed(dirs, capsys):
    _corpus(dirs, with_asv=False)
    parsed, saved, _ = _run(dirs, capsys)
    assert parsed["min_tdcf"] is None and saved["min_tdcf"] is None
    assert "no ASV scores" in saved["min_tdcf_note"]


def _labels(dirs):
    import pandas as pd

    return pd.read_csv(dirs["interim"] / "toy_eval" / "manifest.csv")["label"].tolist()


@pytest.mark.slow
def test_breakdowns_by_condition_follow_the_evaluation_package(dirs, capsys):
    """Codec holds for both classes (each value scored on its own trials); the vocoder family is
    spoof-only (its spoofs against every bona fide trial), as in the 2021 package's config."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    _corpus(dirs, with_asv=False)
    path = dirs["interim"] / "toy_eval" / "manifest.csv"
    manifest = pd.read_csv(path, dtype=str, keep_default_na=False)
    labels = manifest["label"].astype(int).to_numpy()
    manifest["codec"] = np.where(np.arange(len(manifest)) % 2, "alaw", "none")
    # A value held by one class only (FakeAVCeleb's video method `real`) has no AUC or EER.
    manifest["method"] = np.where(labels == 0, "real", "wav2lip")
    manifest["vocoder"] = np.where(labels == 0, "bonafide", np.where(np.arange(len(manifest)) % 3, "neural", "trad"))
    manifest.to_csv(path, index=False)
    retie_spectral(dirs["processed"], path.parent)  # only conditions changed, not the audio
    _, saved, run = _run(dirs, capsys)
    _, scores = read_score_file(run / "scores" / "toy_eval.txt")
    codec, vocoder = manifest["codec"].to_numpy(), manifest["vocoder"].to_numpy()
    for value in ("alaw", "none"):
        keep = codec == value
        row = saved["per_condition"]["codec"][value]
        assert row["auc"] == pytest.approx(roc_auc_score(labels[keep] == 0, scores[keep]), abs=1e-12)
        assert row["eer"] == pytest.approx(official_eer_by_hand(labels[keep], scores[keep]), abs=1e-12)
    assert saved["per_condition"]["method"]["real"]["auc"] is None
    assert saved["per_condition"]["method"]["real"]["eer"] is None
    assert set(saved["per_condition"]["vocoder"]) == {"neural", "trad"}
    for value in ("neural", "trad"):
        keep = (labels == 0) | (vocoder == value)
        row = saved["per_condition"]["vocoder"][value]
        assert row["n_bonafide"] == int(np.sum(labels == 0))
        assert row["auc"] == pytest.approx(roc_auc_score(labels[keep] == 0, scores[keep]), abs=1e-12)


@pytest.mark.slow
def test_asvspoof2019_splits_get_the_four_field_score_file_of_the_2019_package(dirs, capsys):
    _corpus(dirs, with_asv=True)
    _, _, run = _run(dirs, capsys)
    import pandas as pd

    manifest = pd.read_csv(dirs["interim"] / "toy_eval" / "manifest.csv", dtype=str, keep_default_na=False)
    rows = [line.split() for line in (run / "scores" / "toy_eval.2019.txt").read_text().splitlines()]
    ids, scores = read_score_file(run / "scores" / "toy_eval.txt")
    assert [r[0] for r in rows] == ids == manifest["utt_id"].tolist()
    assert [r[2] for r in rows] == ["bonafide" if v == "0" else "spoof" for v in manifest["label"]]
    assert [r[1] for r in rows] == [
        a if v == "1" else "-" for a, v in zip(manifest["attack"], manifest["label"], strict=True)
    ]
    assert np.allclose([float(r[3]) for r in rows], scores, rtol=1e-7)
