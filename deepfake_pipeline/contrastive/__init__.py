"""Step 4: a supervised-contrastive projection head on self-supervised embeddings (frozen, or with a
contiguous block of transformer layers fine-tuned from a frame-level cache), scored with the
step-3 logistic regression and compared with a step-3 run."""
