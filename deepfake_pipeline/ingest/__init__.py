"""Step 1: corpora on disk -> clip lists -> decoded 16 kHz mono waveform store and manifest, resumably."""
