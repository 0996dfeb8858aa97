"""Independent, deliberately naive references for the organisers' EER, ASV rates and min
t-DCF: Python loops over every threshold and the tandem cost written out from its definition
(Kinnunen et al., Odyssey 2018 and IEEE/ACM TASLP 2020). Shared by the tests of several
folders, so it lives at tests/ root (a test module imported from another folder is found only
when that folder happened to be collected first)."""

import math

# The organisers' cost model, restated: Pspoof 0.05, Ptar = 0.95 * 0.99, Pnon = 0.95 * 0.01,
# every miss costs 1, every false acceptance 10.
P_SPOOF, P_TAR, P_NON = 0.05, 0.9405, 0.0095
C_MISS, C_FA = 1.0, 10.0


def naive_official_sweep(positive, negative):
    """Reject the k lowest trials, k = 0..n, after sorting by (score, positives first) with
    Python's sort; returns (frr, far, highest rejected score) per k."""
    trials = sorted([(s, 0) for s in positive] + [(s, 1) for s in negative])
    points = [(0.0, 1.0, trials[0][0] - 0.001)]
    for k in range(1, len(trials) + 1):
        rejected = trials[:k]
        frr = sum(1 for _, c in rejected if c == 0) / len(positive)
        far = (len(negative) - sum(1 for _, c in rejected if c == 1)) / len(negative)
        points.append((frr, far, rejected[-1][0]))
    return points


def naive_official_eer(positive, negative):
    points = naive_official_sweep(positive, negative)
    best = min(range(len(points)), key=lambda k: (abs(points[k][0] - points[k][1]), k))
    frr, far, threshold = points[best]
    return (frr + far) / 2, threshold


def naive_asv_rates(tar, non, spoof):
    _, threshold = naive_official_eer(tar, non)
    return dict(
        pfa=sum(s >= threshold for s in non) / len(non),
        pmiss=sum(s < threshold for s in tar) / len(tar),
        pfa_spoof=sum(s >= threshold for s in spoof) / len(spoof),
    )


def tandem_cost_2019(pm, pf, asv):
    """Expected cost of CM -> ASV with the Odyssey 2018 costs (CM miss 1, ASV miss 1, ASV false
    alarm 10, CM false alarm 10), written out trial class by trial class."""
    target = P_TAR * (1.0 * pm + 1.0 * (1 - pm) * asv["pmiss"])
    nontarget = P_NON * 10.0 * (1 - pm) * asv["pfa"]
    spoof = P_SPOOF * 10.0 * pf * asv["pfa_spoof"]
    return target + nontarget + spoof


def tandem_cost_2021(pm, pf, asv):
    """Revised t-DCF: costs of the tandem's own errors (miss 1, false alarm 10 for nontargets and
    spoofs alike); a trial is accepted only if both CM and ASV accept it."""
    p_miss_tandem = pm + (1 - pm) * asv["pmiss"]
    p_fa_nontarget = (1 - pm) * asv["pfa"]
    p_fa_spoof = pf * asv["pfa_spoof"]
    return C_MISS * P_TAR * p_miss_tandem + C_FA * P_NON * p_fa_nontarget + C_FA * P_SPOOF * p_fa_spoof


def naive_min_tdcf(bona, spoof, asv, version):
    """Loop over every threshold t (each distinct CM score, and above all of them), accepting
    score >= t. 2019: cost above the ASV-only cost, over the smaller such excess of the two
    trivial CMs. 2021: cost over the smaller cost of the two trivial CMs."""
    cost = tandem_cost_2019 if version == 2019 else tandem_cost_2021
    floor = cost(0, 0, asv) if version == 2019 else 0.0
    norm = min(cost(1, 0, asv), cost(0, 1, asv)) - floor
    best = math.inf
    for t in sorted(set(bona) | set(spoof)) + [math.inf]:
        pm = sum(s < t for s in bona) / len(bona)
        pf = sum(s >= t for s in spoof) / len(spoof)
        best = min(best, (cost(pm, pf, asv) - floor) / norm)
    return best
