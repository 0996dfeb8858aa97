"""Step 1: corpora on disk -> clip lists -> decoded 16 kHz mono waveform store and manifest, resumably."""

# Clips shorter than this many seconds are rejected (defined here, where importing costs nothing,
# so that `preprocess_datasets.py --help` answers at once).
DEFAULT_MIN_DURATION_S = 0.25
# Clips longer than this many seconds are rejected (`too_long`), unless --max-duration raises it:
# step 2 embeds a clip in one forward pass, whose memory grows with the clip (docs/reference.md,
# "Long clips"), so a 15-minute recording that step 1 let through needed more memory than the
# machine had in step 2. The corpora the pipeline reads are well below it (ASVspoof 2019/2021/5 and
# FakeAVCeleb clips last seconds, In-the-Wild's longest tens of seconds), and step 1's summary
# counts the clips it rejects as too long, so no corpus is thinned unseen.
DEFAULT_MAX_DURATION_S = 60.0
