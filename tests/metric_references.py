"""Reference computations shared by the metric, shortcut and verdict tests: the AUC by counting
pairs, an independent speaker-cluster bootstrap, and systems whose speakers differ; written out
here so that no test checks the package against its own helpers."""

import numpy as np

# 2.5% of the independent replicates should fall below a 95% interval and 2.5% above it; a 90%
# interval leaves 5% on each side. The window allows ~3 standard errors of both Monte Carlo
# estimates (4000 resamples in the code, 8000 here).
TAIL_WINDOW = (0.012, 0.038)


def pairwise_auc(labels, scores):
    bona, spoof = scores[labels == 0], scores[labels == 1]
    wins = ties = 0
    for b in bona:
        for s in spoof:
            wins += b > s
            ties += b == s
    return (wins + 0.5 * ties) / (bona.size * spoof.size)


def speaker_effect_systems(seed=0, n_speakers=24, per_speaker=16):
    """Labels, speakers and two systems on the same trials, where how much system b gains over a
    depends on the speaker (+2.5 for some, -1 for others on their bona fide trials): the AUC
    difference varies between speakers far more than between trials, so resampling trials
    instead of speakers gives a much narrower interval."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"SPK{s:02d}" for s in range(n_speakers)], per_speaker)
    labels = np.tile([0, 1] * (per_speaker // 2), n_speakers)
    gain = np.repeat(rng.choice([-1.0, 2.5], n_speakers), per_speaker)
    scores_a = 1.0 * (labels == 0) + rng.normal(size=labels.size)
    scores_b = scores_a + gain * (labels == 0)
    return labels, groups, scores_a, scores_b


def cluster_bootstrap_aucs(labels, systems, groups, n_boot, seed):
    """Each system's AUC on `n_boot` cluster-bootstrap resamples, written from the definitions and
    not from the pipeline's code: draw as many clusters as there are, with replacement; drop a
    resample lacking a class; a resample holding m_c copies of cluster c counts every (bona fide
    trial of c, spoof trial of d) pair m_c * m_d times, a win 1 and a tie 1/2."""
    labels = np.asarray(labels)
    names, codes = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    n = len(names)
    bona, spoof = labels == 0, labels == 1
    n_bona = np.bincount(codes[bona], minlength=n).astype(float)
    n_spoof = np.bincount(codes[spoof], minlength=n).astype(float)
    pair_rows = np.repeat(codes[bona], spoof.sum())
    pair_cols = np.tile(codes[spoof], bona.sum())
    credit = []
    for scores in systems:
        b, s = scores[bona][:, None], scores[spoof][None, :]
        per_pair = (b > s) + 0.5 * (b == s)
        table = np.zeros((n, n))
        np.add.at(table, (pair_rows, pair_cols), per_pair.ravel())
        credit.append(table)
    rng = np.random.default_rng(seed)
    copies = np.array(
        [np.bincount(rng.choice(n, size=n, replace=True), minlength=n) for _ in range(n_boot)], dtype=float
    )
    copies = copies[(copies @ n_bona > 0) & (copies @ n_spoof > 0)]
    pairs = (copies @ n_bona) * (copies @ n_spoof)
    return [np.einsum("rc,cd,rd->r", copies, table, copies) / pairs for table in credit]


def assert_95_percent_interval(lo, hi, replicates):
    below, above = np.mean(replicates < lo), np.mean(replicates > hi)
    assert TAIL_WINDOW[0] <= below <= TAIL_WINDOW[1], f"{below:.2%} of the replicates lie below the interval"
    assert TAIL_WINDOW[0] <= above <= TAIL_WINDOW[1], f"{above:.2%} of the replicates lie above the interval"
