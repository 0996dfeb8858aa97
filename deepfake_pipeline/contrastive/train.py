"""The training loop: SupCon on shuffled batches, model selection and early stopping on the dev
split's ROC-AUC, a checkpoint after every epoch, and resumption from it.

Dev scoring during training: each dev clip's score is its cosine similarity to the bona fide
centroid minus that to the spoof centroid, centroids taken over the epoch's training projections
(accumulated during the epoch, so no extra pass over the training split), dev projected by the
model itself in the training dtype (`project_for_selection`). Only train and dev data reach this
module; the test split is scored once, after training, by the caller, in float64 (`project`)."""

import copy
import json
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.nn import functional as F

from deepfake_pipeline.contrastive.checkpoint import load_checkpoint, save_checkpoint
from deepfake_pipeline.contrastive.loss import supcon_loss
from deepfake_pipeline.contrastive.model import ContrastiveModel
from deepfake_pipeline.evaluation import metrics


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    patience: int = 5
    batch_size: int = 256
    lr: float = 1e-3
    block_lr: float = 2e-5
    weight_decay: float = 1e-4
    temperature: float = 0.1
    seed: int = 0


@dataclass
class TrainOutcome:
    best_epoch: int
    best_dev_auc: float
    epochs_run: int
    steps: int
    stopped_early: bool
    history: list
    resumed_at_epoch: int


def batches(n: int, batch_size: int, generator: torch.Generator) -> list:
    order = torch.randperm(n, generator=generator).numpy()
    return [order[start : start + batch_size] for start in range(0, n, batch_size)]


@torch.no_grad()
def project(model: ContrastiveModel, source, batch_size: int) -> np.ndarray:
    """Projections of every clip of `source`, in order, float64, by a float64 copy of the model
    in eval mode (`model` itself is left as it is).

    Why float64: these projections are what step 4's logistic regression fits on and scores, and
    in float32 a clip's projection changed with the clips batched beside it (the matrix kernels
    sum in another order for another number of rows, and padding in an unfrozen block changes the
    frame count: ~1e-7), so its score did too. In float64 what is left is ~1e-16: a clip projects
    the same alone or in any batch within 1e-12 (the tolerance of baseline/logreg.py), at about
    1.2-2x the time of a float32 pass for the head alone (measured on 25,000 clips)."""
    scorer = copy.deepcopy(model).double().eval()
    out = [
        scorer(source.batch(np.arange(start, min(start + batch_size, len(source))))).cpu()
        for start in range(0, len(source), batch_size)
    ]
    return torch.cat(out).numpy()


@torch.no_grad()
def project_for_selection(model: ContrastiveModel, source, batch_size: int) -> np.ndarray:
    """Projections of every clip of `source`, in order, by `model` itself in eval mode and in
    its own dtype (its mode is restored after), as float64 arrays.

    Used each epoch to choose the epoch, where a clip's projection moving by ~1e-7 with its batch
    does not matter: dev ROC-AUC is a rank statistic, moved only by pairs of clips whose scores
    lie that close. `project`'s float64 deep copy of the model cost a quarter of each epoch on
    the head alone (issue 18); the kept epoch's final projections still go through `project`."""
    was_training = model.training
    model.eval()
    try:
        out = [
            model(source.batch(np.arange(start, min(start + batch_size, len(source))))).cpu()
            for start in range(0, len(source), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(out).numpy().astype(np.float64)


def centroid_scores(projections: np.ndarray, bonafide_centroid, spoof_centroid) -> np.ndarray:
    """Higher = more bona fide: cos(z, bona fide centroid) - cos(z, spoof centroid)."""
    centroids = F.normalize(torch.as_tensor(np.stack([bonafide_centroid, spoof_centroid])), dim=1).numpy()
    similarity = projections @ centroids.T
    return similarity[:, 0] - similarity[:, 1]


def _rng_state(generator: torch.Generator) -> dict:
    return {"torch": torch.get_rng_state(), "shuffle": generator.get_state()}


def _restore_rng(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["shuffle"])


def train(
    model: ContrastiveModel,
    train_source,
    train_classes,
    train_labels,
    dev_source,
    dev_labels,
    config: TrainConfig,
    checkpoint_path,
    run_config: dict,
    log=print,
    name: str | None = None,
    checkpoint_every_s: float = 600.0,
) -> TrainOutcome:
    """Train `model` in place and leave it holding the weights of the best dev epoch.

    train_classes: SupCon classes (bona fide / spoof, or attack ids); train_labels and
    dev_labels: 0 = bona fide, 1 = spoof. `run_config` (JSON-like) identifies the experiment: a
    checkpoint written under another one is refused rather than resumed. The caller seeds torch
    before building `model` so its initial weights are reproducible. `name` prefixes the log lines.

    A checkpoint is written after every epoch, and inside an epoch every `checkpoint_every_s`
    seconds (a fine-tuning epoch can take hours): it then records the shuffling state at the
    epoch's start and the batches done, so a resumed run redraws the same order, skips those
    batches and ends exactly where an uninterrupted run ends."""
    name = name or f"contrastive seed {config.seed}"
    metrics.check_labels(dev_labels)
    metrics.check_labels(train_labels)
    classes = torch.as_tensor(np.asarray(train_classes), dtype=torch.long)
    is_bonafide = np.asarray(train_labels) == 0
    # through JSON, so the comparison with a reloaded checkpoint sees lists, not tuples
    identity = json.loads(json.dumps({"run": run_config, "train": asdict(config)}))
    optimizer = torch.optim.AdamW(model.parameter_groups(config.lr, config.block_lr), weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    state: dict = {
        "epoch": 0,
        "step": 0,
        "best_epoch": 0,
        "best_dev_auc": -np.inf,
        "best_model": None,
        "bad_epochs": 0,
        "finished": False,
        "history": [],
        "partial": None,
    }
    checkpoint = load_checkpoint(checkpoint_path, identity)
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        _restore_rng(checkpoint["rng"], generator)
        state = checkpoint["state"]
        within = (
            f", {state['partial']['batches_done']} batches into epoch {state['epoch'] + 1}" if state["partial"] else ""
        )
        log(f"[{name}] resuming from {checkpoint_path} after epoch {state['epoch']}{within} (step {state['step']})")

    def save():
        save_checkpoint(
            checkpoint_path,
            {
                "config": identity,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": _rng_state(generator),
                "state": state,
            },
        )

    resumed_at = state["epoch"]
    started = last_saved = time.monotonic()
    while not state["finished"] and state["epoch"] < config.epochs:
        epoch = state["epoch"] + 1
        partial, state["partial"] = state["partial"], None
        if partial is not None:
            generator.set_state(partial["epoch_rng"])
        epoch_rng = generator.get_state()
        order = batches(len(train_source), config.batch_size, generator)
        done = partial["batches_done"] if partial else 0
        losses = list(partial["losses"]) if partial else []
        sums = partial["sums"] if partial else torch.zeros(2, 0)
        counts = partial["counts"] if partial else torch.zeros(2)
        model.train()
        for indices in order[done:]:
            projections = model(train_source.batch(indices))
            loss = supcon_loss(projections, classes[indices].to(projections.device), config.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            state["step"] += 1
            done += 1
            losses.append(float(loss.detach()))
            # class-membership matrix product rather than index_add_, whose deterministic CPU
            # kernel is orders of magnitude slower
            membership = torch.as_tensor(np.stack([is_bonafide[indices], ~is_bonafide[indices]]), dtype=torch.float32)
            batch_sums = membership @ projections.detach().cpu().float()
            sums = batch_sums if sums.numel() == 0 else sums + batch_sums
            counts = counts + membership.sum(dim=1)
            if done < len(order) and time.monotonic() - last_saved >= checkpoint_every_s:
                state["partial"] = {
                    "epoch_rng": epoch_rng,
                    "batches_done": done,
                    "losses": losses,
                    "sums": sums,
                    "counts": counts,
                }
                save()
                state["partial"] = None
                last_saved = time.monotonic()
        dev_scores = centroid_scores(
            project_for_selection(model, dev_source, config.batch_size),
            (sums[0] / counts[0]).numpy(),
            (sums[1] / counts[1]).numpy(),
        )
        dev_auc = metrics.roc_auc(dev_labels, dev_scores)
        if dev_auc > state["best_dev_auc"]:
            state.update(
                best_epoch=epoch,
                best_dev_auc=dev_auc,
                bad_epochs=0,
                best_model={k: v.detach().clone() for k, v in model.state_dict().items()},
            )
        else:
            state["bad_epochs"] += 1
        train_loss = float(np.mean(losses))
        state["history"].append({"epoch": epoch, "train_loss": train_loss, "dev_auc": dev_auc, "step": state["step"]})
        state["epoch"] = epoch
        state["finished"] = state["bad_epochs"] >= config.patience or epoch >= config.epochs
        save()
        last_saved = time.monotonic()
        log(
            f"[{name}] epoch {epoch}/{config.epochs} train-loss {train_loss:.4f} "
            f"dev-AUC {dev_auc:.4f} (best {state['best_dev_auc']:.4f} @ epoch {state['best_epoch']}) "
            f"elapsed {time.monotonic() - started:.1f}s"
        )
    model.load_state_dict(state["best_model"])
    return TrainOutcome(
        best_epoch=state["best_epoch"],
        best_dev_auc=state["best_dev_auc"],
        epochs_run=state["epoch"],
        steps=state["step"],
        stopped_early=state["epoch"] < config.epochs,
        history=state["history"],
        resumed_at_epoch=resumed_at,
    )
