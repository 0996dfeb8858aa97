"""Score files hold every score exactly (issue 17): reading one back, with our reader or with
numpy as the organisers' scripts do, gives the very float64 the run computed and printed its
metrics from. With 8 significant digits, a 70k-trial set got bona fide / spoof ties that the
run's own scores did not have, and its min t-DCF moved by 1.6e-5."""

import numpy as np

from deepfake_pipeline.formats.score_files import read_score_file, write_score_file, write_score_file_2019

AWKWARD = [
    0.1,
    1 / 3,
    -2.0 / 7,
    5e-324,
    -1e-300,
    1.7976931348623157e308,
    123456789.12345679,
    -0.0,
    0.0,
    2.5,
    1 + 2**-52,
    4.2e-17,
]


def test_every_score_reads_back_as_the_same_float64(tmp_path):
    rng = np.random.default_rng(0)
    scores = np.concatenate([AWKWARD, rng.standard_normal(5000) * 10.0 ** rng.integers(-12, 12, 5000)])
    ids = [f"u{i}" for i in range(len(scores))]
    path = write_score_file(tmp_path / "s.txt", ids, scores)
    read_ids, read = read_score_file(path)
    assert read_ids == ids and read.dtype == np.float64
    assert np.array_equal(read.view(np.int64), scores.view(np.int64))  # bit for bit, -0.0 included
    as_organisers_read_it = np.loadtxt(path, dtype=str)[:, 1].astype(np.float64)
    assert np.array_equal(as_organisers_read_it, scores)


def test_close_scores_of_the_two_classes_stay_apart(tmp_path):
    """Scores 1e-12 apart: 8 digits wrote them as one value, a tie the metrics then split."""
    bona = 0.7312345678 + np.arange(500) * 1e-12
    spoof = bona + 5e-13
    scores = np.concatenate([bona, spoof])
    labels = np.array([0] * 500 + [1] * 500)
    path = write_score_file_2019(
        tmp_path / "s.2019.txt", [f"u{i}" for i in range(1000)], ["A01"] * 1000, labels, scores
    )
    written = np.loadtxt(path, dtype=str)[:, 3].astype(np.float64)
    assert len(np.unique(written)) == 1000
    assert np.array_equal(written, scores)


def test_asvspoof5_score_file_reads_back_as_their_evaluation_py_reads_it(tmp_path):
    """The ASVspoof 5 package's evaluation.py: pd.read_csv(sep='\\t'), columns filename, cm-score."""
    import pandas as pd

    from deepfake_pipeline.formats.score_files import write_score_file_asvspoof5

    rng = np.random.default_rng(1)
    scores = np.concatenate([AWKWARD, rng.standard_normal(2000) * 10.0 ** rng.integers(-12, 12, 2000)])
    ids = [f"E_{i:07d}" for i in range(len(scores))]
    path = write_score_file_asvspoof5(tmp_path / "s.asvspoof5.tsv", ids, scores)
    assert path.read_text().splitlines()[0] == "filename\tcm-score"
    table = pd.read_csv(path, sep="\t")
    assert list(table.columns) == ["filename", "cm-score"]
    assert table["filename"].tolist() == ids
    read = table["cm-score"].to_numpy(dtype=np.float64)
    assert np.array_equal(read.view(np.int64), scores.view(np.int64))


def test_both_steps_write_the_asvspoof5_file_beside_the_plain_one(tmp_path):
    import pandas as pd

    from deepfake_pipeline.formats.run_dir import RunDir

    class Split:
        utt_ids = ["a", "b", "c"]
        info = {}

    run = RunDir(tmp_path, "r", explicit=True)
    run.write_split_scores("demo_eval", Split, [0.5, -1 / 3, 2.0])
    table = pd.read_csv(tmp_path / "r" / "scores" / "demo_eval.asvspoof5.tsv", sep="\t")
    assert table["filename"].tolist() == ["a", "b", "c"]
    assert table["cm-score"].tolist() == [0.5, -1 / 3, 2.0]
