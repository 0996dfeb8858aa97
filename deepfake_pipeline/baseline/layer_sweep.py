"""The layer sweep's per-layer held-out metrics (each layer at its own best C) for metrics.json,
and its plot: beside the test splits, the dev split's or, with `--dev cv`, the out-of-fold
scores' metrics that chose the layer."""

from deepfake_pipeline.baseline.choice import chosen_on_names
from deepfake_pipeline.evaluation import metrics, plots
from deepfake_pipeline.evaluation.tdcf import official_eer


def layer_sweep(run, fit_split, selection, results, chosen_on, where, caveat):
    """Per-layer held-out metrics (each layer at its own best C) and the plot; None unless every
    view is a single layer and there are several."""
    keys = list(fit_split.views)
    if len(keys) < 2 or any(len(fit_split.view_layers[k]) != 1 for k in keys):
        return None
    layers = [fit_split.view_layers[k][0] for k in keys]
    rows: list = []
    series: dict = {}
    if chosen_on is not None:
        names = chosen_on_names(chosen_on)
        series[names["series"]] = {"auc": [], "eer": []}
    for result in results:
        series[f"test={result.label}"] = {"auc": [], "eer": []}
    for key, layer in zip(keys, layers, strict=True):
        row = {"layer": layer, "C": selection.best_C[key], "tests": {}}
        if chosen_on is not None:
            dev, prefix = chosen_on["split"], names["row"]
            row[f"{prefix}_auc"] = metrics.roc_auc(dev.labels, chosen_on["view_scores"][key])
            row[f"{prefix}_eer"] = official_eer(dev.labels, chosen_on["view_scores"][key]).eer
            series[names["series"]]["auc"].append(row[f"{prefix}_auc"])
            series[names["series"]]["eer"].append(row[f"{prefix}_eer"])
        for result in results:
            scores = result.view_scores[key]
            auc, rate = metrics.roc_auc(result.split.labels, scores), official_eer(result.split.labels, scores).eer
            row["tests"][result.label] = {"auc": auc, "eer": rate}
            series[f"test={result.label}"]["auc"].append(auc)
            series[f"test={result.label}"]["eer"].append(rate)
        rows.append(row)
    chosen_layer = fit_split.view_layers[selection.key][0]
    silence = {
        f"test={r.label}": {
            "auc": metrics.roc_auc(r.split.labels, r.silence_scores),
            "eer": official_eer(r.split.labels, r.silence_scores).eer,
        }
        for r in results
    }
    plots.plot_layer_sweep(
        layers,
        series,
        chosen_layer,
        run.path / "layer_sweep.png",
        f"layer sweep, layer chosen on {where}: {chosen_layer}"
        if chosen_on is not None
        else f"layer sweep (nested CV, per layer); layer kept for --score by {where}: {chosen_layer}",
        caveat,
        references=silence,
        chosen_on=where,
    )
    return rows
