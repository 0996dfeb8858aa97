"""The verdict on the research question: does the contrastive system change ROC-AUC over the
logistic-regression baseline by at least one percentage point, significantly?

The 1-point rule: on the same test trials, AUC(contrastive) - AUC(baseline) >= +0.01 (one
point), AND the 95% paired bootstrap interval of that difference (speaker-clustered resamples
applied to both systems) lies above 0, AND DeLong's test of equal AUCs gives p < 0.05. A loss, or
a gain that fails any part, does not meet the rule."""

from dataclasses import asdict, dataclass

from deepfake_pipeline.evaluation import significance
from deepfake_pipeline.evaluation.closing import caveat_suffix

ONE_POINT = 0.01
ALPHA = 0.05
ONE_POINT_RULE = ("AUC(contrastive) - AUC(baseline) >= +1.00 point on the same trials, its 95% paired "
                  "speaker-clustered bootstrap CI above 0, and DeLong p < 0.05")


@dataclass(frozen=True)
class Verdict:
    split: str
    baseline_auc: float
    contrastive_auc: float
    diff: float
    ci: tuple | None           # (lo, hi) of the difference; None without bootstrap
    delong_p: float
    n_trials: int

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

    def line(self, untrained: bool = False, demo: bool = False, name: str = "contrastive") -> str:
        ci = "no CI" if self.ci is None else f"95% CI {100 * self.ci[0]:+.2f} to {100 * self.ci[1]:+.2f}"
        outcome = ("meets the 1-point rule" if self.meets_rule
                   else "does not meet the 1-point rule (" + "; ".join(self.failures) + ")")
        return (f"{name} vs baseline test={self.split}: {self.baseline_auc:.4f} -> {self.contrastive_auc:.4f}, "
                f"{100 * self.diff:+.2f} points ({ci}), DeLong p={format_p(self.delong_p)}: {outcome}"
                + caveat_suffix(untrained, demo))

    def to_json(self) -> dict:
        return {**asdict(self), "ci": list(self.ci) if self.ci else None, "meets_rule": self.meets_rule,
                "failures": self.failures}


def format_p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def compare(split: str, labels, groups, baseline_scores, contrastive_scores, n_boot: int = 1000,
            seed: int = 0) -> Verdict:
    """Both systems' scores on the same trials (aligned arrays; higher = more bona fide)."""
    delong = significance.delong_test(labels, baseline_scores, contrastive_scores)
    ci = None
    if n_boot:
        _, lo, hi = significance.paired_bootstrap_auc_diff(labels, baseline_scores, contrastive_scores, groups,
                                                      n_boot=n_boot, seed=seed, alpha=ALPHA)
        ci = (lo, hi)
    return Verdict(split=split, baseline_auc=delong.auc_a, contrastive_auc=delong.auc_b, diff=delong.diff,
                   ci=ci, delong_p=delong.p_value, n_trials=len(labels))
