"""Step 1: corpora on disk -> clip lists -> decoded 16 kHz mono waveform store and manifest, resumably."""

# Clips shorter than this many seconds are rejected (defined here, where importing costs nothing,
# so that `preprocess_datasets.py --help` answers at once).
DEFAULT_MIN_DURATION_S = 0.25
