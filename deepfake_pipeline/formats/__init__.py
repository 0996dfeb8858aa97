"""The files between the steps: each on-disk artefact has one module here that writes and reads it."""
