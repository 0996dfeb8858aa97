"""Step 2: spectral statistics and pooled hidden states of a self-supervised speech model, resumably."""
