"""reporting/runs.py's shortcut warnings: every kind of run is read by its own record's
`silence_only.clearly_beaten` (a step-4 seed's inside its per-seed record); a step-4 run written
before that record falls back to the rule it applied then, labelled as such."""

import json

from deepfake_pipeline.reporting.runs import read_systems

SPLIT = "toy_eval"


def _write(run, metrics):
    (run / "config.json").write_text(json.dumps({"format": "run_config", "format_version": 1, "features": {}}))
    (run / "metrics.json").write_text(json.dumps({"format": "run_metrics", "format_version": 1, **metrics}))


def _record(auc, silence, score_file=f"scores/{SPLIT}.txt", run=None):
    if run is not None:
        (run / score_file).write_text(f"{SPLIT}_0001 {auc!r}\n")
    record = {"split": SPLIT, "auc": auc, "score_file": score_file}
    if silence is not None:
        record["silence_only"] = silence
    return record


def _step3_like(tmp_path, name, silence, fusion=False):
    run = tmp_path / name
    (run / "scores").mkdir(parents=True)
    metrics = {"tests": {SPLIT: _record(0.9, silence, run=run)}}
    if fusion:
        metrics["fusion"] = {"systems": ["a", "b"]}
    _write(run, metrics)
    (system,) = read_systems(run)
    return system.tests[SPLIT].shortcut


def test_step_3_and_fusion_warn_exactly_where_clearly_beaten_is_false(tmp_path):
    warned = "does not clearly beat the silence-only shortcut (silence-only ROC-AUC 0.6100)"
    assert _step3_like(tmp_path, "a", {"auc": 0.61, "clearly_beaten": False}) == [warned]
    assert _step3_like(tmp_path, "b", {"auc": 0.95, "clearly_beaten": True}) == []
    assert _step3_like(tmp_path, "c", {"auc": 0.95, "clearly_beaten": None}) == []  # --n-boot 0: no verdict
    paired = {"auc": 0.61, "clearly_beaten": False, "rule": "paired"}
    assert _step3_like(tmp_path, "d", paired, fusion=True) == [warned]
    older = {"auc": 0.93, "clearly_beaten": False, "rule": "auc_comparison"}
    assert _step3_like(tmp_path, "e", older, fusion=True) == [
        "does not clearly beat the silence-only shortcut (silence-only ROC-AUC 0.9300) (AUC comparison only, no "
        "paired interval)"
    ]


def _step4(tmp_path, name, per_seed_silence, silence_only_auc):
    """A step-4 run of seeds 1 (AUC 0.80) and 2 (AUC 0.70); shortcut warnings per seed."""
    run = tmp_path / name
    (run / "scores").mkdir(parents=True)
    per_seed = {
        str(seed): _record(auc, per_seed_silence.get(seed), f"scores/{SPLIT}.seed{seed}.txt", run)
        for seed, auc in ((1, 0.80), (2, 0.70))
    }
    entry = {"split": SPLIT, "silence_only_auc": silence_only_auc, "per_seed": per_seed}
    _write(run, {"baseline_run": "base", "seeds": [1, 2], "tests": {SPLIT: entry}})
    return {system.name: system.tests[SPLIT].shortcut for system in read_systems(run)}


def test_a_step_4_seed_is_read_by_its_own_record(tmp_path):
    """Seed 2 is not clearly beaten although the silence-only AUC (0.60) lies below both seeds'
    AUCs: the old rule would warn about neither, the record warns about seed 2 only; and a
    silence-only AUC above both no longer warns where the records say both seeds beat it."""
    records = {1: {"auc": 0.60, "clearly_beaten": True}, 2: {"auc": 0.60, "clearly_beaten": False}}
    assert _step4(tmp_path, "new", records, silence_only_auc=0.60) == {
        "new seed 1": [],
        "new seed 2": ["does not clearly beat the silence-only shortcut (silence-only ROC-AUC 0.6000)"],
    }
    beaten = {1: {"auc": 0.85, "clearly_beaten": True}, 2: {"auc": 0.85, "clearly_beaten": True}}
    assert _step4(tmp_path, "beaten", beaten, silence_only_auc=0.85) == {"beaten seed 1": [], "beaten seed 2": []}


def test_an_older_step_4_run_falls_back_to_its_own_rule_labelled(tmp_path):
    """No per-seed silence_only: a seed whose AUC the silence-only AUC reaches warns, labelled."""
    assert _step4(tmp_path, "old", {}, silence_only_auc=0.75) == {
        "old seed 1": [],
        "old seed 2": [
            "the silence-only shortcut (ROC-AUC 0.7500) scores as well as this system (older step-4 run: AUC "
            "comparison only, no paired interval)"
        ],
    }
    assert _step4(tmp_path, "old_low", {}, silence_only_auc=0.65) == {"old_low seed 1": [], "old_low seed 2": []}
