"""Linear logistic-regression fusion of several systems' scores, fitted on dev trials.

``llr = w . s + b`` with (w, b) minimising the prior-weighted cross-entropy on dev, the linear
fusion of BOSARIS and WeDefense and the same objective as the affine calibration of
evaluation/recalibration.py (which is this fusion with one system): bona fide trials weighted
``pi / N_bona``, spoof ones ``(1 - pi) / N_spoof``, so each class carries the target prior
whatever the dev split's balance, and the fitted log odds less ``logit pi`` are the fused LLRs.
Unregularised (scikit-learn's ``C=inf``): a penalty would pull the fused scores towards 0 and
away from calibrated LLRs.

The columns are standardised for the fit only (lbfgs converges on columns of one scale; step-3
log-odds can lie in the hundreds) and the weights mapped back: an unregularised logistic
regression's optimum does not depend on an affine change of its inputs.

When the dev trials are linearly separable the cross-entropy has no finite minimum: the weights
grow until the optimiser stops and the fused "LLRs" are as overconfident as it went. `fit` says
so (``separable``) instead of handing such weights on as a fit."""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from deepfake_pipeline.common.errors import PipelineError
from deepfake_pipeline.evaluation.metrics import check_labels
from deepfake_pipeline.evaluation.recalibration import effective_prior
from deepfake_pipeline.formats.labels import BONAFIDE


class FusionError(PipelineError, ValueError):
    """The fusion cannot be fitted or applied; the message says why and what to do."""


class FusionModel(NamedTuple):
    systems: tuple  # the input runs' names, in the columns' order
    weights: tuple  # one per system
    bias: float
    target_prior: float
    n_trials: int
    n_bonafide: int
    n_spoof: int
    converged: bool

    def apply(self, matrix) -> np.ndarray:
        """The fused LLRs of `matrix` (trials, systems), higher = more bona fide."""
        matrix = _checked_matrix(matrix, len(self.systems))
        return matrix @ np.asarray(self.weights, dtype=np.float64) + self.bias

    def to_json(self) -> dict:
        return {
            "systems": list(self.systems),
            "weights": dict(zip(self.systems, self.weights, strict=True)),
            "bias": self.bias,
            "target_prior": self.target_prior,
            "n_trials": self.n_trials,
            "n_bonafide": self.n_bonafide,
            "n_spoof": self.n_spoof,
            "converged": self.converged,
        }


def _checked_matrix(matrix, n_systems: int) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != n_systems:
        raise FusionError(f"expected a (trials, {n_systems}) score matrix, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise FusionError(f"{int(np.sum(~np.isfinite(matrix)))} scores are not finite")
    return matrix


def separable(labels, matrix) -> bool:
    """Whether some linear score separates the classes perfectly (a logistic regression with no
    penalty then has no finite optimum). Tested as a linear programme: a hyperplane with margin
    1 on every trial exists iff the classes are strictly separable."""
    from scipy.optimize import linprog

    labels = check_labels(labels)
    matrix = np.asarray(matrix, dtype=np.float64)
    sign = np.where(labels == BONAFIDE, 1.0, -1.0)
    # find (w, b) with sign_i * (w . x_i + b) >= 1 for all i; feasibility only (zero objective)
    a_ub = -sign[:, None] * np.hstack([matrix, np.ones((matrix.shape[0], 1))])
    result = linprog(
        np.zeros(matrix.shape[1] + 1),
        A_ub=a_ub,
        b_ub=-np.ones(matrix.shape[0]),
        bounds=[(None, None)] * (matrix.shape[1] + 1),
        method="highs",
    )
    return result.status == 0


def fit(labels, matrix, systems, target_prior: float | None = None) -> FusionModel:
    """The fusion of `matrix` (dev trials, systems) with these `labels` (0 bona fide, 1 spoof).
    Refuses dev trials that are linearly separable, or of one class only."""
    try:
        labels = check_labels(labels)
    except ValueError as error:
        raise FusionError(f"the dev split must hold bona fide and spoof trials to fit a fusion on ({error})") from None
    systems = tuple(systems)
    matrix = _checked_matrix(matrix, len(systems))
    if matrix.shape[0] != labels.size:
        raise FusionError(f"{labels.size} labels but {matrix.shape[0]} rows of scores")
    pi = effective_prior() if target_prior is None else float(target_prior)
    if not 0 < pi < 1:
        raise FusionError(f"the target prior must lie strictly between 0 and 1, got {pi}")
    is_bona = labels == BONAFIDE
    n_bona, n_spoof = int(is_bona.sum()), int((~is_bona).sum())
    if n_bona == 0 or n_spoof == 0:
        raise FusionError("the dev split must hold bona fide and spoof trials to fit a fusion on")
    if separable(labels, matrix):
        raise FusionError(
            f"the dev scores of {', '.join(systems)} separate bona fide from spoof perfectly ({n_bona} bona fide, "
            f"{n_spoof} spoof trials): a logistic-regression fusion then has no finite weights, and its fused "
            "LLRs would be as overconfident as the optimiser went. Fuse runs whose dev split is larger or harder"
        )
    centre = matrix.mean(axis=0)
    scale = matrix.std(axis=0)
    scale[scale == 0] = 1.0  # a constant column gets weight 0 whatever its scale
    # Weights summing to the number of trials keep lbfgs's tolerances at their usual scale.
    sample_weight = np.where(is_bona, pi / n_bona, (1 - pi) / n_spoof) * labels.size
    model = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit((matrix - centre) / scale, is_bona.astype(int), sample_weight=sample_weight)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    weights = model.coef_[0] / scale
    bias = float(model.intercept_[0] - weights @ centre - math.log(pi / (1 - pi)))
    return FusionModel(
        systems=systems,
        weights=tuple(float(w) for w in weights),
        bias=bias,
        target_prior=pi,
        n_trials=int(labels.size),
        n_bonafide=n_bona,
        n_spoof=n_spoof,
        converged=converged,
    )
