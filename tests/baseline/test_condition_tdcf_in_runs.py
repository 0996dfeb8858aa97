"""Step 3 on an ASVspoof 2021-style split (codec column, organisers' ASV keys with conditions):
each codec's min t-DCF from that codec's own CM and ASV trials, and the attack x codec grid,
in metrics.json and in the printout; checked against the plain-loop reference."""

import json

import numpy as np
import pandas as pd
import pytest
from condition_fixtures import reference_min_tdcf
from logreg_fixtures import balanced_design, informative, make_split, retie_spectral

from deepfake_pipeline.cli.eval_logreg import main
from deepfake_pipeline.formats.score_files import read_score_file

CODECS = ("alaw", "none")


def _asv_2021(keys_dir, rng):
    """keys/LA/ASV/trial_metadata.txt and ASVTorch_Kaldi/score.txt; every codec has its own ASV
    operating point (targets score higher in `none`)."""
    asv = keys_dir / "LA" / "ASV"
    (asv / "ASVTorch_Kaldi").mkdir(parents=True)
    rows = []
    for codec, shift in zip(CODECS, (0.0, 1.5), strict=True):
        for key, attack, n, mean in (
            ("target", "bonafide", 30, 3 + shift),
            ("nontarget", "bonafide", 60, -2),
            ("spoof", "A01", 20, 1.0),
            ("spoof", "A02", 20, 2.5),
        ):
            rows += [(codec, key, attack, x) for x in rng.normal(mean, 1, n)]
    meta = [f"LA_{i % 9:04d} LA_E_{i:07d} {c} - {a} {k} notrim eval" for i, (c, k, a, _) in enumerate(rows)]
    scores = [f"LA_{i % 9:04d} LA_E_{i:07d} {x:.5f}" for i, (*_, x) in enumerate(rows)]
    (asv / "trial_metadata.txt").write_text("\n".join(meta) + "\n")
    (asv / "ASVTorch_Kaldi" / "score.txt").write_text("\n".join(scores) + "\n")
    return pd.DataFrame(rows, columns=["codec", "key", "attack", "score"]).assign(score=lambda d: d.score.round(5))


@pytest.mark.slow
def test_each_codec_and_cell_uses_its_own_asv_trials(tmp_path, capsys):
    dirs = {k: tmp_path / k for k in ("interim", "processed", "results")}
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
    asv = _asv_2021(tmp_path / "keys", np.random.default_rng(3))
    info = json.loads((split_dir / "info.json").read_text())
    info["asv_scores"] = {"format": "asvspoof2021", "root": str(tmp_path / "keys"), "track": "LA", "subset": "eval"}
    (split_dir / "info.json").write_text(json.dumps(info))
    path = dirs["interim"] / "toy_eval" / "manifest.csv"
    manifest = pd.read_csv(path, dtype=str, keep_default_na=False)
    manifest["codec"] = np.where(np.arange(len(manifest)) // 2 % 2, "alaw", "none")  # across attacks
    manifest.to_csv(path, index=False)
    retie_spectral(dirs["processed"], path.parent)
    args = ["--features", "spectral", "--train", "toy_train", "--dev", "toy_dev", "--test", "toy_eval"]
    args += ["--run", "r", "--n-boot", "0", "--C-grid", "1"]
    for name in ("interim", "processed", "results"):
        args += [f"--{name}-dir", str(dirs[name])]
    assert main(args) == 0
    out = capsys.readouterr().out
    saved = json.loads((dirs["results"] / "r" / "metrics.json").read_text())["tests"]["toy_eval"]
    _, scores = read_score_file(dirs["results"] / "r" / "scores" / "toy_eval.txt")
    labels = manifest["label"].astype(int).to_numpy()
    codec, attack = manifest["codec"].to_numpy(), manifest["attack"].to_numpy()

    def expected(value, of_attack):
        in_cm = (codec == value) if value != "pooled" else np.ones(codec.size, bool)
        in_asv = (asv.codec == value) if value != "pooled" else asv.codec == asv.codec
        spoof = (labels == 1) & in_cm & ((attack == of_attack) | (of_attack == "pooled"))
        asv_spoof = (asv.key == "spoof") & in_asv & ((asv.attack == of_attack) | (of_attack == "pooled"))
        return reference_min_tdcf(
            scores[(labels == 0) & in_cm].tolist(),
            scores[spoof].tolist(),
            asv.score[(asv.key == "target") & in_asv].tolist(),
            asv.score[(asv.key == "nontarget") & in_asv].tolist(),
            asv.score[asv_spoof].tolist(),
        )

    for value in CODECS:
        row = saved["per_condition"]["codec"][value]
        assert row["min_tdcf"] == pytest.approx(expected(value, "pooled"), rel=1e-12)
    # the two codecs' ASV thresholds differ, so pooling the ASV would have moved them
    assert saved["per_condition"]["codec"]["none"]["min_tdcf"] != saved["per_condition"]["codec"]["alaw"]["min_tdcf"]
    grid = saved["condition_grid"]["codec"]
    assert list(grid) == ["A01", "A02", "pooled"] and list(grid["A01"]) == ["alaw", "none", "pooled"]
    for row_attack, row in grid.items():
        for value, cell in row.items():
            assert cell["min_tdcf"] == pytest.approx(expected(value, row_attack), rel=1e-12)
    assert grid["pooled"]["pooled"]["min_tdcf"] == pytest.approx(saved["min_tdcf"], rel=1e-12)
    assert saved["per_attack"]["A02"]["min_tdcf"] == pytest.approx(expected("pooled", "A02"), rel=1e-12)
    assert "attack x codec, test=toy_eval (EER %/min t-DCF)" in out
    assert f"{saved['per_condition']['codec']['none']['min_tdcf']:.4f}" in out
