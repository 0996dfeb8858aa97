"""Supervised contrastive loss (SupCon, Khosla et al. 2020, eq. 2, the "L_out" form).

We have one view per clip (no augmentation of cached embeddings), so the positives of an anchor
are the other clips of its class in the batch. An anchor whose class has no other member in the
batch has an undefined term (an empty sum divided by |P(i)| = 0); it is left out of the mean
rather than counted as zero, so that a rare class does not dilute the loss. It still serves as a
negative for every other anchor. A batch without any positive pair gives a zero loss that keeps
the graph connected."""

import torch


def supcon_loss(projections: torch.Tensor, classes: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """projections: (batch, dim), L2-normalised; classes: (batch,) integer class ids.

    loss = mean over anchors i with P(i) non-empty of
           -1/|P(i)| * sum_{p in P(i)} log( exp(z_i.z_p / t) / sum_{a != i} exp(z_i.z_a / t) )
    """
    if projections.ndim != 2 or classes.ndim != 1 or len(classes) != len(projections):
        raise ValueError("supcon_loss wants projections (batch, dim) and classes (batch,)")
    batch = len(projections)
    logits = projections @ projections.T / temperature
    self_mask = torch.eye(batch, dtype=torch.bool, device=projections.device)
    # the anchor itself is neither a positive nor in the denominator
    log_prob = logits - torch.logsumexp(logits.masked_fill(self_mask, float("-inf")), dim=1, keepdim=True)
    positive = (classes[:, None] == classes[None, :]) & ~self_mask
    positives_per_anchor = positive.sum(dim=1)
    has_positive = positives_per_anchor > 0
    if not has_positive.any():
        return projections.sum() * 0.0
    summed = (log_prob * positive).sum(dim=1)[has_positive]
    return -(summed / positives_per_anchor[has_positive]).mean()
