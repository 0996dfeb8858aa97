"""The verdict on the research question: does the contrastive system change ROC-AUC over the
logistic-regression baseline by at least one percentage point, significantly?

The 1-point rule: on the same test trials, AUC(contrastive) - AUC(baseline) >= +0.01 (one
point), AND the 95% paired bootstrap interval of that difference (speaker-clustered resamples
applied to both systems) lies above 0, AND DeLong's test of equal AUCs gives p < 0.05. A loss, or
a gain that fails any part, does not meet the rule.

Beside the rule, never part of it, the line shows the change in (official) EER and, where the
organisers' ASV scores exist, in min t-DCF, each with its paired interval from the same
resamples: a head that raises AUC while its EER or t-DCF gets worse is visible at once."""

from dataclasses import asdict, dataclass

import numpy as np

from deepfake_pipeline.evaluation import paired
from deepfake_pipeline.evaluation.closing import caveat_suffix
from deepfake_pipeline.evaluation.paired import _min_tdcf
from deepfake_pipeline.evaluation.tdcf import official_eer

ONE_POINT = 0.01
ALPHA = 0.05
ONE_POINT_RULE = (
    "AUC(contrastive) - AUC(baseline) >= +1.00 point on the same trials, its 95% paired "
    "speaker-clustered bootstrap CI above 0, and DeLong p < 0.05"
)


@dataclass(frozen=True)
class Verdict:
    split: str
    baseline_auc: float
    contrastive_auc: float
    diff: float
    ci: tuple | None  # (lo, hi) of the difference; None without bootstrap
    delong_p: float
    n_trials: int
    eer: tuple | None = None  # (baseline, contrastive, diff, lo, hi): official EERs, paired CI
    min_tdcf: tuple | None = None  # the same for min t-DCF; None without ASV scores

    @property
    def failures(self) -> list:
        """Why the rule is not met (empty when it is)."""
        reasons = []
        if self.diff < ONE_POINT:
            reasons.append(f"the change is {'a loss' if self.diff < 0 else 'under 1 point'}")
        if self.ci is None:
            reasons.append("no bootstrap interval (--n-boot 0)")
        elif self.ci[0] <= 0:
            reasons.append("the 95% CI is not above 0")
        if not self.delong_p < ALPHA:
            reasons.append(f"DeLong p >= {ALPHA:g}")
        return reasons

    @property
    def meets_rule(self) -> bool:
        return not self.failures

    def line(
        self,
        untrained: bool = False,
        demo: bool = False,
        name: str = "contrastive",
        against: str = "baseline",
        run: str | None = None,
    ) -> str:
        """`against`: what the compared system is called (a fusion names each input run); `run`
        (the run folder's name) adds `run=NAME` before the caveats."""
        ci = "no CI" if self.ci is None else f"95% CI {100 * self.ci[0]:+.2f} to {100 * self.ci[1]:+.2f}"
        outcome = (
            "meets the 1-point rule"
            if self.meets_rule
            else "does not meet the 1-point rule (" + "; ".join(self.failures) + ")"
        )
        return (
            f"{name} vs {against} test={self.split}: {self.baseline_auc:.4f} -> {self.contrastive_auc:.4f}, "
            f"{100 * self.diff:+.2f} points ({ci}), DeLong p={format_p(self.delong_p)}: {outcome}"
            + self._beside()
            + (f" run={run}" if run else "")
            + caveat_suffix(untrained, demo)
        )

    def _beside(self) -> str:
        parts = []
        if self.eer is not None:
            base, new, diff, lo, hi = self.eer
            ci = "" if lo is None else f", 95% CI {100 * lo:+.2f} to {100 * hi:+.2f}"
            parts.append(f"EER {100 * base:.2f}% -> {100 * new:.2f}% ({100 * diff:+.2f} points{ci})")
        if self.min_tdcf is not None:
            base, new, diff, lo, hi = self.min_tdcf
            ci = "" if lo is None else f", 95% CI {lo:+.4f} to {hi:+.4f}"
            parts.append(f"min-tDCF {base:.4f} -> {new:.4f} ({diff:+.4f}{ci})")
        return "; beside it: " + "; ".join(parts) if parts else ""

    def to_json(self) -> dict:
        names = ("baseline", "contrastive", "diff", "lo", "hi")
        return {
            **asdict(self),
            "ci": list(self.ci) if self.ci else None,
            "meets_rule": self.meets_rule,
            "failures": self.failures,
            "eer": dict(zip(names, self.eer, strict=True)) if self.eer else None,
            "min_tdcf": dict(zip(names, self.min_tdcf, strict=True)) if self.min_tdcf else None,
        }


def format_p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def compare(
    split: str, labels, groups, baseline_scores, contrastive_scores, n_boot: int = 1000, seed: int = 0, asv=None
) -> Verdict:
    """Both systems' scores on the same trials (aligned arrays; higher = more bona fide). `asv`:
    the organisers' ASV scores and t-DCF version (formats.asv_scores.load_asv_scores), or None."""
    delong = paired.delong_test(labels, baseline_scores, contrastive_scores)
    ci, eer_ci, tdcf_ci = None, (None, None), (None, None)
    if n_boot:
        diffs = paired.paired_bootstrap(labels, baseline_scores, contrastive_scores, groups, n_boot, seed, ALPHA, asv)
        ci = tuple(diffs["auc"][1:])
        eer_ci = diffs["eer"][1:]
        tdcf_ci = diffs["min_tdcf"][1:] if diffs["min_tdcf"] else (None, None)
    eers = (official_eer(labels, baseline_scores).eer, official_eer(labels, contrastive_scores).eer)
    tdcfs = None
    if asv is not None:
        tdcfs = (
            _min_tdcf(np.asarray(labels), np.asarray(baseline_scores, dtype=float), asv),
            _min_tdcf(np.asarray(labels), np.asarray(contrastive_scores, dtype=float), asv),
        )
    return Verdict(
        split=split,
        baseline_auc=delong.auc_a,
        contrastive_auc=delong.auc_b,
        diff=delong.diff,
        ci=ci,
        delong_p=delong.p_value,
        n_trials=len(labels),
        eer=(*eers, eers[1] - eers[0], *eer_ci),
        min_tdcf=None if tdcfs is None else (*tdcfs, tdcfs[1] - tdcfs[0], *tdcf_ci),
    )
