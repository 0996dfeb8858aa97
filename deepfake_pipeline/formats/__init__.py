"""The files between the steps: each artefact that one step writes and another step (or a person)
reads has one module here that writes and reads it. Four files are kept by the one module that
alone writes and reads them, beside the code that needs them:

- step 1's resume plan ``data/interim/<split>/plan.json``: ``ingest/shards.py``;
- the silence-only shortcut's cache ``data/processed/<split>/silence_top_db<d>.csv`` + ``.json``
  (steps 3 and 4): ``baseline/shortcut.py``;
- step 4's frame cache ``data/processed/<split>/frames/``: ``contrastive/frame_cache.py``;
- step 4's checkpoints ``results/<run>/seed_<s>/checkpoint.pt`` (``fold_<f>.pt`` under cross-validation):
  ``contrastive/checkpoint.py``."""
