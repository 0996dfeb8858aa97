"""SupCon against the paper's formula, and the training loop: learns a planted signal, is
deterministic, and a killed run resumes to the very same result."""

import math

import numpy as np
import pytest
import torch
from contrastive_fixtures import one_torch_thread, planted_embeddings  # noqa: F401
from torch.nn import functional as F

from deepfake_pipeline.contrastive.checkpoint import CheckpointMismatch
from deepfake_pipeline.contrastive.head import ProjectionHead
from deepfake_pipeline.contrastive.loss import supcon_loss
from deepfake_pipeline.contrastive.model import ContrastiveModel, EmbeddingSource
from deepfake_pipeline.contrastive.train import TrainConfig, project, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def supcon_by_the_formula(z, classes, temperature):
    """Khosla et al. 2020, eq. 2, written as loops; anchors without a positive are skipped."""
    z = z.tolist()
    n = len(z)
    dot = lambda a, b: sum(x * y for x, y in zip(z[a], z[b])) / temperature
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


def _train(tmp_path, name, epochs=6, patience=50, seed=0, layer_mix=False, run_config=None, log=None,
           wrap_train_source=None, checkpoint_every_s=600.0):
    model, train_source, dev_source, y_train, y_dev = _setup(seed, layer_mix)
    if wrap_train_source is not None:
        train_source = wrap_train_source(train_source)
    config = TrainConfig(epochs=epochs, patience=patience, batch_size=32, lr=3e-3, seed=seed)
    outcome = train(model, train_source, y_train, y_train, dev_source, y_dev, config,
                    tmp_path / name / "checkpoint.pt", run_config or {"test": 1}, log=log or (lambda line: None),
                    checkpoint_every_s=checkpoint_every_s)
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
        _train(tmp_path, "killed", epochs=4, checkpoint_every_s=0.0,
               wrap_train_source=lambda source: DiesAtBatch(source, 5 + 5 + 3))
    payload = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)
    assert payload["state"]["epoch"] == 2 and payload["state"]["partial"]["batches_done"] == 2
    lines = []
    _, resumed, projections_resumed, _ = _train(tmp_path, "killed", epochs=4, log=lines.append,
                                                checkpoint_every_s=0.0)
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
    features = train_source.features.numpy() * 300.0 + 1000.0   # large values round the most
    source = EmbeddingSource(features)
    alone = np.concatenate([project(model, EmbeddingSource(features[i:i + 1]), 1) for i in range(len(features))])
    for batch_size in (2, 3, 17, 64, len(features)):
        np.testing.assert_allclose(project(model, source, batch_size), alone, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(alone, axis=1), 1.0, atol=1e-12)


# ------------------------------------------------------------ C chosen on dev, best epoch kept

def _independent_logreg_scores(x_fit, y_fit, x_score, C):
    """Step 3's model written out with scikit-learn directly: log-odds of bona fide (label 0)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000)).fit(x_fit, y_fit)
    return -model.decision_function(x_score)


def test_step_4_chooses_C_on_the_dev_projections_not_the_test_ones(monkeypatch):
    """The logistic regression on the projections takes C from the dev split: on projections
    where dev and test prefer different C, the run must follow dev. Training and projecting are
    replaced by given projections, so the choice alone is under test."""
    from types import SimpleNamespace

    from logreg_fixtures import prefers_other_C_on_test
    from sklearn.metrics import roc_auc_score

    from deepfake_pipeline.contrastive import experiment
    grid = (1e-4, 100.0)
    data = {"toy_train": prefers_other_C_on_test(400, 0, test_like=False),
            "toy_dev": prefers_other_C_on_test(400, 1, test_like=False),
            "toy_eval": prefers_other_C_on_test(400, 2, test_like=True)}
    x_train, y_train = data["toy_train"]

    def best_C(split):
        x, y = data[split]
        aucs = [roc_auc_score(y == 0, _independent_logreg_scores(x_train, y_train, x, C)) for C in grid]
        return grid[int(np.argmax(aucs))]

    assert best_C("toy_dev") != best_C("toy_eval"), "the construction must make dev and test disagree"

    outcome = SimpleNamespace(best_epoch=1, best_dev_auc=1.0, epochs_run=1, steps=1, stopped_early=False,
                              resumed_at_epoch=0, history=[])
    monkeypatch.setattr(experiment, "train", lambda *args, **kwargs: outcome)
    monkeypatch.setattr(experiment, "project", lambda model, source, batch_size: source.x)
    monkeypatch.setattr(experiment, "_identity", lambda *args: {})
    model = SimpleNamespace(fit_standardiser=lambda source, batch_size: None, head=SimpleNamespace(mix=None))
    baseline = SimpleNamespace(train="toy_train", dev="toy_dev", tests=["toy_eval"], C_grid=grid, seed=0,
                               select_by="auc")
    settings = experiment.ContrastiveSettings(representation=None, train=TrainConfig(), jobs=1)
    splits = {sid: SimpleNamespace(labels=y, attacks=np.where(y == 0, "-", "A01")) for sid, (_, y) in data.items()}
    sources = {sid: SimpleNamespace(x=x) for sid, (x, _) in data.items()}
    result = experiment._run_holdout_seed(0, baseline, settings, splits, sources,
                                          SimpleNamespace(build=lambda seed: model), "unused", log=lambda line: None)
    assert result.training[0]["logreg_C"] == best_C("toy_dev")
    expected = _independent_logreg_scores(x_train, y_train, data["toy_eval"][0], best_C("toy_dev"))
    np.testing.assert_allclose(result.test_scores["toy_eval"], expected, rtol=1e-6, atol=1e-6)


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
    outcome = train(model, train_source, y_train, y_train, dev_source, y_dev, config, tmp_path / "checkpoint.pt",
                    {"test": "best epoch"}, log=log)
    aucs = [row["dev_auc"] for row in outcome.history]
    best, last = 1 + aucs.index(max(aucs)), len(aucs)
    assert sorted(snapshots) == list(range(1, last + 1))
    assert best < last, "the run must stop after worse epochs, so that best and last differ"
    weights = model.state_dict()
    assert all(torch.equal(weights[k], snapshots[best][k]) for k in weights)
    assert not all(torch.equal(weights[k], snapshots[last][k]) for k in weights)
