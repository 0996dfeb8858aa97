"""What a run prints: the one closing line per test split that people grep for, the caveats that
must ride on it (untrained model, demo corpus, a CI over few speakers), and the per-attack table. Steps 3 and 4 both use
these, so their printouts read the same."""

import math
import re
import statistics

UNTRAINED_CAVEAT = "[untrained model: not a detection result]"
DEMO_CAVEAT = "[demo corpus]"

_NUMBER = r"(?:[0-9.]+|nan)"
CLOSING_LINE_RE = re.compile(
    r"^ROC-AUC test=(?P<split>\S+) (?P<auc>" + _NUMBER + r") "
    r"\(95% CI (?:n/a|(?P<auc_lo>" + _NUMBER + r")-(?P<auc_hi>" + _NUMBER + r"))\) "
    r"EER (?P<eer>" + _NUMBER + r")% "
    r"\(95% CI (?:n/a|(?P<eer_lo>" + _NUMBER + r")-(?P<eer_hi>" + _NUMBER + r")%)\) "
    r"min-tDCF (?:(?P<min_tdcf>" + _NUMBER + r")|n/a \(no ASV scores\)) "
    r"silence-only (?P<silence_auc>" + _NUMBER + r"|n/a)"
    r"(?: \[CI over (?:(?P<ci_speakers>[0-9]+) speakers|trials: no speaker ids)\])?"
    r"(?: \[(?P<trials>[0-9]+) of (?P<listed>[0-9]+) trials: [^\]]+\])?"
    r"(?: run=(?P<run>\S+))?"
    r"(?: \[(?P<chosen>[^\]]*chosen[^\]]*)\])?"
    r"(?P<untrained> \[untrained model: not a detection result\])?"
    r"(?P<demo> \[demo corpus\])?$"
)
# A CI resampling fewer speakers than this says so on the line: with a handful of clusters the
# percentile interval is too narrow to trust.
FEW_SPEAKERS = 10
# A per-attack or per-condition row resting on fewer trials of a class than this is flagged: one
# spoof clip gives an EER of 23 % by the official (step) definition and 46 % interpolated.
FEW_TRIALS = 5


def caveat_suffix(untrained: bool, demo: bool) -> str:
    """The tags that must follow every number obtained from an untrained model or the demo
    corpus, so nobody quotes such a number as a detection result."""
    parts = []
    if untrained:
        parts.append(UNTRAINED_CAVEAT)
    if demo:
        parts.append(DEMO_CAVEAT)
    return "".join(" " + part for part in parts)


def _fmt(value, digits):
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def trials_caveat(scored: int, left_out: dict) -> str:
    """`[131 of 136 trials: too_long 5]` when the corpus listed trials that were not scored
    (`left_out`: reason -> count, e.g. step 1's rejects and the copies left out), else ''."""
    left_out = {reason: int(count) for reason, count in left_out.items() if count}
    if not left_out:
        return ""
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(left_out.items()))
    return f" [{scored} of {scored + sum(left_out.values())} trials: {reasons}]"


def closing_line(
    split: str,
    auc: float,
    auc_ci,
    eer: float,
    eer_ci,
    silence_auc,
    untrained: bool = False,
    demo: bool = False,
    min_tdcf=None,
    n_speakers=None,
    left_out: dict | None = None,
    n_trials: int | None = None,
    run: str | None = None,
    chosen: str | None = None,
) -> str:
    """`ROC-AUC test=<split> 0.9744 (95% CI 0.9710-0.9771) EER 8.41% (95% CI 7.90-8.95%)
    min-tDCF 0.1234 silence-only 0.8100` plus the caveats, on one line. `eer` and its CI are
    fractions; a CI of None (no bootstrap) prints as `(95% CI n/a)`; `min_tdcf` None prints as
    `n/a (no ASV scores)`. `n_speakers` (known speakers the CI resampled) adds `[CI over N
    speakers]` below FEW_SPEAKERS and `[CI over trials: no speaker ids]` at 0. `left_out` (reason
    -> count of the split's listed trials that were not scored) with `n_trials` (those scored)
    adds `[N of M trials: reason count, ...]`. `run` (the run folder's name) adds `run=NAME`, so a
    line grepped out of many runs says which it came from; `chosen` (how C, the layer or the
    epoch were chosen, e.g. `C chosen on dev asvspoof2019_dev`) adds `[chosen ...]`."""
    silence = "n/a" if silence_auc is None else _fmt(silence_auc, 4)
    auc_part = "n/a" if auc_ci is None or auc_ci[0] is None else f"{_fmt(auc_ci[0], 4)}-{_fmt(auc_ci[1], 4)}"
    eer_part = (
        "n/a" if eer_ci is None or eer_ci[0] is None else f"{_fmt(100 * eer_ci[0], 2)}-{_fmt(100 * eer_ci[1], 2)}%"
    )
    tdcf = "n/a (no ASV scores)" if min_tdcf is None else _fmt(min_tdcf, 4)
    line = (
        f"ROC-AUC test={split} {_fmt(auc, 4)} (95% CI {auc_part}) "
        f"EER {_fmt(100 * eer, 2)}% (95% CI {eer_part}) min-tDCF {tdcf} silence-only {silence}"
    )
    if auc_ci is not None and auc_ci[0] is not None and n_speakers is not None and n_speakers < FEW_SPEAKERS:
        line += " [CI over trials: no speaker ids]" if n_speakers == 0 else f" [CI over {n_speakers} speakers]"
    if left_out and n_trials is not None:
        line += trials_caveat(n_trials, left_out)
    if run:
        line += f" run={run}"
    if chosen:
        if "chosen" not in chosen or "]" in chosen:
            raise ValueError(f"the choice tag must say 'chosen' and hold no ']': {chosen!r}")
        line += f" [{chosen}]"
    return line + caveat_suffix(untrained, demo)


def closing_line_of(
    split: str,
    summary: dict,
    silence_auc,
    untrained: bool,
    demo: bool,
    left_out: dict | None = None,
    run: str | None = None,
    chosen: str | None = None,
) -> str:
    """The closing line of a `significance.summarize` record; `left_out`, `run` and `chosen` as
    for closing_line."""
    return closing_line(
        split,
        summary["auc"],
        summary["auc_ci"],
        summary["eer"],
        summary["eer_ci"],
        silence_auc,
        untrained,
        demo,
        min_tdcf=summary.get("min_tdcf"),
        n_speakers=summary.get("n_speakers"),
        left_out=left_out,
        n_trials=summary.get("n_trials"),
        run=run,
        chosen=chosen,
    )


def seeds_closing_line(
    split: str, n_seeds: int, aucs, eers, run: str, untrained: bool = False, demo: bool = False
) -> str:
    """Step 4's summary over seeds, after the per-seed closing lines: `ROC-AUC over 3 seeds
    test=<split>: mean 0.9712 sd 0.0031, EER mean 8.12% sd 0.40% run=<name>` plus the caveats;
    the sd is the sample one (ddof 1). `eers` are fractions."""
    if n_seeds < 2 or len(aucs) != n_seeds or len(eers) != n_seeds:
        raise ValueError(f"a summary over seeds needs one AUC and one EER per seed (n_seeds={n_seeds})")
    auc_mean, auc_sd = statistics.fmean(aucs), statistics.stdev(aucs)
    eer_mean, eer_sd = statistics.fmean(eers), statistics.stdev(eers)
    return (
        f"ROC-AUC over {n_seeds} seeds test={split}: mean {_fmt(auc_mean, 4)} sd {_fmt(auc_sd, 4)}, "
        f"EER mean {_fmt(100 * eer_mean, 2)}% sd {_fmt(100 * eer_sd, 2)}% run={run}" + caveat_suffix(untrained, demo)
    )


def parse_closing_line(line: str) -> dict:
    """The fields of a closing line (floats; EER values as printed, in percent; CI bounds None
    when the line says n/a), or raise ValueError."""
    match = CLOSING_LINE_RE.match(line.strip())
    if match is None:
        raise ValueError(f"not a closing line: {line!r}")
    fields = match.groupdict()
    parsed = {"split": fields["split"], "untrained": bool(fields["untrained"]), "demo": bool(fields["demo"])}
    for key in ("auc", "auc_lo", "auc_hi", "eer", "eer_lo", "eer_hi", "min_tdcf"):
        parsed[key] = None if fields[key] is None else float(fields[key])
    parsed["ci_speakers"] = None if fields["ci_speakers"] is None else int(fields["ci_speakers"])
    parsed["trials"] = None if fields["trials"] is None else int(fields["trials"])
    parsed["listed"] = None if fields["listed"] is None else int(fields["listed"])
    parsed["silence_auc"] = None if fields["silence_auc"] == "n/a" else float(fields["silence_auc"])
    parsed["run"], parsed["chosen"] = fields["run"], fields["chosen"]
    return parsed


def attack_table(per_attack: dict, title: str, heading: str = "attack") -> list:
    """Lines of a per-attack table: attack, spoof and bona fide counts, AUC, EER. Each attack's
    spoofed trials are scored against all bona fide trials of the split, as the field does. The
    same layout serves the per-condition tables (`heading`: the condition's column). A row with
    fewer than FEW_TRIALS trials of a class is flagged; a row with one class only has no AUC or
    EER and is left out, with a count (FakeAVCeleb's methods each hold one class)."""
    shown = {key: row for key, row in per_attack.items() if row["n_spoof"] and row["n_bonafide"]}
    width = max([10, *(len(str(attack)) for attack in shown)])
    lines = [title]
    # min t-DCF only where the run had ASV scores (rows then carry it, or a note why not)
    with_tdcf = any(row.get("min_tdcf") is not None for row in shown.values())
    if shown:  # no column heading over no rows
        lines.append(
            f"  {heading:<{width}} {'n_spoof':>8} {'n_bonafide':>10} {'ROC-AUC':>8} {'EER':>8}"
            + (f" {'min-tDCF':>8}" if with_tdcf else "")
        )
    few = 0
    for attack in sorted(shown):
        row = shown[attack]
        flag = ""
        if min(row["n_spoof"], row["n_bonafide"]) < FEW_TRIALS:
            few += 1
            flag = f"  [few trials: < {FEW_TRIALS} of a class]"
        lines.append(
            f"  {attack:<{width}} {row['n_spoof']:>8} {row['n_bonafide']:>10} "
            f"{_fmt(row['auc'], 4):>8} {_fmt(None if row['eer'] is None else 100 * row['eer'], 2) + '%':>8}"
            + (f" {'n/a' if row.get('min_tdcf') is None else _fmt(row['min_tdcf'], 4):>8}" if with_tdcf else "")
            + flag
        )
    if few:
        lines.append(
            f"  ({few} {'rows rest' if few > 1 else 'row rests'} on fewer than {FEW_TRIALS} trials of a class: "
            "too few to quote)"
        )
    for note in sorted({row["min_tdcf_note"] for row in shown.values() if row.get("min_tdcf_note")}):
        lines.append(f"  (min t-DCF n/a{' for some rows' if with_tdcf else ''}: {note})")
    left_out = sorted(set(per_attack) - set(shown), key=str)
    if left_out:
        names = ", ".join(map(str, left_out[:5])) + (", ..." if len(left_out) > 5 else "")
        lines.append(
            f"  ({len(left_out)} {heading} value{'s' if len(left_out) > 1 else ''} left out: one class only, "
            f"no ROC-AUC or EER: {names})"
        )
    return lines
