"""Trivial recipes for the derived-split tests, whose effect a test can compute by hand: the
plumbing (seeding, rows, rejects, resume, shards) is tested apart from the signal processing.

Run as a script, it makes a derived split in this process (the resume tests kill it there):
    python tests/augment_fixtures.py INTERIM_DIR SOURCE_SPLIT RECIPE JOBS [SHARD]"""

import sys
from pathlib import Path

import numpy as np

from deepfake_pipeline.augment.recipes import AugmentError, Recipe
from deepfake_pipeline.common.errors import InputError

# The length of the clip that `flaky` cannot make, as a codec failing on one file would.
FAILING_LENGTH = 12345


def _gain(wave, sample_rate, rng):
    gain = float(rng.uniform(0.25, 0.75))
    return (wave * np.float32(gain)).astype(np.float32), {"gain": gain}


def _unchanged(wave, sample_rate, rng):
    return wave, {"nothing": True}


def _nan(wave, sample_rate, rng):
    return np.full_like(wave, np.nan), {}


GAIN = Recipe("gain", _gain, "multiply by a gain drawn from 0.25-0.75")
UNCHANGED = Recipe("same", _unchanged, "returns its input (a codec step that failed silently)")
NAN = Recipe("nan", _nan, "returns NaN")


def flaky_apply(wave, sample_rate, rng):
    if len(wave) == FAILING_LENGTH:
        raise AugmentError("encoder refused the clip")
    return _gain(wave, sample_rate, rng)


FLAKY = Recipe("flaky", flaky_apply, "gain, but AugmentError on the marked clip")
BY_NAME = {r.name: r for r in (GAIN, UNCHANGED, NAN, FLAKY)}


def recipe_from_spec(spec: str) -> Recipe:
    """Stands in for recipes.recipe_from_spec in the command-line tests."""
    if spec not in BY_NAME:
        raise InputError(f"unknown recipe {spec!r}; known: {', '.join(BY_NAME)}")
    return BY_NAME[spec]


if __name__ == "__main__":
    from deepfake_pipeline.augment.derive import DeriveRequest, derive_split
    from deepfake_pipeline.features.cluster_job import ClusterJob

    interim, source, name, jobs = sys.argv[1:5]
    shard = ClusterJob.parse(sys.argv[5]) if len(sys.argv) > 5 else None
    derive_split(DeriveRequest(source, name, 1, 0), BY_NAME[name], Path(interim), jobs=int(jobs), cluster_job=shard)
