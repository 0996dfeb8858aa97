"""A fusion scored on a split whose ASV trials carry ids (the ASVspoof 2021 LA keys layout)
records t-EER and min a-DCF of its fused scores, as step 3 does of its own, checked against the
loops of tests/tandem_references.py on the fused score file."""

import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest
from fusion_fixtures import build_corpus, step3_run
from tandem_references import min_a_dcf_by_hand, t_eer_by_hand

from deepfake_pipeline.cli.fuse_runs import main as fuse

pytestmark = pytest.mark.slow


def _asv_2021(dirs) -> list:
    """One ASV trial per eval clip (bona fide ones split into target / nontarget) in the 2021
    keys layout, recorded in the split's info.json; returns (utt_id, key, score) rows."""
    manifest = pd.read_csv(dirs["interim"] / "toy_eval" / "manifest.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(3)
    keys = ["spoof" if lab == "1" else ("target" if k % 3 else "nontarget") for k, lab in enumerate(manifest["label"])]
    centre = {"target": 2.0, "nontarget": -2.0, "spoof": 1.0}
    rows = [(u, k, round(float(rng.normal(centre[k], 1)), 3)) for u, k in zip(manifest["utt_id"], keys, strict=True)]
    asv = dirs["interim"].parent / "keys" / "LA" / "ASV"
    (asv / "ASVTorch_Kaldi").mkdir(parents=True)
    meta = "".join(
        f"LA_0001 {u} none none {'A07' if k == 'spoof' else 'bonafide'} {k} notrim eval\n" for u, k, _ in rows
    )
    (asv / "trial_metadata.txt").write_text(meta)
    (asv / "ASVTorch_Kaldi" / "score.txt").write_text("".join(f"LA_0001 {u} {s}\n" for u, _, s in rows))
    info_path = dirs["interim"] / "toy_eval" / "info.json"
    info = json.loads(info_path.read_text())
    info["asv_scores"] = {"format": "asvspoof2021", "root": str(asv.parents[1]), "track": "LA", "subset": "eval"}
    info_path.write_text(json.dumps(info))
    return rows


def test_the_fusion_records_t_eer_and_min_a_dcf_of_its_fused_scores(tmp_path):
    with contextlib.redirect_stdout(io.StringIO()):
        dirs = build_corpus(tmp_path)
        rows = _asv_2021(dirs)
        step3_run(dirs, "spec", ["--features", "spectral"])
        step3_run(dirs, "emb", ["--features", "embeddings", "--model", "random:base", "--layer", "1"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        args = ["--runs", str(dirs["results"] / "spec"), str(dirs["results"] / "emb"), "--run", "fused"]
        assert (
            fuse([*args, "--n-boot", "0", "--results-dir", str(dirs["results"]), "--interim-dir", str(dirs["interim"])])
            == 0
        )
    fused = dict(
        line.split() for line in (dirs["results"] / "fused" / "scores" / "toy_eval.txt").read_text().splitlines()
    )
    by_key = {key: [(float(fused[u]), s) for u, k, s in rows if k == key] for key in ("target", "nontarget", "spoof")}
    cm = tuple([c for c, _ in by_key[key]] for key in by_key)
    asv = tuple([a for _, a in by_key[key]] for key in by_key)
    saved = json.loads((dirs["results"] / "fused" / "metrics.json").read_text())["tests"]["toy_eval"]
    assert saved["t_eer"] == pytest.approx(t_eer_by_hand(cm, asv)[0], abs=1e-12)
    sasv = [[c + a for c, a in zip(cs, as_, strict=True)] for cs, as_ in zip(cm, asv, strict=True)]
    assert saved["min_a_dcf"] == pytest.approx(min_a_dcf_by_hand(*sasv)[0], abs=1e-12)
    (line,) = [line for line in out.getvalue().splitlines() if line.startswith("[fuse_runs] tandem test=toy_eval:")]
    assert f"t-EER {100 * saved['t_eer']:.2f}% min a-DCF {saved['min_a_dcf']:.4f}" in line
    assert line.endswith("[untrained model: not a detection result]")  # one input rests on random:base
