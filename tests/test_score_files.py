"""Score files hold every score exactly (issue 17): reading one back, with our reader or with
numpy as the organisers' scripts do, gives the very float64 the run computed and printed its
metrics from. With 8 significant digits, a 70k-trial set got bona fide / spoof ties that the
run's own scores did not have, and its min t-DCF moved by 1.6e-5."""

import numpy as np

from deepfake_pipeline.formats.score_files import read_score_file, write_score_file, write_score_file_2019

AWKWARD = [0.1, 1 / 3, -2.0 / 7, 5e-324, -1e-300, 1.7976931348623157e308, 123456789.12345679, -0.0, 0.0,
           2.5, 1 + 2 ** -52, 4.2e-17]


def test_every_score_reads_back_as_the_same_float64(tmp_path):
    rng = np.random.default_rng(0)
    scores = np.concatenate([AWKWARD, rng.standard_normal(5000) * 10.0 ** rng.integers(-12, 12, 5000)])
    ids = [f"u{i}" for i in range(len(scores))]
    path = write_score_file(tmp_path / "s.txt", ids, scores)
    read_ids, read = read_score_file(path)
    assert read_ids == ids and read.dtype == np.float64
    assert np.array_equal(read.view(np.int64), scores.view(np.int64))      # bit for bit, -0.0 included
    as_organisers_read_it = np.loadtxt(path, dtype=str)[:, 1].astype(np.float64)
    assert np.array_equal(as_organisers_read_it, scores)


def test_close_scores_of_the_two_classes_stay_apart(tmp_path):
    """Scores 1e-12 apart: 8 digits wrote them as one value, a tie the metrics then split."""
    bona = 0.7312345678 + np.arange(500) * 1e-12
    spoof = bona + 5e-13
    scores = np.concatenate([bona, spoof])
    labels = np.array([0] * 500 + [1] * 500)
    path = write_score_file_2019(tmp_path / "s.2019.txt", [f"u{i}" for i in range(1000)], ["A01"] * 1000, labels,
                                 scores)
    written = np.loadtxt(path, dtype=str)[:, 3].astype(np.float64)
    assert len(np.unique(written)) == 1000
    assert np.array_equal(written, scores)
