"""The registry, the spec strings and the per-clip generator: names resolve or are refused with
the list of known ones, every recipe keeps the interface (float32, same length, JSON params),
and a clip's draw depends on its recipe, clip, copy and seed alone."""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_factory import voiced

from deepfake_pipeline.augment.base import AugmentError
from deepfake_pipeline.augment.recipes import RECIPES, recipe, recipe_from_spec, seeded_rng

SR = 16000
REPO = Path(__file__).resolve().parents[2]


def test_the_generator_is_a_sha256_of_recipe_clip_copy_and_seed():
    # the documented derivation, written out: changing it changes every derived split
    digest = hashlib.sha256(b"rawboost5\x1fLA_T_1000137\x1f0\x1f0").digest()
    words = np.frombuffer(digest, dtype="<u4").tolist()
    expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence(words))).integers(2**62, size=2)
    assert seeded_rng("rawboost5", "LA_T_1000137", 0, 0).integers(2**62, size=2).tolist() == expected.tolist()
    assert expected.tolist() == [2522751669643183273, 2362134101407456664]


@pytest.mark.slow  # two interpreters start
def test_the_generator_does_not_depend_on_the_process():
    code = "from deepfake_pipeline.augment.base import seeded_rng; print(seeded_rng('g722', 'u', 1, 7).random())"
    draws = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
        draws.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout)
    assert len(draws) == 1 and draws.pop().strip() == str(seeded_rng("g722", "u", 1, 7).random())


@pytest.mark.parametrize("change", [("rawboost3", "u", 0, 0), ("rawboost5", "v", 0, 0), ("rawboost5", "u", 1, 0)])
def test_each_part_of_the_key_changes_the_draw(change):
    base = seeded_rng("rawboost5", "u", 0, 0).random()
    assert seeded_rng(*change).random() != base
    assert seeded_rng("rawboost5", "u", 0, 1).random() != base


def test_the_named_recipes():
    expected = {f"rawboost{i}" for i in range(1, 9)} | {"mp3-32k", "aac-64k", "opus-16k", "vorbis-32k"}
    expected |= {"mulaw-8k", "alaw-8k", "g722", "speed"}
    assert expected <= set(RECIPES)
    assert all(r.name == name and r.description for name, r in RECIPES.items())


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="rawboost5.*mulaw-8k"):
        recipe("rawboost9")
    with pytest.raises(ValueError, match="rawboost5"):
        recipe_from_spec("reverb:/tmp")


@pytest.mark.parametrize("name", [n for n in RECIPES if n != "vorbis-32k"])
def test_every_recipe_keeps_the_interface(name):
    x = voiced(0.4, SR, seed=6)
    rng_seed = seeded_rng(name, "clip", 0, 0)
    y, params = RECIPES[name].apply(x, SR, rng_seed)
    again, _ = RECIPES[name].apply(x, SR, seeded_rng(name, "clip", 0, 0))
    assert y.dtype == np.float32 and y.ndim == 1 and np.isfinite(y).all()
    assert len(y) == len(x) or name == "speed"
    assert not np.array_equal(y[: len(x)], x[: len(y)])
    assert y.tobytes() == again.tobytes()
    assert json.loads(json.dumps(params)) == params


def test_a_recipe_refuses_what_it_cannot_take():
    with pytest.raises(AugmentError, match="mono"):
        RECIPES["rawboost3"].apply(np.zeros((100, 2), np.float32), SR, np.random.default_rng(0))
    with pytest.raises(AugmentError, match="float32"):
        RECIPES["rawboost3"].apply(np.zeros(100), SR, np.random.default_rng(0))


def test_specs_parse_their_settings(tmp_path):
    folder = tmp_path / "a:b"  # a folder may contain ':'
    folder.mkdir()
    sf.write(folder / "n.wav", 0.1 * np.random.default_rng(0).standard_normal(SR), SR)
    noise = recipe_from_spec(f"noise:{folder}:snr=3-7")
    assert noise.name == "noise-snr3to7" and str(folder) in noise.description
    assert recipe_from_spec(f"noise:{folder}").name == "noise-snr5to20"
    assert recipe_from_spec(f"noise:{folder}:snr=-5-0").name == "noise-snr-5to0"
    assert recipe_from_spec(f"rir:{folder}").name == "rir"
    assert recipe_from_spec("speed").name == "speed"
    assert recipe_from_spec("speed:factor=0.95").name == "speed0.95"
    assert recipe_from_spec("speed:factor=0.8-1.2").name == "speed0.8to1.2"
    _, params = recipe_from_spec("mp3-48k").apply(voiced(0.3, SR), SR, np.random.default_rng(0))
    assert params["bit_rate"] == 48000


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("noise", "needs a folder"),
        ("noise:/no/such/folder", "not a folder"),
        ("noise:{folder}:snr=20-5", "backwards"),
        ("noise:{folder}:snr=loud", "LO-HI"),
        ("noise:{folder}:gain=3", "unknown setting gain="),
        ("rir:{folder}:snr=3", "unknown setting snr="),
        ("speed:{folder}", "no folder"),
    ],
)
def test_malformed_specs_are_refused_with_the_reason(tmp_path, spec, reason):
    sf.write(tmp_path / "n.wav", np.ones(100) * 0.1, SR)
    with pytest.raises(ValueError, match=reason):
        recipe_from_spec(spec.format(folder=tmp_path))


def test_names_are_safe_in_folder_names_and_clip_ids(tmp_path):
    sf.write(tmp_path / "n.wav", 0.1 * np.random.default_rng(0).standard_normal(SR), SR)
    specs = [*RECIPES, f"noise:{tmp_path}:snr=-5-0", f"rir:{tmp_path}", "speed:factor=0.95-1.05", "opus-24k"]
    for spec in specs:
        assert re.fullmatch(r"[a-z0-9.-]+", recipe_from_spec(spec).name), spec
