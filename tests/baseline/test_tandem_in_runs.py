"""Step 3 records t-EER and min a-DCF for a test split whose ASV scores have trial ids (the
ASVspoof 2021 LA layout), prints one tandem line per test split, and says why where there are
none (2019 LA score files: no trial ids; no ASV scores at all)."""

import json

import numpy as np
import pandas as pd
import pytest
from logreg_fixtures import balanced_design, informative, make_split
from tandem_references import min_a_dcf_by_hand, t_eer_by_hand

from deepfake_pipeline.cli.eval_logreg import main
from deepfake_pipeline.formats.score_files import read_score_file


def _corpus(dirs, asv: str | None):
    """Three toy splits; the eval split gets ASV scores in the 2021 keys layout (`asv="2021"`:
    one trial per eval clip, bona fide clips split into target / nontarget, plus one trial of a
    clip the split lacks) or the 2019 one (no trial ids)."""
    for i, split in enumerate(("train", "dev", "eval")):
        labels, speakers = balanced_design(8, 10, seed=i)
        split_dir = make_split(
            dirs["interim"],
            dirs["processed"],
            f"toy_{split}",
            labels,
            speakers,
            seed=i,
            spectral=informative(labels, 15, [0, 3], strength=0.6, seed=10 + i),
        )
        if split != "eval" or asv is None:
            continue
        manifest = pd.read_csv(dirs["interim"] / "toy_eval" / "manifest.csv", dtype=str, keep_default_na=False)
        rng = np.random.default_rng(7)
        keys = [
            "spoof" if label == "1" else ("target" if k % 3 else "nontarget")
            for k, label in enumerate(manifest["label"])
        ]
        centre = {"target": 2.0, "nontarget": -2.0, "spoof": 1.0}
        rows = [
            (u, k, round(float(rng.normal(centre[k], 1)), 3)) for u, k in zip(manifest["utt_id"], keys, strict=True)
        ]
        rows.append(("LA_E_not_in_split", "spoof", 0.25))
        root = dirs["interim"].parent / "keys"
        if asv == "2021":
            scorer = root / "LA" / "ASV" / "ASVTorch_Kaldi"
            scorer.mkdir(parents=True)
            meta = "".join(
                f"LA_0001 {u} none none {'A07' if k == 'spoof' else 'bonafide'} {k} notrim eval\n" for u, k, _ in rows
            )
            (root / "LA" / "ASV" / "trial_metadata.txt").write_text(meta)
            (scorer / "score.txt").write_text("".join(f"LA_0001 {u} {s}\n" for u, _, s in rows))
            source = {"format": "asvspoof2021", "root": str(root), "track": "LA", "subset": "eval"}
        else:
            path = dirs["interim"].parent / "asv_eval.txt"
            path.write_text("".join(f"{'A07' if k == 'spoof' else 'bonafide'} {k} {s}\n" for _, k, s in rows))
            source = {"format": "asvspoof2019", "path": str(path)}
        info = json.loads((split_dir / "info.json").read_text())
        info["asv_scores"] = source
        (split_dir / "info.json").write_text(json.dumps(info))
        return rows


def _run(dirs, capsys):
    args = ["--features", "spectral", "--train", "toy_train", "--dev", "toy_dev", "--test", "toy_eval", "--run", "r"]
    args += ["--n-boot", "0", "--C-grid", "1", "--interim-dir", str(dirs["interim"])]
    args += ["--processed-dir", str(dirs["processed"]), "--results-dir", str(dirs["results"])]
    assert main(args) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[eval_logreg] tandem")]
    run = dirs["results"] / "r"
    return lines, json.loads((run / "metrics.json").read_text())["tests"]["toy_eval"], run


@pytest.fixture
def dirs(tmp_path):
    return {"interim": tmp_path / "interim", "processed": tmp_path / "processed", "results": tmp_path / "results"}


@pytest.mark.slow
def test_2021_trials_give_t_eer_and_min_a_dcf(dirs, capsys):
    rows = _corpus(dirs, "2021")
    lines, saved, run = _run(dirs, capsys)
    ids, scores = read_score_file(run / "scores" / "toy_eval.txt")
    cm_of = dict(zip(ids, scores, strict=True))
    joined = [(k, s, cm_of[u]) for u, k, s in rows if u in cm_of]
    keys = ("target", "nontarget", "spoof")
    cm = tuple([c for k, _, c in joined if k == key] for key in keys)
    asv = tuple([a for k, a, _ in joined if k == key] for key in keys)
    assert saved["t_eer"] == pytest.approx(t_eer_by_hand(cm, asv)[0], abs=1e-12)
    sasv = [[c + a for c, a in zip(cs, as_, strict=True)] for cs, as_ in zip(cm, asv, strict=True)]
    assert saved["min_a_dcf"] == pytest.approx(min_a_dcf_by_hand(*sasv)[0], abs=1e-12)
    assert saved["tandem"]["n_trials"] == len(rows) - 1 and saved["tandem"]["n_without_cm"] == 1
    assert saved["tandem"]["asv"]["format"] == "asvspoof2021" and saved["tandem_note"] is None
    assert lines == [
        f"[eval_logreg] tandem test=toy_eval: t-EER {100 * saved['t_eer']:.2f}% min a-DCF {saved['min_a_dcf']:.4f} "
        f"(ASV: organisers' scores, {len(rows) - 1} trials; 1 ASV trials had no CM score, left out)"
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("asv", "why"), [("2019", "no trial ids"), (None, "no ASV scores")])
def test_no_trial_ids_is_said_not_guessed(dirs, capsys, asv, why):
    _corpus(dirs, asv)
    lines, saved, _ = _run(dirs, capsys)
    assert saved["t_eer"] is None and saved["min_a_dcf"] is None and saved["tandem"] is None
    assert why in saved["tandem_note"]
    assert lines == [f"[eval_logreg] tandem test=toy_eval: no t-EER or a-DCF: {saved['tandem_note']}"]
