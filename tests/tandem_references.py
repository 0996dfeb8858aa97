"""t-EER and min a-DCF restated with loops and counts, as the ASVspoof 5 evaluation package
defines them (calculate_modules.py compute_teer, a_dcf.py _calculate_a_dcf), for the tandem
tests: written out here so that no test checks the package against its own helpers. O(n^2):
for the small trial sets of the tests only (fewer than 3000 trials, where the package's
accelerated t-EER searches every pair too)."""

ADCF_COSTS = {"p_tar": 0.95 * 0.99, "p_non": 0.95 * 0.01, "p_spoof": 0.05, "c_miss": 1, "c_non": 10, "c_spoof": 10}


def _rejected_counts(classes):
    """For k = 0..n: how many trials of each class are among the k lowest of a stable sort of
    the classes one after the other (Python's sort is stable, so ties keep that order)."""
    tagged = sorted(((score, c) for c, scores in enumerate(classes) for score in scores), key=lambda t: t[0])
    counts = [[0] * len(classes)]
    for _, c in tagged:
        row = list(counts[-1])
        row[c] += 1
        counts.append(row)
    return counts, [tagged[0][0] - 0.001] + [score for score, _ in tagged]


def _ratio(num, den):
    if den:
        return num / den
    return float("inf") if num else float("nan")


def t_eer_by_hand(cm, asv):
    """(t-EER fraction, ASV threshold, CM threshold); cm and asv: (target, nontarget, spoof)."""
    n_tar, n_non, n_spf = (len(x) for x in asv)
    asv_counts, asv_tau = _rejected_counts(asv)
    cm_counts, cm_tau = _rejected_counts([list(cm[0]) + list(cm[1]), cm[2]])
    pmiss_cm = [c[0] / (n_tar + n_non) for c in cm_counts]
    pfa_cm = [(n_spf - c[1]) / n_spf for c in cm_counts]
    best, found = float("inf"), None
    for i, (r_tar, r_non, r_spf) in enumerate(asv_counts):
        miss, fa_non, fa_spf = r_tar / n_tar, 1 - r_non / n_non, 1 - r_spf / n_spf
        gaps = [
            abs((m + (1 - m) * miss) - (0.5 * (1 - m) * fa_non + 0.5 * f * fa_spf))
            for m, f in zip(pmiss_cm, pfa_cm, strict=True)
        ]
        j = gaps.index(min(gaps))  # the first closest CM point
        if miss < 0.5 * fa_non + 0.5 * fa_spf:
            crit = abs(_ratio(fa_non, fa_spf) - _ratio(pfa_cm[j], 1 - pmiss_cm[j]))
            if crit < best:
                best, found = crit, (fa_spf * pfa_cm[j], asv_tau[i], cm_tau[j])
    return found


def min_a_dcf_by_hand(target, nontarget, spoof, costs=ADCF_COSTS):
    """(min normalised a-DCF, threshold): every sorted trial a threshold, ties split."""
    counts, tau = _rejected_counts([target, nontarget, spoof])
    tau[0] = min(tau[1:]) - 1e-8
    norm = min(costs["c_non"] * costs["p_non"] + costs["c_spoof"] * costs["p_spoof"], costs["c_miss"] * costs["p_tar"])
    best = None
    for k, (r_tar, r_non, r_spf) in enumerate(counts):
        cost = (
            costs["c_miss"] * costs["p_tar"] * r_tar / len(target)
            + costs["c_non"] * costs["p_non"] * (len(nontarget) - r_non) / len(nontarget)
            + costs["c_spoof"] * costs["p_spoof"] * (len(spoof) - r_spf) / len(spoof)
        ) / norm
        if best is None or cost < best[0]:
            best = (cost, tau[k])
    return best
