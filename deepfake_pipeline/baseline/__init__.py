"""Step 3: logistic regression on the features, its protocols, the shortcut check, scoring new clips."""

# Defined here, where importing costs nothing, so that `eval_logreg.py --help` answers at once.
DEFAULT_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
SELECTION_CRITERIA = ("auc", "eer")
# The shortcut check's silence threshold (dB below the clip's loudest frame): see shortcut.py.
DEFAULT_TOP_DB = 40.0
# `--dev cv`: no dev split; C (and layer) chosen by speaker-grouped CV on the training split.
# Split ids are <corpus>_<split>, so this word never names a split.
DEV_BY_CV = "cv"
