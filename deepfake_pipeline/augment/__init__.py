"""Augmentation recipes (issue 20): RawBoost, codecs, additive noise, room impulse responses and
speed perturbation, each a deterministic function of a clip and a per-clip seeded generator.
The registry and the spec parser are in `recipes`; the signal processing in one module per
family. Imports only numpy, scipy, soxr, soundfile and PyAV, and `common`/`formats` below it."""
