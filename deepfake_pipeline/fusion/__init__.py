"""Score fusion of finished runs scored on the same trials (fuse_runs.py): a prior-weighted
logistic regression fitted on their dev scores, reported like a step-3 run."""
