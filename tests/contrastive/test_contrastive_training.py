"""SupCon against the paper's formula, and the training loop: learns a planted signal, is
deterministic, and a killed run resumes to the very same result."""

import copy
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from contrastive_fixtures import one_torch_thread, planted_embeddings  # noqa: F401
from torch.nn import functional as F

from deepfake_pipeline.contrastive.checkpoint import CheckpointMismatch
from deepfake_pipeline.contrastive.head import ProjectionHead
from deepfake_pipeline.contrastive.loss import supcon_loss
from deepfake_pipeline.contrastive.model import ContrastiveModel, EmbeddingSource
from deepfake_pipeline.contrastive.train import TrainConfig, project, project_for_selection, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def supcon_by_the_formula(z, classes, temperature):
    """Khosla et al. 2020, eq. 2, written as loops; anchors without a positive are skipped."""
    z = z.tolist()
    n = len(z)

    def dot(a, b):
        return sum(x * y for x, y in zip(z[a], z[b], strict=True)) / temperature

    terms = []
    for i in range(n):
        positives = [p for p in range(n) if p != i and classes[p] == classes[i]]
        if not positives:
            continue
        denominator = sum(math.exp(dot(i, a)) for a in range(n) if a != i)
        terms.append(-sum(math.log(math.exp(dot(i, p)) / denominator) for p in positives) / len(positives))
    return sum(terms) / len(terms)


def test_supcon_matches_the_formula_with_a_lone_class_member():
    torch.manual_seed(1)
    z = F.normalize(torch.randn(7, 5, dtype=torch.float64), dim=1)
    classes = [0, 0, 1, 1, 1, 2, 0]  # class 2 has a single member: no positive for it
    for temperature in (0.1, 0.5):
        got = supcon_loss(z, torch.tensor(classes), temperature).item()
        assert got == pytest.approx(supcon_by_the_formula(z, classes, temperature), rel=1e-10)


def test_lone_member_counts_only_as_a_negative():
    torch.manual_seed(2)
    z = F.normalize(torch.randn(5, 4, dtype=torch.float64), dim=1)
    with_lone = supcon_loss(z, torch.tensor([0, 0, 1, 1, 2]), 0.2).item()
    assert with_lone == pytest.approx(supcon_by_the_formula(z, [0, 0, 1, 1, 2], 0.2), rel=1e-10)
    # moving the lone sample changes the others' denominators, hence the loss
    z_moved = z.clone()
    z_moved[4] = z[0]
    assert supcon_loss(z_moved, torch.tensor([0, 0, 1, 1, 2]), 0.2).item() != pytest.approx(with_lone)


def test_supcon_without_any_positive_pair_is_zero_and_differentiable():
    z = F.normalize(torch.randn(3, 4), dim=1).requires_grad_()
    loss = supcon_loss(z, torch.tensor([0, 1, 2]))
    loss.backward()
    assert loss.item() == 0.0 and z.grad is not None


def test_supcon_prefers_clustered_classes():
    classes = torch.tensor([0, 0, 1, 1])
    clustered = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]])
    mixed = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    assert supcon_loss(clustered, classes) < supcon_loss(mixed, classes)


# ------------------------------------------------------------------ the training loop


def _setup(seed=0, layer_mix=False):
    features, labels, attacks = planted_embeddings(240, seed=5)
    train_x, dev_x = features[:160], features[160:]
    if not layer_mix:
        train_x, dev_x = train_x[:, 1], dev_x[:, 1]
    torch.manual_seed(seed)
    head = ProjectionHead(16, hidden_dim=32, out_dim=8, num_layers=3 if layer_mix else None)
    model = ContrastiveModel(head)
    train_source, dev_source = EmbeddingSource(train_x), EmbeddingSource(dev_x)
    model.fit_standardiser(train_source, 64)
    return model, train_source, dev_source, labels[:160], labels[160:]


def _train(
    tmp_path,
    name,
    epochs=6,
    patience=50,
    seed=0,
    layer_mix=False,
    run_config=None,
    log=None,
    wrap_train_source=None,
    checkpoint_every_s=600.0,
):
    model, train_source, dev_source, y_train, y_dev = _setup(seed, layer_mix)
    if wrap_train_source is not None:
        train_source = wrap_train_source(train_source)
    config = TrainConfig(epochs=epochs, patience=patience, batch_size=32, lr=3e-3, seed=seed)
    outcome = train(
        model,
        train_source,
        y_train,
        y_train,
        dev_source,
        y_dev,
        config,
        tmp_path / name / "checkpoint.pt",
        run_config or {"test": 1},
        log=log or (lambda line: None),
        checkpoint_every_s=checkpoint_every_s,
    )
    return model, outcome, project(model, dev_source, 64), y_dev


def test_training_learns_the_planted_signal(tmp_path):
    model, outcome, dev_projections, y_dev = _train(tmp_path, "learn", epochs=8)
    assert outcome.best_dev_auc > 0.95
    assert np.allclose(np.linalg.norm(dev_projections, axis=1), 1.0, atol=1e-5)
    # the loss fell
    assert outcome.history[-1]["train_loss"] < outcome.history[0]["train_loss"]


def test_layer_mix_learns_to_weight_the_informative_layer(tmp_path):
    model, outcome, _, _ = _train(tmp_path, "mix", epochs=8, layer_mix=True)
    weights = model.head.mix.weights().detach().numpy()
    assert outcome.best_dev_auc > 0.9
    assert np.argmax(weights) == 1


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path):
    _, first, projections_a, _ = _train(tmp_path, "a", seed=0)
    _, second, projections_b, _ = _train(tmp_path, "b", seed=0)
    _, third, projections_c, _ = _train(tmp_path, "c", seed=1)
    assert np.array_equal(projections_a, projections_b)
    assert first.history == second.history
    assert not np.array_equal(projections_a, projections_c)


class Killed(Exception):
    pass


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    _, full, projections_full, _ = _train(tmp_path, "uninterrupted", epochs=6)

    def kill_after_epoch_3(line):
        # the epoch line is printed after the checkpoint is on disk: die right there
        if "epoch 3/" in line:
            raise Killed

    with pytest.raises(Killed):
        _train(tmp_path, "killed", epochs=6, log=kill_after_epoch_3)
    payload = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)
    assert payload["state"]["epoch"] == 3 and payload["state"]["step"] == 3 * 5
    lines = []
    _, resumed, projections_resumed, _ = _train(tmp_path, "killed", epochs=6, log=lines.append)
    assert resumed.resumed_at_epoch == 3
    assert "resuming" in lines[0] and len(lines) == 1 + 3
    assert resumed.history == full.history
    assert np.array_equal(projections_resumed, projections_full)
    # a finished run started again trains no more and gives the same result
    _, again, projections_again, _ = _train(tmp_path, "killed", epochs=6)
    assert again.resumed_at_epoch == 6 and np.array_equal(projections_again, projections_full)


class DiesAtBatch:
    """A training source that kills the run when asked for its n-th batch."""

    def __init__(self, source, n):
        self.source, self.n, self.calls = source, n, 0

    def __len__(self):
        return len(self.source)

    def batch(self, indices):
        self.calls += 1
        if self.calls == self.n:
            raise Killed
        return self.source.batch(indices)


def test_killed_in_the_middle_of_an_epoch_resumes_to_the_uninterrupted_result(tmp_path):
    _, full, projections_full, _ = _train(tmp_path, "uninterrupted", epochs=4)
    # 5 batches per epoch: die on the 3rd batch of epoch 3, with a checkpoint after every batch
    with pytest.raises(Killed):
        _train(
            tmp_path,
            "killed",
            epochs=4,
            checkpoint_every_s=0.0,
            wrap_train_source=lambda source: DiesAtBatch(source, 5 + 5 + 3),
        )
    payload = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)
    assert payload["state"]["epoch"] == 2 and payload["state"]["partial"]["batches_done"] == 2
    lines = []
    _, resumed, projections_resumed, _ = _train(tmp_path, "killed", epochs=4, log=lines.append, checkpoint_every_s=0.0)
    assert "2 batches into epoch 3" in lines[0]
    assert resumed.history == full.history and resumed.steps == full.steps == 4 * 5
    assert np.array_equal(projections_resumed, projections_full)


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path):
    _train(tmp_path, "run", epochs=2)
    with pytest.raises(CheckpointMismatch, match="different configuration"):
        _train(tmp_path, "run", epochs=2, run_config={"test": 2})


def test_early_stopping_keeps_the_best_dev_epoch(tmp_path):
    model, outcome, dev_projections, y_dev = _train(tmp_path, "early", epochs=40, patience=2)
    aucs = [row["dev_auc"] for row in outcome.history]
    assert outcome.best_dev_auc == max(aucs)
    assert outcome.best_epoch == 1 + aucs.index(max(aucs))
    assert outcome.epochs_run - outcome.best_epoch == 2 if outcome.stopped_early else True
    assert outcome.stopped_early


def test_attack_ids_as_finer_supcon_classes():
    from deepfake_pipeline.contrastive.experiment import supcon_classes

    labels = np.array([0, 1, 1, 0, 1])
    attacks = np.array(["-", "A07", "A01", "-", "A07"])
    assert supcon_classes(labels, attacks, attack_classes=False).tolist() == [0, 1, 1, 0, 1]
    assert supcon_classes(labels, attacks, attack_classes=True).tolist() == [0, 2, 1, 0, 2]


# ------------------------------------------------------------ one clip, one projection


@pytest.mark.parametrize("layer_mix", [False, True])
def test_a_clip_projects_the_same_alone_and_in_batches_of_any_size(layer_mix):
    """project() feeds step 4's logistic regression; in float32 a clip's projection changed with
    the number of clips batched beside it (~1e-7 here), and so did its score. The documented
    tolerance (contrastive/train.py, baseline/logreg.py) is 1e-12."""
    model, train_source, _, _, _ = _setup(layer_mix=layer_mix)
    features = train_source.features.numpy() * 300.0 + 1000.0  # large values round the most
    source = EmbeddingSource(features)
    alone = np.concatenate([project(model, EmbeddingSource(features[i : i + 1]), 1) for i in range(len(features))])
    for batch_size in (2, 3, 17, 64, len(features)):
        np.testing.assert_allclose(project(model, source, batch_size), alone, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(alone, axis=1), 1.0, atol=1e-12)


def test_the_epoch_is_chosen_on_projections_of_the_model_itself_in_eval_mode():
    """Each epoch's dev projections (project_for_selection) come from the training model in its
    own float32, with dropout off, and leave it training; they agree with an eval-mode float64
    copy written out here to float32 precision, and repeat exactly (no dropout noise)."""
    model, _, _, _, _ = _setup()
    model.train()
    features = np.random.default_rng(3).normal(size=(40, model.head.mean.shape[-1])).astype(np.float32)
    got = project_for_selection(model, EmbeddingSource(features), 7)
    assert model.training and all(p.dtype == torch.float32 for p in model.parameters())
    reference = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        expected = reference.head(torch.from_numpy(features).double()).numpy()
    assert got.dtype == np.float64 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert np.abs(got - expected).max() > 0  # float32 arithmetic, not the float64 copy
    np.testing.assert_array_equal(project_for_selection(model, EmbeddingSource(features), 40), got)


# ------------------------------------------------------------ C chosen on dev, best epoch kept


def _independent_logreg_scores(x_fit, y_fit, x_score, C):
    """Step 3's model written out with scikit-learn directly: log-odds of bona fide (label 0)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000)).fit(x_fit, y_fit)
    return -model.decision_function(x_score)


@pytest.mark.slow
def test_step_4_chooses_C_on_the_dev_projections_not_the_test_ones(monkeypatch):
    """The logistic regression on the projections takes C from the dev split: on projections
    where dev and test prefer different C, the run must follow dev. Training and projecting are
    replaced by given projections, so the choice alone is under test."""
    from types import SimpleNamespace

    from logreg_fixtures import prefers_other_C_on_test
    from sklearn.metrics import roc_auc_score

    from deepfake_pipeline.contrastive import experiment

    grid = (1e-4, 100.0)
    data = {
        "toy_train": prefers_other_C_on_test(400, 0, test_like=False),
        "toy_dev": prefers_other_C_on_test(400, 1, test_like=False),
        "toy_eval": prefers_other_C_on_test(400, 2, test_like=True),
    }
    x_train, y_train = data["toy_train"]

    def best_C(split):
        x, y = data[split]
        aucs = [roc_auc_score(y == 0, _independent_logreg_scores(x_train, y_train, x, C)) for C in grid]
        return grid[int(np.argmax(aucs))]

    assert best_C("toy_dev") != best_C("toy_eval"), "the construction must make dev and test disagree"

    outcome = SimpleNamespace(
        best_epoch=1, best_dev_auc=1.0, epochs_run=1, steps=1, stopped_early=False, resumed_at_epoch=0, history=[]
    )
    monkeypatch.setattr(experiment, "train", lambda *args, **kwargs: outcome)
    monkeypatch.setattr(experiment, "project", lambda model, source, batch_size: source.x)
    monkeypatch.setattr(experiment, "_identity", lambda *args: {})
    model = SimpleNamespace(fit_standardiser=lambda source, batch_size: None, head=SimpleNamespace(mix=None))
    baseline = SimpleNamespace(
        train="toy_train", dev="toy_dev", tests=["toy_eval"], C_grid=grid, seed=0, select_by="auc"
    )
    settings = experiment.ContrastiveSettings(representation=None, train=TrainConfig(), jobs=1)
    splits = {sid: SimpleNamespace(labels=y, attacks=np.where(y == 0, "-", "A01")) for sid, (_, y) in data.items()}
    sources = {sid: SimpleNamespace(x=x) for sid, (x, _) in data.items()}
    result = experiment._run_holdout_seed(
        0,
        baseline,
        settings,
        splits,
        sources,
        SimpleNamespace(build=lambda seed: model),
        "unused",
        log=lambda line: None,
    )
    assert result.training == [
        {
            "layer_weights": None,
            "best_epoch": 1,
            "best_dev_centroid_auc": 1.0,
            "epochs_run": 1,
            "steps": 1,
            "stopped_early": False,
            "resumed_at_epoch": 0,
            "logreg_C": best_C("toy_dev"),
            "logreg_converged": True,
            "history": [],
        }
    ]
    assert result.seed == 0 and list(result.test_scores) == ["toy_eval"]
    for split, got in (("toy_eval", result.test_scores["toy_eval"]), ("toy_dev", result.dev_scores)):
        expected = _independent_logreg_scores(x_train, y_train, data[split][0], best_C("toy_dev"))
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_training_leaves_the_model_with_the_weights_of_its_best_dev_epoch(tmp_path):
    """Early stopping must hand back the best dev epoch's weights, not the last epoch's. The
    weights of each epoch are copied as the epoch's log line is printed, and the best epoch is
    found here from the logged dev AUCs (first maximum)."""
    model, train_source, dev_source, y_train, y_dev = _setup(seed=0)
    snapshots = {}

    def log(line):
        if " epoch " in line and "/40 " in line:
            epoch = int(line.split(" epoch ")[1].split("/")[0])
            snapshots[epoch] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    config = TrainConfig(epochs=40, patience=2, batch_size=32, lr=3e-3, seed=0)
    outcome = train(
        model,
        train_source,
        y_train,
        y_train,
        dev_source,
        y_dev,
        config,
        tmp_path / "checkpoint.pt",
        {"test": "best epoch"},
        log=log,
    )
    aucs = [row["dev_auc"] for row in outcome.history]
    best, last = 1 + aucs.index(max(aucs)), len(aucs)
    assert sorted(snapshots) == list(range(1, last + 1))
    assert best < last, "the run must stop after worse epochs, so that best and last differ"
    weights = model.state_dict()
    assert all(torch.equal(weights[k], snapshots[best][k]) for k in weights)
    assert not all(torch.equal(weights[k], snapshots[last][k]) for k in weights)


# ------------------------------------------------------------ the loop written out by hand


def _weak_setup(seed=0, signal=0.3):
    """_setup with a weak planted signal: dev AUCs stay near 0.7-0.8, so that any change to the
    centroids, the batches or the optimiser shows in them."""
    features, labels, _ = planted_embeddings(240, seed=5, signal=signal)
    x = features[:, 1]
    torch.manual_seed(seed)
    model = ContrastiveModel(ProjectionHead(16, hidden_dim=32, out_dim=8))
    train_source, dev_source = EmbeddingSource(x[:160]), EmbeddingSource(x[160:])
    model.fit_standardiser(train_source, 64)
    return model, train_source, dev_source, labels[:160], labels[160:]


def _trained_by_hand(model, train_source, y_train, dev_source, y_dev, config):
    """What train() promises, written out: AdamW, one permutation per epoch from a generator
    seeded with config.seed, SupCon at config.temperature on consecutive slices of it, then dev
    clips scored by cosine to each class's mean training projection of the epoch (float64)."""
    from sklearn.metrics import roc_auc_score

    optimizer = torch.optim.AdamW(model.parameter_groups(config.lr, config.block_lr), weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    n, classes = len(train_source), torch.as_tensor(y_train)
    rows, weights = [], []
    for epoch in range(1, config.epochs + 1):
        permutation = torch.randperm(n, generator=generator)
        model.train()
        losses, z_train = [], np.zeros((n, 8))
        for start in range(0, n, config.batch_size):
            indices = permutation[start : start + config.batch_size]
            z = model(train_source.batch(indices.numpy()))
            loss = supcon_loss(z, classes[indices], config.temperature)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            z_train[indices.numpy()] = z.detach().double().numpy()
        with torch.no_grad():
            z_dev = copy.deepcopy(model).double().eval()(dev_source.batch(np.arange(len(dev_source)))).numpy()
        bonafide, spoof = z_train[y_train == 0].mean(axis=0), z_train[y_train == 1].mean(axis=0)
        scores = z_dev @ bonafide / np.linalg.norm(bonafide) - z_dev @ spoof / np.linalg.norm(spoof)
        # AUC compares scores; the module's float32 centroids move them by ~1e-7, so no pair may be closer
        gaps = np.abs(scores[y_dev == 0][:, None] - scores[y_dev == 1][None, :])
        assert gaps.min() > 1e-5
        rows.append(
            {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)),
                "dev_auc": roc_auc_score(y_dev == 0, scores),
                "step": epoch * len(losses),
            }
        )
        weights.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    return rows, weights


def test_planted_signal_training_matches_a_loop_written_out_by_hand(tmp_path):
    config = TrainConfig(epochs=3, patience=50, batch_size=32, lr=3e-3, weight_decay=0.2, temperature=0.3, seed=0)
    model, train_source, dev_source, y_train, y_dev = _weak_setup()
    outcome = train(
        model,
        train_source,
        y_train,
        y_train,
        dev_source,
        y_dev,
        config,
        tmp_path / "checkpoint.pt",
        {"test": "by hand"},
        log=lambda line: None,
    )
    reference, train_source, dev_source, y_train, y_dev = _weak_setup()
    rows, weights = _trained_by_hand(reference, train_source, y_train, dev_source, y_dev, config)
    assert [row["epoch"] for row in outcome.history] == [1, 2, 3]
    assert [row["step"] for row in outcome.history] == [row["step"] for row in rows] == [5, 10, 15]
    assert [row["train_loss"] for row in outcome.history] == pytest.approx(
        [row["train_loss"] for row in rows], rel=1e-6
    )
    aucs = [row["dev_auc"] for row in rows]
    assert [row["dev_auc"] for row in outcome.history] == pytest.approx(aucs, abs=1e-12)
    assert len(set(aucs)) == 3 and max(aucs) < 0.9, "the dev AUCs must be far from saturated"
    best = 1 + aucs.index(max(aucs))
    assert (outcome.best_epoch, outcome.best_dev_auc) == (best, pytest.approx(max(aucs), abs=1e-12))
    assert (outcome.epochs_run, outcome.steps, outcome.stopped_early) == (3, 15, False)
    state = model.state_dict()
    for key, value in weights[best - 1].items():
        torch.testing.assert_close(state[key], value, rtol=1e-5, atol=1e-6)


def test_planted_signal_scored_by_cosine_to_each_class_centroid():
    from deepfake_pipeline.contrastive.train import centroid_scores

    z = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    scores = centroid_scores(z, np.array([3.0, 0.0]), np.array([1.0, 1.0]))
    # cos to (1, 0) minus cos to (1, 1) / sqrt(2)
    r = 1 / np.sqrt(2)
    np.testing.assert_allclose(scores, [1 - r, 0 - r, 0.6 - 1.4 * r], rtol=0, atol=1e-7)


# ------------------------------------------------------------ early stopping on given dev AUCs


def test_early_stopping_counts_only_consecutive_epochs_without_improvement(tmp_path, monkeypatch):
    """The dev AUCs are given (metrics.roc_auc replaced), so the stopping epoch is worked out by
    hand: with patience 2, epoch 2 is worse but epoch 3 improves, which must reset the count;
    epochs 4 and 5 (a tie is no improvement) then stop the run after epoch 5, best epoch 3."""
    from deepfake_pipeline.contrastive import train as train_module
    from deepfake_pipeline.evaluation import metrics

    given = iter([0.6, 0.5, 0.7, 0.65, 0.7, 0.9, 0.95, 0.99, 1.0, 1.0])
    monkeypatch.setattr(
        train_module,
        "metrics",
        SimpleNamespace(check_labels=metrics.check_labels, roc_auc=lambda labels, scores: next(given)),
    )
    _, outcome, _, _ = _train(tmp_path, "given", epochs=10, patience=2)
    assert [row["dev_auc"] for row in outcome.history] == [0.6, 0.5, 0.7, 0.65, 0.7]
    assert (outcome.best_epoch, outcome.best_dev_auc, outcome.epochs_run, outcome.steps) == (3, 0.7, 5, 25)
    assert outcome.stopped_early


# ------------------------------------------------------------ checkpoints on a clock of our own


class Clock:
    def __init__(self, now):
        self.now = now

    def monotonic(self):
        return self.now


class TickingSource:
    """A training source that moves the clock on by `tick` s per batch, records the indices of
    every batch and kills the run when asked for its `dies_at`-th batch."""

    def __init__(self, source, clock, tick, dies_at=None):
        self.source, self.clock, self.tick, self.dies_at, self.batches = source, clock, tick, dies_at, []

    def __len__(self):
        return len(self.source)

    def batch(self, indices):
        if len(self.batches) + 1 == self.dies_at:
            raise Killed
        self.batches.append(np.asarray(indices).copy())
        self.clock.now += self.tick
        return self.source.batch(indices)


def test_resumes_from_checkpoints_written_every_checkpoint_every_s(tmp_path, monkeypatch):
    """train() on a clock of the test's own: each training batch takes 600 s, so with the default
    checkpoint_every_s (600 s) a checkpoint follows every batch but an epoch's last, whose own
    checkpoint follows the dev AUC. Every checkpoint is recorded as written and checked against
    the batches the run asked for and the projections it computed."""
    from deepfake_pipeline.contrastive import checkpoint as checkpoint_module
    from deepfake_pipeline.contrastive import train as train_module

    saved = []

    def recording_save(path, payload):
        saved.append(copy.deepcopy({"config": payload["config"], "state": payload["state"]}))
        checkpoint_module.save_checkpoint(path, payload)

    monkeypatch.setattr(train_module, "save_checkpoint", recording_save)
    config = TrainConfig(epochs=2, patience=50, batch_size=32, lr=3e-3, seed=0)
    identity = {
        "run": {"test": "clock"},
        "train": {
            "epochs": 2,
            "patience": 50,
            "batch_size": 32,
            "lr": 3e-3,
            "block_lr": 2e-5,
            "weight_decay": 1e-4,
            "temperature": 0.1,
            "seed": 0,
        },
    }
    keys = {"epoch", "step", "best_epoch", "best_dev_auc", "best_model", "bad_epochs", "finished", "history", "partial"}

    def run(folder, tick, dies_at=None, start=1000.0):
        model, train_source, dev_source, y_train, y_dev = _setup(seed=0)
        clock = Clock(start)
        monkeypatch.setattr(train_module, "time", SimpleNamespace(monotonic=clock.monotonic))
        source = TickingSource(train_source, clock, tick, dies_at)
        projections = []  # every training projection, as computed
        model.register_forward_hook(
            lambda module, inputs, output: projections.append(output.detach().clone()) if module.training else None
        )
        lines, saved[:] = [], []
        try:
            outcome = train(
                model,
                source,
                y_train,
                y_train,
                dev_source,
                y_dev,
                config,
                tmp_path / folder / "c.pt",
                {"test": "clock"},
                log=lines.append,
            )
        except Killed:
            outcome = None
        return outcome, lines, list(saved), source.batches, projections, y_train

    # 1. no time passes: no checkpoint inside an epoch
    outcome, lines, checkpoints, _, _, _ = run("still", tick=0.0)
    assert [(c["state"]["epoch"], c["state"]["partial"]) for c in checkpoints] == [(1, None), (2, None)]
    assert lines[1].endswith(" elapsed 0.0s")

    # 2. 600 s a batch
    outcome, lines, checkpoints, batches, projections, y_train = run("ticking", tick=600.0)
    assert [
        (c["state"]["epoch"], c["state"]["partial"] and c["state"]["partial"]["batches_done"]) for c in checkpoints
    ] == [(0, 1), (0, 2), (0, 3), (0, 4), (1, None), (1, 1), (1, 2), (1, 3), (1, 4), (2, None)]
    assert all(c["config"] == identity and set(c["state"]) == keys for c in checkpoints)
    for c in checkpoints[:4]:  # nothing is known about the dev split yet
        state = c["state"]
        assert (
            state["best_epoch"],
            state["best_dev_auc"],
            state["best_model"],
            state["bad_epochs"],
            state["finished"],
            state["history"],
        ) == (0, -np.inf, None, 0, False, [])
    for c in checkpoints:
        partial = c["state"]["partial"]
        if partial is None:
            continue
        done = partial["batches_done"]
        epoch_batches = range(5 * c["state"]["epoch"], 5 * c["state"]["epoch"] + done)
        indices = np.concatenate([batches[b] for b in epoch_batches])
        assert sorted(indices) == sorted(set(indices)) and len(indices) == 32 * done
        np.testing.assert_array_equal(partial["counts"], [np.sum(y_train[indices] == 0), np.sum(y_train[indices] == 1)])
        z = torch.cat([projections[b] for b in epoch_batches]).double().numpy()
        classes = np.concatenate([y_train[batches[b]] for b in epoch_batches])
        np.testing.assert_allclose(
            partial["sums"].numpy(), np.stack([z[classes == 0].sum(0), z[classes == 1].sum(0)]), rtol=1e-5, atol=1e-4
        )
        assert len(partial["losses"]) == done and c["state"]["step"] == 5 * c["state"]["epoch"] + done
    assert [c["state"]["finished"] for c in checkpoints if c["state"]["partial"] is None] == [False, True]
    history = outcome.history
    aucs = [row["dev_auc"] for row in history]
    assert lines == [
        f"[contrastive seed 0] epoch {row['epoch']}/2 train-loss {row['train_loss']:.4f} dev-AUC {row['dev_auc']:.4f} "
        f"(best {max(aucs[: i + 1]):.4f} @ epoch {1 + aucs.index(max(aucs[: i + 1]))}) "
        f"elapsed {3000.0 * (i + 1):.1f}s"
        for i, row in enumerate(history)
    ]
    # started again, the finished run says so and trains no more
    _, lines, checkpoints, batches, _, _ = run("ticking", tick=600.0)
    assert lines == [f"[contrastive seed 0] resuming from {tmp_path / 'ticking' / 'c.pt'} after epoch 2 (step 10)"]
    assert checkpoints == [] and batches == []

    # 3. killed asking for the 3rd batch of epoch 2, resumed
    _, _, _, first_batches, first_projections, _ = run("killed", tick=600.0, dies_at=5 + 3)
    outcome, lines, checkpoints, batches, projections, _ = run("killed", tick=600.0)
    assert lines[0] == (
        f"[contrastive seed 0] resuming from {tmp_path / 'killed' / 'c.pt'} after epoch 1, "
        "2 batches into epoch 2 (step 7)"
    )
    assert [c["state"]["partial"] and c["state"]["partial"]["batches_done"] for c in checkpoints] == [3, 4, None]
    batches, projections = first_batches[5:] + batches, first_projections[5:] + projections
    for c in checkpoints[:2]:
        partial = c["state"]["partial"]
        indices = np.concatenate(batches[: partial["batches_done"]])
        np.testing.assert_array_equal(partial["counts"], [np.sum(y_train[indices] == 0), np.sum(y_train[indices] == 1)])
        z = torch.cat(projections[: partial["batches_done"]]).double().numpy()
        np.testing.assert_allclose(
            partial["sums"].numpy(),
            np.stack([z[y_train[indices] == 0].sum(0), z[y_train[indices] == 1].sum(0)]),
            rtol=1e-5,
            atol=1e-4,
        )
    assert lines[1].endswith(" elapsed 1800.0s")


def test_resumes_a_mid_epoch_checkpoint_without_writing_another(tmp_path):
    """Killed inside epoch 3 (a checkpoint after every batch), resumed with no more checkpoints
    inside an epoch: the epoch's own checkpoint must not carry the finished partial epoch on."""
    _, full, projections_full, _ = _train(tmp_path, "uninterrupted", epochs=4)
    with pytest.raises(Killed):
        _train(
            tmp_path,
            "killed",
            epochs=4,
            checkpoint_every_s=0.0,
            wrap_train_source=lambda source: DiesAtBatch(source, 5 + 5 + 3),
        )
    _, resumed, projections_resumed, _ = _train(tmp_path, "killed", epochs=4, checkpoint_every_s=1e9)
    assert resumed.steps == 20 and [row["step"] for row in resumed.history] == [5, 10, 15, 20]
    assert resumed.history == full.history
    assert np.array_equal(projections_resumed, projections_full)
    payload = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)
    assert payload["state"]["partial"] is None and payload["state"]["finished"]


def test_resumes_only_a_checkpoint_of_the_same_configuration(tmp_path):
    _train(tmp_path, "run", epochs=1)
    with pytest.raises(CheckpointMismatch, match="different configuration"):
        _train(tmp_path, "run", epochs=1, run_config={"test": 2})
    with pytest.raises(CheckpointMismatch, match="different configuration"):
        _train(tmp_path, "run", epochs=2)
    _train(tmp_path, "run", epochs=1)


class TinyBlock(torch.nn.Module):
    """Stands in for an UnfrozenBlock: one trainable layer over (frames, frame mask), mean-pooled."""

    def __init__(self, dim):
        super().__init__()
        self.layer = torch.nn.Linear(dim, dim)

    def trainable_layers(self):
        return [self.layer]

    def forward(self, frames, frame_mask):
        weights = frame_mask.to(frames.dtype)[..., None]
        return (self.layer(frames) * weights).sum(dim=1) / weights.sum(dim=1)


class FramesSource:
    def __init__(self, features):
        self.features = torch.as_tensor(features)

    def __len__(self):
        return len(self.features)

    def batch(self, indices):
        frames = self.features[torch.as_tensor(indices)]
        return frames, torch.ones(frames.shape[:2], dtype=torch.bool)


def test_planted_signal_trains_an_unfrozen_block_at_block_lr(tmp_path):
    """The head at config.lr, the block's layers at config.block_lr, both with config.weight_decay
    (read back from the optimiser's state in the checkpoint)."""
    features, labels, _ = planted_embeddings(96, seed=5)  # the 3 layers serve as 3 frames
    torch.manual_seed(0)
    model = ContrastiveModel(ProjectionHead(16, hidden_dim=16, out_dim=8), block=TinyBlock(16))
    source = FramesSource(features)
    model.fit_standardiser(source, 64)
    block_before = copy.deepcopy(model.block.state_dict())
    config = TrainConfig(epochs=1, batch_size=32, lr=3e-3, block_lr=1e-4, weight_decay=0.05, seed=0)
    train(
        model,
        source,
        labels,
        labels,
        source,
        labels,
        config,
        tmp_path / "c.pt",
        {"test": "block"},
        log=lambda line: None,
    )
    groups = torch.load(tmp_path / "c.pt", weights_only=True)["optimizer"]["param_groups"]
    assert [(group["lr"], group["weight_decay"], len(group["params"])) for group in groups] == [
        (3e-3, 0.05, 4),
        (1e-4, 0.05, 2),
    ]
    assert not torch.equal(model.block.layer.weight, block_before["layer.weight"])


def test_step_4_holdout_seed_passes_each_split_to_training_and_scoring(monkeypatch, tmp_path):
    """What one holdout seed hands to training, projecting and the logistic regression, recorded
    from stand-ins and written out by hand: the seed's model, the train split's sources, labels and
    SupCon classes (one per attack with --attack-classes), the dev split's, the seed's checkpoint
    path, the run's identity and log, the batch size, the baseline's seed for the fit, and the
    learned layer mix in the training record."""
    from deepfake_pipeline.baseline import logreg
    from deepfake_pipeline.contrastive import experiment

    rng = np.random.default_rng(0)
    y = {sid: np.array([0, 1, 1, 0, 1, 1] * 5) for sid in ("toy_train", "toy_dev", "toy_eval")}
    attacks = {
        sid: np.where(labels == 0, "-", np.where(np.arange(30) % 3 == 1, "A07", "A02")) for sid, labels in y.items()
    }
    sources = {sid: SimpleNamespace(x=rng.normal(size=(30, 4)) + labels[:, None]) for sid, labels in y.items()}
    splits = {sid: SimpleNamespace(labels=y[sid], attacks=attacks[sid]) for sid in y}
    mix = SimpleNamespace(weights=lambda: torch.tensor([0.25, 0.75]))
    calls = {"build": [], "standardise": [], "train": [], "project": [], "identity": [], "fit": []}
    model = SimpleNamespace(
        head=SimpleNamespace(mix=mix),
        fit_standardiser=lambda source, batch_size: calls["standardise"].append((source, batch_size)),
    )
    outcome = SimpleNamespace(
        best_epoch=2, best_dev_auc=0.9, epochs_run=4, steps=8, stopped_early=True, resumed_at_epoch=0, history=[]
    )
    monkeypatch.setattr(experiment, "train", lambda *args, **kwargs: calls["train"].append((args, kwargs)) or outcome)
    monkeypatch.setattr(
        experiment,
        "project",
        lambda m, source, batch_size: calls["project"].append((m, source, batch_size)) or source.x,
    )
    monkeypatch.setattr(experiment, "_identity", lambda *args: calls["identity"].append(args) or {"run": "id"})
    fit = logreg.fit
    monkeypatch.setattr(logreg, "fit", lambda x, labels, C, seed: calls["fit"].append(seed) or fit(x, labels, C, seed))
    factory = SimpleNamespace(build=lambda seed: calls["build"].append(seed) or model)
    baseline = SimpleNamespace(
        train="toy_train", dev="toy_dev", tests=["toy_eval"], C_grid=(0.1, 1.0), seed=5, select_by="auc"
    )
    settings = experiment.ContrastiveSettings(
        representation=None, train=TrainConfig(batch_size=7), jobs=1, attack_classes=True
    )

    def log(line):
        pass

    result = experiment._run_holdout_seed(3, baseline, settings, splits, sources, factory, tmp_path / "run", log)
    assert calls["build"] == [3]
    assert calls["standardise"] == [(sources["toy_train"], 7)]
    assert calls["identity"] == [(baseline, settings, splits, None)]
    ((args, kwargs),) = calls["train"]
    assert args[0] is model and args[1] is sources["toy_train"] and args[4] is sources["toy_dev"]
    expected_classes = np.array([0 if a == "-" else {"A02": 1, "A07": 2}[a] for a in attacks["toy_train"]])
    np.testing.assert_array_equal(args[2], expected_classes)
    np.testing.assert_array_equal(args[3], y["toy_train"])
    np.testing.assert_array_equal(args[5], y["toy_dev"])
    assert args[6] == TrainConfig(batch_size=7, seed=3)
    assert args[7] == Path(tmp_path / "run" / "seed_3" / "checkpoint.pt") and args[8] == {"run": "id"}
    assert kwargs == {"log": log, "name": "train_contrastive seed 3"}
    assert sorted(
        (source_id, m is model, batch)
        for m, source, batch in calls["project"]
        for source_id in [next(k for k, v in sources.items() if v is source)]
    ) == [("toy_dev", True, 7), ("toy_eval", True, 7), ("toy_train", True, 7)]
    assert calls["fit"][-1] == 5
    assert result.training[0]["layer_weights"] == [0.25, 0.75]
