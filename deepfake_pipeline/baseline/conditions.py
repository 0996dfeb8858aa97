"""The per-condition table of a step-3 run: when the test splits include derived copies of one
source split (`asvspoof2019_eval+mp3-32k`, made by `preprocess_datasets.py --augment`), each
condition's EER, min t-DCF and ROC-AUC beside the clean split's, one row per test split, as the
ASVspoof 2021 package reports its codec conditions. Each condition is scored on its own trials
(the copies of the source's trials that step 1 could make), so a row whose recipe rejected clips
says how many it holds. min t-DCF uses the source's ASV scores (carried to its copies by step
1): the ASV system's scores on the clean audio, not on the degraded copy."""

from deepfake_pipeline.formats.asv_scores import load_asv_scores

CLEAN = "clean"
ASV_NOTE = "min t-DCF of a degraded copy uses its source's ASV scores (the ASV system heard the clean audio)"


def asv_of(split, summary: dict):
    """The split's ASV scores for the per-condition min t-DCF, read again only where the summary
    has a min t-DCF (a missing file was warned about once, when the summary was made)."""
    if summary.get("min_tdcf") is None:
        return None
    return load_asv_scores((split.info or {}).get("asv_scores"))


def _origin(split) -> tuple:
    """(the split its clips were first ingested in, this split's condition)."""
    derived = (split.info or {}).get("derived_from")
    if not derived:
        return split.split_id, CLEAN
    return derived["origin_split"], derived["condition"]


def condition_tables(results) -> dict:
    """{origin split: {condition: row}} for every origin with a derived copy among the test
    results (TestResult of baseline/report.py); rows in the order the tests were given."""
    groups: dict = {}
    for result in results:
        origin, condition = _origin(result.split)
        groups.setdefault(origin, []).append((condition, result))
    tables = {}
    for origin, members in groups.items():
        if all(condition == CLEAN for condition, _ in members):
            continue
        tables[origin] = {
            condition: {
                "split": result.split.split_id,
                "n_bonafide": result.summary["n_bonafide"],
                "n_spoof": result.summary["n_spoof"],
                "eer": result.summary["eer"],
                "min_tdcf": result.summary.get("min_tdcf"),
                "auc": result.summary["auc"],
            }
            for condition, result in members
        }
    return tables


def _number(value, digits: int, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.{digits}f}%" if percent else f"{value:.{digits}f}"


def table_lines(tables: dict, caveat: str = "") -> list:
    lines = []
    for origin, rows in tables.items():
        width = max(10, *(len(c) for c in rows))
        lines.append(f"[eval_logreg] per condition, copies of {origin} (each condition on its own trials):{caveat}")
        lines.append(
            f"  {'condition':<{width}} {'n_bonafide':>10} {'n_spoof':>8} {'EER':>8} {'min-tDCF':>8} {'ROC-AUC':>8}"
        )
        for condition, row in rows.items():
            eer, tdcf, auc = _number(row["eer"], 2, percent=True), _number(row["min_tdcf"], 4), _number(row["auc"], 4)
            lines.append(
                f"  {condition:<{width}} {row['n_bonafide']:>10} {row['n_spoof']:>8} {eer:>8} {tdcf:>8} {auc:>8}"
            )
        if CLEAN not in rows:
            lines.append(f"  (the clean split {origin} is not among the tests: add it to --test to compare)")
        if any(row["min_tdcf"] is not None for condition, row in rows.items() if condition != CLEAN):
            lines.append(f"  ({ASV_NOTE})")
    return lines
