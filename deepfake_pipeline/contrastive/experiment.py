"""One contrastive run end to end, on the baseline's protocol: train the head (and block) per
seed, project every clip, fit step 3's logistic regression on the projections with C chosen as
step 3 chose it, and score the baseline's test trials.

- holdout baseline: train on its train split, early-stop on its dev split, C chosen on dev;
- cv baseline: its very folds (same speaker groups, same seed). In each fold the head trains on
  the fold's fitting part minus a speaker-grouped inner dev part (the first of the baseline's
  inner folds), which early-stops it; C is then chosen by inner grouped CV on the fitting
  part's projections, as step 3 does, and the held-out fold is scored."""

import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepfake_pipeline.baseline import logreg, shortcut
from deepfake_pipeline.contrastive.data import (
    Representation,
    check_loaded_model,
    embedding_source,
    frame_sources,
    load_frozen_model,
    load_split_features,
)
from deepfake_pipeline.contrastive.head import ProjectionHead
from deepfake_pipeline.contrastive.model import ContrastiveModel, SubsetSource
from deepfake_pipeline.contrastive.train import TrainConfig, project, train
from deepfake_pipeline.contrastive.unfreeze import UnfrozenBlock, check_block, num_transformer_layers
from deepfake_pipeline.formats.manifest import manifest_sha256
from deepfake_pipeline.formats.model_identity import ModelIdentity
from deepfake_pipeline.formats.split_union import union_of
from deepfake_pipeline.formats.step3_run import (
    BaselineRun,
    BaselineRunError,
    baseline_scores,
    check_labels_match,
    check_same_manifest,
    check_same_model,
)

PROJECTION = "projection"


@dataclass
class ContrastiveSettings:
    representation: Representation
    train: TrainConfig
    seeds: tuple = (0,)
    attack_classes: bool = False
    hidden_dim: int = 256
    out_dim: int = 128
    n_boot: int = 1000
    device: str = "cpu"
    interim_dir: Path | None = None
    processed_dir: Path | None = None
    jobs: int = 1


@dataclass
class SeedResult:
    seed: int
    test_scores: dict  # split id -> scores in that split's order
    dev_scores: np.ndarray | None  # holdout only
    training: list = field(default_factory=list)  # per fold: best epoch, dev AUC, C, history


@dataclass
class Experiment:
    baseline: BaselineRun
    splits: dict  # split id -> SplitFeatures
    baseline_scores: dict  # test split id -> aligned baseline scores
    silence_scores: dict  # test split id -> silence-only scores
    loaded_model: Any  # the SSL model (LoadedModel) when layers are unfrozen
    untrained: bool
    demo: bool
    sources: dict | None = None  # split id -> what the head trains on / projects
    factory: "ModelFactory | None" = None
    seeds: list = field(default_factory=list)  # SeedResult per seed, once trained


def supcon_classes(labels, attacks, attack_classes: bool) -> np.ndarray:
    """Bona fide = 0; spoof = 1, or one class per attack id with --attack-classes."""
    labels = np.asarray(labels)
    if not attack_classes:
        return labels.copy()
    spoof_attacks = sorted(set(np.asarray(attacks)[labels == 1].tolist()))
    ids = {attack: 1 + i for i, attack in enumerate(spoof_attacks)}
    return np.array([0 if y == 0 else ids[a] for y, a in zip(labels, attacks, strict=True)], dtype=np.int64)


class ModelFactory:
    """A fresh model per seed (and fold): the head initialised from the seed, and for an unfrozen
    block the SSL model's layers put back to their pretrained weights first."""

    def __init__(self, settings: ContrastiveSettings, in_dim: int, num_layers: int | None, loaded=None):
        self.settings, self.in_dim, self.num_layers, self.loaded = settings, in_dim, num_layers, loaded
        rep = settings.representation
        if rep.unfrozen:
            assert rep.first is not None  # resolved
            self.layers = loaded.model.encoder.layers[rep.first - 1 : rep.pooled]
            self.pretrained = copy.deepcopy(self.layers.state_dict())

    def build(self, seed: int) -> ContrastiveModel:
        rep = self.settings.representation
        torch.manual_seed(seed)
        block = None
        if rep.unfrozen:
            self.layers.load_state_dict(self.pretrained)
            assert rep.first is not None and rep.last is not None and rep.pooled is not None  # resolved
            block = UnfrozenBlock(self.loaded.model, rep.first, rep.last, rep.pooled)
        head = ProjectionHead(
            self.in_dim,
            self.settings.hidden_dim,
            self.settings.out_dim,
            num_layers=self.num_layers if rep.layer_mix else None,
        )
        return ContrastiveModel(head, block).to(self.settings.device)


def _identity(baseline: BaselineRun, settings: ContrastiveSettings, splits: dict, fold) -> dict:
    """What a checkpoint must have been trained under to be resumed."""
    first = baseline.model_identities.get(baseline.split_ids[0])
    return {
        "model": baseline.model_spec,
        "model_identity": first.as_json() if first else None,
        "representation": asdict(settings.representation),
        "attack_classes": settings.attack_classes,
        "hidden_dim": settings.hidden_dim,
        "out_dim": settings.out_dim,
        "fold": fold,
        "manifests": {
            member.split_id: manifest_sha256(member.split_dir)
            for split in splits.values()
            for member in (split.members or (split,))
        },
    }


def _check_trials(baseline: BaselineRun, splits: dict) -> dict:
    """Same manifests as the baseline for every split, then its test scores aligned to ours."""
    for split_id, split in splits.items():
        check_same_manifest(baseline, split_id, manifest_sha256(split.split_dir))
        check_same_model(baseline, split_id, ModelIdentity.from_json(split.meta.get("model_identity")))
    aligned = {}
    for split_id in baseline.tests:
        check_labels_match(baseline, split_id, splits[split_id].labels)
        aligned[split_id] = baseline_scores(baseline, split_id, splits[split_id].utt_ids)
    return aligned


def _silence_scores(baseline: BaselineRun, splits: dict, settings: ContrastiveSettings) -> dict:
    """The silence-only shortcut on the same protocol as step 3, for the closing line."""

    def view(split):
        return shortcut.silence_view_of(split, settings.processed_dir, baseline.top_db)["silence"]

    if baseline.protocol == "cv":
        assert baseline.folds is not None  # a cv run records its folds
        split = splits[baseline.tests[0]]
        groups = logreg.cv_groups(split.speakers, baseline.folds)
        cv = logreg.cross_validate(
            {"silence": view(split)},
            split.labels,
            groups,
            baseline.folds,
            baseline.C_grid,
            baseline.seed,
            baseline.select_by,
            baseline.inner_folds,
        )
        return {split.split_id: cv.scores}
    train_split, dev_split = splits[baseline.train], splits[baseline.dev]
    selection = logreg.select_on_dev(
        {"silence": view(train_split)},
        train_split.labels,
        {"silence": view(dev_split)},
        dev_split.labels,
        baseline.C_grid,
        baseline.seed,
        baseline.select_by,
    )
    model, _ = logreg.fit(view(train_split), train_split.labels, selection.C, baseline.seed)
    return {sid: logreg.bonafide_scores(model, view(splits[sid])) for sid in baseline.tests}


def _train_one(
    factory,
    seed,
    settings,
    train_source,
    train_split_labels,
    classes,
    dev_source,
    dev_labels,
    checkpoint,
    identity,
    log,
    name,
):
    model = factory.build(seed)
    model.fit_standardiser(train_source, settings.train.batch_size)
    config = TrainConfig(**{**asdict(settings.train), "seed": seed})
    outcome = train(
        model,
        train_source,
        classes,
        train_split_labels,
        dev_source,
        dev_labels,
        config,
        checkpoint,
        identity,
        log=log,
        name=name,
    )
    return model, outcome


def _outcome_record(model, outcome, C, converged) -> dict:
    mix = model.head.mix
    return {
        "layer_weights": None if mix is None else mix.weights().detach().cpu().tolist(),
        "best_epoch": outcome.best_epoch,
        "best_dev_centroid_auc": outcome.best_dev_auc,
        "epochs_run": outcome.epochs_run,
        "steps": outcome.steps,
        "stopped_early": outcome.stopped_early,
        "resumed_at_epoch": outcome.resumed_at_epoch,
        "logreg_C": C,
        "logreg_converged": converged,
        "history": outcome.history,
    }


def _run_holdout_seed(seed, baseline, settings, splits, sources, factory, run_path, log) -> SeedResult:
    train_split, dev_split = splits[baseline.train], splits[baseline.dev]
    classes = supcon_classes(train_split.labels, train_split.attacks, settings.attack_classes)
    model, outcome = _train_one(
        factory,
        seed,
        settings,
        sources[baseline.train],
        train_split.labels,
        classes,
        sources[baseline.dev],
        dev_split.labels,
        Path(run_path) / f"seed_{seed}" / "checkpoint.pt",
        _identity(baseline, settings, splits, None),
        log,
        f"train_contrastive seed {seed}",
    )
    batch = settings.train.batch_size
    projections = {sid: project(model, sources[sid], batch) for sid in splits}
    selection = logreg.select_on_dev(
        {PROJECTION: projections[baseline.train]},
        train_split.labels,
        {PROJECTION: projections[baseline.dev]},
        dev_split.labels,
        baseline.C_grid,
        baseline.seed,
        baseline.select_by,
        settings.jobs,
    )
    classifier, converged = logreg.fit(projections[baseline.train], train_split.labels, selection.C, baseline.seed)
    return SeedResult(
        seed=seed,
        dev_scores=logreg.bonafide_scores(classifier, projections[baseline.dev]),
        test_scores={sid: logreg.bonafide_scores(classifier, projections[sid]) for sid in baseline.tests},
        training=[_outcome_record(model, outcome, selection.C, converged)],
    )


def _run_cv_seed(seed, baseline, settings, splits, sources, factory, run_path, log) -> SeedResult:
    split = splits[baseline.tests[0]]
    source = sources[split.split_id]
    groups = logreg.cv_groups(split.speakers, baseline.folds)
    inner_folds = baseline.inner_folds or baseline.folds
    scores = np.full(len(split), np.nan)
    training = []
    for fold, (fit_idx, score_idx) in enumerate(
        logreg.grouped_folds(split.labels, groups, baseline.folds, baseline.seed)
    ):
        fit_labels, fit_groups = split.labels[fit_idx], groups[fit_idx]
        n_inner = min(inner_folds, len(np.unique(fit_groups)))
        if n_inner < 2:
            raise logreg.ProtocolError(
                f"fold {fold}'s fitting part has fewer than 2 speakers: no inner dev part "
                "to early-stop on; use fewer --folds in the baseline run"
            )
        inner_train, inner_dev = logreg.grouped_folds(fit_labels, fit_groups, n_inner, baseline.seed)[0]
        logreg.check_both_classes(fit_labels[inner_dev], f"the inner dev part of fold {fold}")
        classes = supcon_classes(fit_labels[inner_train], split.attacks[fit_idx][inner_train], settings.attack_classes)
        model, outcome = _train_one(
            factory,
            seed,
            settings,
            SubsetSource(source, fit_idx[inner_train]),
            fit_labels[inner_train],
            classes,
            SubsetSource(source, fit_idx[inner_dev]),
            fit_labels[inner_dev],
            Path(run_path) / f"seed_{seed}" / f"fold_{fold}.pt",
            _identity(baseline, settings, splits, fold),
            log,
            f"train_contrastive seed {seed} fold {fold}",
        )
        batch = settings.train.batch_size
        fit_projections = project(model, SubsetSource(source, fit_idx), batch)
        selection = logreg.select_by_cv(
            {PROJECTION: fit_projections},
            fit_labels,
            fit_groups,
            n_inner,
            baseline.C_grid,
            baseline.seed,
            baseline.select_by,
            settings.jobs,
        )
        classifier, converged = logreg.fit(fit_projections, fit_labels, selection.C, baseline.seed)
        scores[score_idx] = logreg.bonafide_scores(classifier, project(model, SubsetSource(source, score_idx), batch))
        training.append({"fold": fold, **_outcome_record(model, outcome, selection.C, converged)})
    return SeedResult(seed=seed, test_scores={split.split_id: scores}, dev_scores=None, training=training)


def prepare_experiment(baseline: BaselineRun, settings: ContrastiveSettings) -> Experiment:
    """The splits (refused unless they are the baseline's trials), the baseline's and the
    silence-only scores. Resolves `settings.representation` against the model's depth."""
    loaded = None
    if settings.representation.unfrozen and len(baseline.train_splits) > 1:
        raise BaselineRunError(
            f"the baseline run {baseline.path} fitted on several training splits ({baseline.train}); unfreezing "
            "layers reads one frame cache per split and does not join them yet: train the frozen head on it "
            "(no --unfreeze-*), or give the baseline a single --train split"
        )
    if settings.representation.unfrozen:
        loaded = load_frozen_model(baseline.model_spec, settings.device)
        settings.representation = settings.representation.resolved(num_transformer_layers(loaded.model))
        rep = settings.representation
        assert rep.first is not None and rep.last is not None and rep.pooled is not None  # resolved
        check_block(loaded.model, rep.first, rep.last, rep.pooled)
    if loaded is not None:
        check_loaded_model(loaded, baseline.model_identities.get(baseline.split_ids[0]), baseline.path)
    # Read by the tag the baseline read: the model's identity is then checked against the
    # baseline's record, whether or not --model's folder still exists here.
    loaded_splits = load_split_features(
        baseline.split_ids,
        baseline.model_tag,
        baseline.model_tag,
        settings.representation,
        settings.interim_dir,
        settings.processed_dir,
    )
    splits = {split.split_id: split for split in loaded_splits}
    baseline_scores = _check_trials(baseline, splits)
    if len(baseline.train_splits) > 1:  # the baseline fitted on several splits as one: so does the head
        members = [splits.pop(sid) for sid in baseline.train_splits]
        splits = {baseline.train: union_of(members), **splits}
    return Experiment(
        baseline=baseline,
        splits=splits,
        baseline_scores=baseline_scores,
        silence_scores=_silence_scores(baseline, splits, settings),
        loaded_model=loaded,
        untrained=any(s.untrained for s in loaded_splits),
        demo=any(s.demo for s in loaded_splits),
    )


def attach_sources(experiment: Experiment, settings: ContrastiveSettings, log=print) -> Experiment:
    """What the head trains on: stored embeddings, or frame caches (computing what is missing)."""
    rep, loaded = settings.representation, experiment.loaded_model
    splits = list(experiment.splits.values())
    if rep.unfrozen:
        experiment.sources = frame_sources(splits, loaded, rep, settings.processed_dir, log)
        experiment.factory = ModelFactory(settings, loaded.dim, None, loaded)
    else:
        experiment.sources = {split.split_id: embedding_source(split, rep) for split in splits}
        meta = splits[0].meta
        experiment.factory = ModelFactory(settings, int(meta["dim"]), len(meta["layers"]) if rep.layer_mix else None)
    return experiment


def train_seeds(experiment: Experiment, settings: ContrastiveSettings, run_path, log=print) -> Experiment:
    run_seed = _run_cv_seed if experiment.baseline.protocol == "cv" else _run_holdout_seed
    experiment.seeds = [
        run_seed(
            seed,
            experiment.baseline,
            settings,
            experiment.splits,
            experiment.sources,
            experiment.factory,
            run_path,
            log,
        )
        for seed in settings.seeds
    ]
    return experiment
