"""CM and ASV score sets with attacks and codec conditions, shaped like ASVspoof 2021 LA, for the
per-condition t-DCF tests; and an independent min t-DCF written from the evaluation plan's
formulas (a plain loop over thresholds), so the tests never check the package with itself.

The reference numbers in the tests came from the organisers' ASVspoof 2021 package
(github.com/asvspoof-challenge/2021, eval-package/main.py: compute_tDCF_C012 then
compute_decomposed_mintdcf_eer, factor 1 `attack` of type spoof, factor 2 `codec` of type both,
cost model of config.py) run from /tmp on exactly these sets; the package is not committed."""

import numpy as np
import pandas as pd

# (codec, attack or "bonafide", scores) of the hand-built set; CM labels 0 = bona fide, 1 = spoof.
HAND_CM = [
    ("none", "bonafide", [2.0, 1.5, 0.3, 1.1]),
    ("none", "A07", [0.5, -1.0, 1.2]),
    ("none", "A08", [-0.5, 0.8, -2.0]),
    ("alaw", "bonafide", [0.9, 1.8, -0.2, 0.6]),
    ("alaw", "A07", [0.1, 1.0, -1.5]),
    ("alaw", "A08", [0.7, -0.3, 0.4]),
]
# (codec, key, attack, scores) of the hand-built ASV trials.
HAND_ASV = [
    ("none", "target", "bonafide", [3.0, 2.5, 1.0, 2.2]),
    ("none", "nontarget", "bonafide", [-1.0, 0.5, -2.0, 1.2]),
    ("none", "spoof", "A07", [1.5, 0.2, 2.8]),
    ("none", "spoof", "A08", [-0.5, 2.0]),
    ("alaw", "target", "bonafide", [2.0, 1.1, 0.4, 2.9]),
    ("alaw", "nontarget", "bonafide", [-0.4, 0.9, -1.5]),
    ("alaw", "spoof", "A07", [0.3, 1.9]),
    ("alaw", "spoof", "A08", [1.4, -1.0, 0.6]),
]


def hand_set():
    """(cm, asv) DataFrames: cm has label, attack, codec, score; asv has key, attack, codec, score."""
    cm = pd.DataFrame(
        [(0 if a == "bonafide" else 1, a, c, s) for c, a, ss in HAND_CM for s in ss],
        columns=["label", "attack", "codec", "score"],
    )
    asv = pd.DataFrame(
        [(k, a, c, s) for c, k, a, ss in HAND_ASV for s in ss], columns=["key", "attack", "codec", "score"]
    )
    return cm, asv


RANDOM_CODECS = ("alaw", "gsm", "none")
RANDOM_ATTACKS = ("A07", "A08", "A09")


def random_set(seed: int, n_cm: int = 400, n_asv: int = 600):
    """The same shape drawn at random: spoofs score lower on the CM, targets higher on the ASV,
    and each attack fools the ASV to its own degree."""
    rng = np.random.default_rng(seed)
    codec = rng.choice(RANDOM_CODECS, n_cm)
    label = (rng.random(n_cm) < 0.7).astype(int)
    attack = np.where(label == 1, rng.choice(RANDOM_ATTACKS, n_cm), "bonafide")
    score = rng.normal(size=n_cm) + 1.5 * (label == 0)
    cm = pd.DataFrame({"label": label, "attack": attack, "codec": codec, "score": np.round(score, 3)})
    a_codec = rng.choice(RANDOM_CODECS, n_asv)
    key = rng.choice(["target", "nontarget", "spoof"], n_asv, p=[0.3, 0.3, 0.4])
    a_attack = np.where(key == "spoof", rng.choice(RANDOM_ATTACKS, n_asv), "bonafide")
    fool = {"A07": 0.5, "A08": 1.5, "A09": 2.5, "bonafide": 0.0}
    a_score = rng.normal(size=n_asv) + 3.0 * (key == "target") + np.array([fool[a] for a in a_attack])
    asv = pd.DataFrame({"key": key, "attack": a_attack, "codec": a_codec, "score": np.round(a_score, 3)})
    return cm, asv


def _eer_threshold(target, nontarget):
    """The organisers' ASV threshold, from its definition: sweep the trials in ascending score
    order (targets before nontargets on a tie), rejecting one more at each step; take the first
    step where |miss - false alarm| is smallest; the threshold is the highest rejected score."""
    trials = sorted([(s, 0) for s in target] + [(s, 1) for s in nontarget], key=lambda t: (t[0], t[1]))
    best, best_gap, misses, fas = trials[0][0] - 0.001, abs(0 - 1.0), 0, len(nontarget)
    for score, is_non in trials:
        misses += 1 - is_non
        fas -= is_non
        gap = abs(misses / len(target) - fas / len(nontarget))
        if gap < best_gap:
            best, best_gap = score, gap
    return best


def reference_min_tdcf(bona_cm, spoof_cm, target, nontarget, spoof_asv):
    """Revised (2021) min t-DCF: ASV accepts score >= its EER threshold; the CM rejects scores at
    or below t, over t = every CM score and one below them all."""
    t_asv = _eer_threshold(target, nontarget)
    pmiss_asv = sum(s < t_asv for s in target) / len(target)
    pfa_asv = sum(s >= t_asv for s in nontarget) / len(nontarget)
    pfa_spoof_asv = sum(s >= t_asv for s in spoof_asv) / len(spoof_asv)
    p_tar, p_non, p_spoof = 0.95 * 0.99, 0.95 * 0.01, 0.05
    c0 = p_tar * 1 * pmiss_asv + p_non * 10 * pfa_asv
    c1 = p_tar * 1 - c0
    c2 = p_spoof * 10 * pfa_spoof_asv
    best = float("inf")
    for t in [min(*bona_cm, *spoof_cm) - 1.0, *bona_cm, *spoof_cm]:
        pmiss_cm = sum(s <= t for s in bona_cm) / len(bona_cm)
        pfa_cm = sum(s > t for s in spoof_cm) / len(spoof_cm)
        best = min(best, (c0 + c1 * pmiss_cm + c2 * pfa_cm) / (c0 + min(c1, c2)))
    return best
