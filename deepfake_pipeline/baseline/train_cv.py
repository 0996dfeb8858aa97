"""Step 3 without a dev split (`--train SPLIT --dev cv --test ...`): C (and, in a sweep, the
layer) chosen by speaker-grouped K-fold cross-validation on the training split, by the same
pooled out-of-fold criterion as `--select-by`, then the model refitted on all of the training
split at that choice and every test split scored as in the holdout protocol.

This is the selection that `--cv`'s final model already uses (logreg.select_by_cv), applied to
a training split instead of the one split that is also tested. The out-of-fold scores at the
chosen (view, C) stand in for the dev scores: they give the --score threshold (their EER
threshold) and the affine calibration, fitted on scores of models that never saw those
speakers and applied to the refitted model (as scikit-learn's CalibratedClassifierCV does with
ensemble=False)."""

from deepfake_pipeline.baseline import leakage, logreg
from deepfake_pipeline.baseline.choice import chosen_by
from deepfake_pipeline.baseline.protocols import _save_model, _silence, _summary, check_not_test_in_fit
from deepfake_pipeline.baseline.report import TestResult, print_header, report_run
from deepfake_pipeline.formats.feature_sets import load_splits


def run_train_cv(settings, run, config_args: dict) -> dict:
    check_not_test_in_fit(settings)
    splits = load_splits(
        [settings.train, *settings.tests],
        settings.spec,
        settings.interim_dir,
        settings.processed_dir,
        keep_duplicates=settings.keep_duplicates,
    )
    train, tests = splits[0], splits[1:]
    # Refused before anything is written: speakers that cannot fill the folds, unknown speakers,
    # and folds whose fitting or held-out part would hold one class.
    groups = logreg.cv_groups(train.speakers, settings.folds)
    logreg.check_scored_parts(
        train.labels, groups, settings.folds, settings.seed, f"the training split {train.split_id}"
    )
    overlaps = leakage.check_holdout([train], tests, settings.allow_overlap)
    run.write_config(
        config_args,
        settings.seed,
        {s.split_id: s.metadata() for s in splits},
        {
            "protocol": "train_cv",
            "folds": settings.folds,
            "chosen_by": chosen_by(settings),
            "C_grid": list(settings.C_grid),
            "select_by": settings.select_by,
            "silence_top_db": settings.top_db,
        },
    )
    untrained = any(s.untrained for s in splits)
    print_header(run, settings, train, None, tests, untrained, any(s.demo for s in splits))
    run.print(
        *leakage.left_out_lines(splits, "[eval_logreg]"), *(f"[eval_logreg] {entry.line()}" for entry in overlaps)
    )

    # One view at a time: each view's C by pooled out-of-fold scores, and its model refitted on
    # all of train at that C from the same read (needed for the per-layer test scores).
    selection = logreg.select_by_cv(
        train.views,
        train.labels,
        groups,
        settings.folds,
        settings.C_grid,
        settings.seed,
        settings.select_by,
        settings.jobs,
        f"choose by cv{settings.folds} on {train.split_id}",
        refit=True,
    )
    oof_scores = selection.held_out_scores[selection.key]
    oof_summary = _summary(train, oof_scores, settings, train.labels)
    silence_train = _silence(train, settings)
    silence_selection = logreg.select_by_cv(
        silence_train,
        train.labels,
        groups,
        settings.folds,
        settings.C_grid,
        settings.seed,
        settings.select_by,
        refit=True,
    )
    silence_model = silence_selection.models["silence"]

    results = []
    for test in tests:
        view_scores = {key: logreg.bonafide_scores(m, test.views[key]) for key, m in selection.models.items()}
        results.append(
            TestResult(
                split=test,
                label=test.split_id,
                scores=view_scores[selection.key],
                summary=_summary(test, view_scores[selection.key], settings, train.labels),
                silence_scores=logreg.bonafide_scores(silence_model, _silence(test, settings)["silence"]),
                view_scores=view_scores,
            )
        )
    _save_model(
        run,
        selection.models[selection.key],
        settings,
        train,
        selection.key,
        selection.C,
        oof_summary["eer_threshold"],
        f"EER threshold of the out-of-fold scores of {train.split_id} ({settings.folds}-fold CV)",
        silence_model,
        train.demo,
    )
    return report_run(
        run,
        settings,
        train,
        selection,
        results,
        untrained,
        train.demo,
        overlap={
            "between_splits": leakage.as_json(overlaps),
            "left_out_duplicates": {s.split_id: s.left_out_duplicates for s in splits},
        },
        chosen_on={
            "split": train,
            "scores": oof_scores,
            "summary": oof_summary,
            "view_scores": selection.held_out_scores,
            "silence_C": silence_selection.C,
            "cv_folds": settings.folds,
        },
    )
