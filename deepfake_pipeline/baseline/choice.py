"""How step 3 names the choice of C (and the layer) and the data that made it: what config.json
and metrics.json record (`chosen_by`), the tag on every closing line (`choice_tag`), the names
of a dev split or of the out-of-fold scores of `--dev cv` in the printout and the files, and the
printed selection table."""


def chosen_by(settings) -> str:
    """What chose C (and the layer), as config.json and metrics.json record it."""
    if settings.protocol == "train_cv":
        return f"cv{settings.folds} on {settings.train}"
    if settings.protocol == "cv":
        inner = settings.inner_folds or settings.folds
        return f"nested: inner cv{inner} in each of {settings.folds} folds of {settings.cv}"
    return f"dev {settings.dev}"


def choice_tag(settings, fit_split) -> str:
    """How the closing lines say C (and the layer) were chosen; for --cv, that the line is the
    nested estimate, the run's result."""
    what = "layer and C" if len(fit_split.views) > 1 else "C"
    if settings.protocol == "train_cv":
        return f"{what} chosen by cv{settings.folds} on {settings.train}"
    if settings.protocol == "cv":
        return f"nested cv{settings.folds} estimate: {what} chosen inside each fold"
    return f"{what} chosen on dev {settings.dev}"


def chosen_on_names(chosen_on) -> dict:
    """How the data that chose C is named in the printout and the files: a dev split, or the
    out-of-fold scores of a speaker-grouped CV on the training split (`--dev cv`, where
    chosen_on holds "cv_folds")."""
    split_id = chosen_on["split"].split_id
    folds = chosen_on.get("cv_folds")
    if folds is None:
        return {
            "where": "dev",
            "series": f"dev={split_id}",
            "score_file": f"{split_id}.dev",
            "row": "dev",
            "line": f"dev={split_id} (used for the choice, not a test)",
            "calibrated_on": f"dev {split_id}",
        }
    return {
        "where": f"{folds}-fold grouped CV on {split_id}",
        "series": f"out-of-fold cv{folds}={split_id}",
        "score_file": f"{split_id}.oof",
        "row": "oof",
        "line": f"out-of-fold {split_id}(cv{folds}) (used for the choice and the threshold, not a test)",
        "calibrated_on": (
            f"the out-of-fold scores of {split_id} (cv{folds}; applied to the model refitted on all of it)"
        ),
    }


def pct(x):
    return "nan" if x is None else f"{100 * x:.2f}%"


def view_name(split, key) -> str:
    layers = split.view_layers.get(key) or []
    if not layers:
        return key
    return f"layer {layers[0]}" if len(layers) == 1 else f"layers {'+'.join(map(str, layers))}"


def selection_lines(fit_split, selection, where, cv: bool):
    metric = "ROC-AUC" if selection.select_by == "auc" else "EER"
    if cv:
        heading = (
            f"[eval_logreg] model kept for --score (not this run's result, which is the nested estimate on the "
            f"closing line): chosen by {where} on all of {fit_split.split_id} (pooled out-of-fold {metric}, "
            "optimistic: the same scores chose it):"
        )
    else:
        heading = f"[eval_logreg] selection on {where} ({metric}), fitted on {fit_split.split_id}:"
    lines = [heading]
    for key, C in selection.best_C.items():
        row = selection.row(key, C)
        flag = "  <- chosen" if key == selection.key else ""
        note = "" if row["converged"] else " (did not converge)"
        lines.append(
            f"  {view_name(fit_split, key):<14} best C {C:<8g} ROC-AUC {row['auc']:.4f} "
            f"EER {pct(row['eer'])}{note}{flag}"
        )
    chosen = selection.row(selection.key, selection.C)
    lines.append(
        f"[eval_logreg] {'model kept for --score, ' if cv else ''}chosen on {where}: "
        f"{view_name(fit_split, selection.key)}, C={selection.C:g} "
        f"({where} ROC-AUC {chosen['auc']:.4f}, EER {pct(chosen['eer'])})"
    )
    return lines
