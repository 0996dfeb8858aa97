"""Which model made a set of embeddings (issue 17): two checkpoints in folders of the same name,
weights replaced inside one folder, and a file planted under another model's name are never taken
for one another. Digests are recomputed here with hashlib, not with the code's own helpers."""

import hashlib
import json
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from audio_factory import write_asvspoof_layout, write_clip
from conftest import save_tiny_ssl

from deepfake_pipeline.cli.eval_logreg import main as eval_logreg
from deepfake_pipeline.cli.features import main as features
from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.features.jobs import embeddings_reuse_problem
from deepfake_pipeline.formats import versions
from deepfake_pipeline.formats.feature_files import FeatureError, read_embeddings_meta
from deepfake_pipeline.formats.model_identity import ModelIdentity, difference, identify

REPO_ROOT = Path(__file__).resolve().parents[2]
SPLITS = ("asvspoof2019_train", "asvspoof2019_dev", "asvspoof2019_eval")


def folder_sha256_by_hand(folder: Path) -> str:
    """The digest the identity promises: each model file's name and SHA-256, in name order."""
    names = sorted(
        p.name
        for p in folder.iterdir()
        if p.name in ("config.json", "preprocessor_config.json") or p.suffix == ".safetensors"
    )
    lines = "".join(f"{name}\0{hashlib.sha256((folder / name).read_bytes()).hexdigest()}\n" for name in names)
    return hashlib.sha256(lines.encode()).hexdigest()


@pytest.fixture(scope="module")
def interim(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    write_asvspoof_layout(root, splits=("train", "dev", "eval"), per_split=12)
    out = tmp_path_factory.mktemp("interim")
    assert preprocess(["--corpus", "asvspoof2019", "--root", str(root), "--interim-dir", str(out), "--jobs", "1"]) == 0
    return out


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    """/exp/a/ckpt and /exp/b/ckpt: same folder name, different weights (as training frameworks name them)."""
    root = tmp_path_factory.mktemp("exp")
    return (
        save_tiny_ssl(root / "a" / "ckpt", "wav2vec2-base", seed=0),
        save_tiny_ssl(root / "b" / "ckpt", "wav2vec2-base", seed=1),
    )


def _features(interim, processed, model, *splits):
    return features(
        [
            "--splits",
            *(splits or SPLITS),
            "--what",
            "embeddings",
            "--model",
            str(model),
            "--interim-dir",
            str(interim),
            "--processed-dir",
            str(processed),
            "--jobs",
            "1",
        ]
    )


def _embeddings(processed, split=SPLITS[1]) -> dict:
    """tag -> (array, metadata) of every embeddings file of `split`."""
    folder = Path(processed) / split / "embeddings"
    return {p.stem: (np.load(p.with_suffix(".npy")), json.loads(p.read_text())) for p in folder.glob("*.json")}


def test_two_checkpoints_in_folders_of_the_same_name_get_their_own_embeddings(
    interim, two_checkpoints, tmp_path, capsys
):
    a, b = two_checkpoints
    assert _features(interim, tmp_path, a, SPLITS[1]) == 0
    assert _features(interim, tmp_path, b, SPLITS[1]) == 0
    printed = capsys.readouterr()
    assert "already complete" not in printed.err
    found = _embeddings(tmp_path)
    digest_a, digest_b = folder_sha256_by_hand(a), folder_sha256_by_hand(b)
    closing = [line for line in printed.out.splitlines() if line.startswith("FEATURES")]
    assert closing == [
        f"FEATURES split={SPLITS[1]} clips=12 what=embeddings model={a} "
        f"embeddings=local-ckpt-{digest_a[:12]} shard=1/1",
        f"FEATURES split={SPLITS[1]} clips=12 what=embeddings model={b} "
        f"embeddings=local-ckpt-{digest_b[:12]} shard=1/1",
    ]
    assert digest_a != digest_b
    assert sorted(found) == sorted([f"local-ckpt-{digest_a[:12]}", f"local-ckpt-{digest_b[:12]}"])
    array_a, meta_a = found[f"local-ckpt-{digest_a[:12]}"]
    array_b, meta_b = found[f"local-ckpt-{digest_b[:12]}"]
    assert not np.array_equal(array_a, array_b)
    assert meta_a["model_identity"] == {
        "source": "local",
        "name": "ckpt",
        "revision": None,
        "weights_sha256": digest_a,
        "seed": None,
        "path": str(a.resolve()),
    }
    assert meta_b["model_identity"]["weights_sha256"] == digest_b


def test_the_same_checkpoint_in_two_folders_is_one_model(two_checkpoints, tmp_path):
    a, _ = two_checkpoints
    copy = shutil.copytree(a, tmp_path / "elsewhere" / "renamed")
    (copy / "trainer_state.json").write_text("{}")  # not a model file: it changes nothing
    assert identify(str(copy)).weights_sha256 == identify(str(a)).weights_sha256 == folder_sha256_by_hand(a)
    assert difference(identify(str(a)), identify(str(copy))) is None


@pytest.mark.slow
def test_weights_replaced_inside_one_folder_are_recomputed_and_step_3_reads_the_new_ones(
    interim, two_checkpoints, tmp_path, capsys
):
    a, b = two_checkpoints
    folder = shutil.copytree(a, tmp_path / "exp" / "ckpt")
    processed = tmp_path / "processed"
    assert _features(interim, processed, folder) == 0
    for name in ("model.safetensors", "config.json"):
        shutil.copy(b / name, folder / name)  # training wrote a new checkpoint in place
    capsys.readouterr()
    assert _features(interim, processed, folder) == 0
    assert "already complete" not in capsys.readouterr().err
    new_tag = f"local-ckpt-{folder_sha256_by_hand(b)[:12]}"
    assert new_tag in _embeddings(processed)
    run_args = [
        "--features",
        "embeddings",
        "--model",
        str(folder),
        "--layer",
        "1",
        "--train",
        SPLITS[0],
        "--dev",
        SPLITS[1],
        "--test",
        SPLITS[2],
        "--interim-dir",
        str(interim),
        "--processed-dir",
        str(processed),
        "--results-dir",
        str(tmp_path / "results"),
        "--run",
        "new",
        "--n-boot",
        "0",
    ]
    assert eval_logreg(run_args) == 0
    config = json.loads((tmp_path / "results" / "new" / "config.json").read_text())
    recorded = config["features"][SPLITS[2]]["features"]
    assert recorded["model_tag"] == new_tag
    assert recorded["model_identity"]["weights_sha256"] == folder_sha256_by_hand(b)
    # the folder changes again: the run cannot score new clips with what it holds now
    for name in ("model.safetensors", "config.json"):
        shutil.copy(a / name, folder / name)
    write_clip(tmp_path / "new.wav", seconds=0.5, seed=3)
    capsys.readouterr()
    assert eval_logreg(["--score", str(tmp_path / "new.wav"), "--from-run", str(tmp_path / "results" / "new")]) == 2
    err = capsys.readouterr().err
    assert (
        f"was fitted on embeddings of the model folder {folder.resolve()} (files sha256 "
        f"{folder_sha256_by_hand(b)[:12]}...), but {folder} now holds another model (the model files differ"
    ) in err


def test_step_3_refuses_another_models_embeddings_under_the_name_it_asks_for(
    interim, two_checkpoints, tmp_path, capsys
):
    a, b = two_checkpoints
    assert _features(interim, tmp_path, a) == 0
    run = [
        "--features",
        "embeddings",
        "--model",
        str(b),
        "--layer",
        "1",
        "--train",
        SPLITS[0],
        "--dev",
        SPLITS[1],
        "--test",
        SPLITS[2],
        "--interim-dir",
        str(interim),
        "--processed-dir",
        str(tmp_path),
        "--results-dir",
        str(tmp_path / "results"),
        "--n-boot",
        "0",
    ]
    capsys.readouterr()
    assert eval_logreg(run) == 2
    err = capsys.readouterr().err
    assert f"no embeddings of {b} for {SPLITS[0]}" in err and f"features.py --splits {SPLITS[0]} --model {b}" in err
    # model a's files renamed to model b's tag: the name matches, the recorded identity does not
    tag_a, tag_b = (f"local-ckpt-{folder_sha256_by_hand(f)[:12]}" for f in (a, b))
    for split in SPLITS:
        folder = tmp_path / split / "embeddings"
        for suffix in (".npy", ".json"):
            (folder / f"{tag_a}{suffix}").rename(folder / f"{tag_b}{suffix}")
    assert eval_logreg(run) == 2
    err = capsys.readouterr().err
    assert (
        f"the {tag_b} embeddings of {SPLITS[0]} are not those of --model {b}: the model files differ "
        f"(sha256 {tag_a[-12:]}... then, {tag_b[-12:]}... now)"
    ) in err
    assert "Traceback" not in err and not list((tmp_path / "results").glob("*/config.json"))


def test_embeddings_record_the_software_that_computed_them(interim, tmp_path):
    assert _features(interim, tmp_path, "random:tiny", SPLITS[1]) == 0
    ((_, meta),) = _embeddings(tmp_path).values()
    assert meta["format"] == "embeddings" and meta["format_version"] == 3
    for package in ("torch", "transformers", "numpy"):
        assert meta["software"]["versions"][package] == metadata.version(package)
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert meta["software"]["git"]["commit"] == head.stdout.strip()
    identity = meta["model_identity"]
    assert (identity["source"], identity["name"], identity["seed"]) == ("random", "tiny", 0)
    assert len(identity["weights_sha256"]) == 64


def test_a_random_model_whose_weights_differ_is_recomputed(interim, tmp_path, capsys):
    assert _features(interim, tmp_path, "random:tiny", SPLITS[1]) == 0
    meta_path = tmp_path / SPLITS[1] / "embeddings" / "random-tiny.json"
    meta = json.loads(meta_path.read_text())
    meta["model_identity"]["weights_sha256"] = "0" * 64  # as if another torch had drawn them
    meta_path.write_text(json.dumps(meta))
    capsys.readouterr()
    assert _features(interim, tmp_path, "random:tiny", SPLITS[1]) == 0
    err = capsys.readouterr().err
    assert "stale" in err and "was computed by another model than random:tiny" in err
    assert json.loads(meta_path.read_text())["model_identity"]["weights_sha256"] != "0" * 64


@pytest.mark.parametrize(
    "recorded, says",
    [
        (None, "has no format version"),
        (1, "is format 1 of embeddings (this code reads format 3)"),
        (
            4,
            "is format 4 of embeddings, written by a newer version of the pipeline (this code reads format 3): "
            "update the code, or run",
        ),
    ],
)
def test_embeddings_of_another_format_are_refused_by_readers_and_recomputed_by_step_2(
    interim, tmp_path, capsys, recorded, says
):
    assert _features(interim, tmp_path, "random:tiny", SPLITS[1]) == 0
    meta_path = tmp_path / SPLITS[1] / "embeddings" / "random-tiny.json"
    meta = json.loads(meta_path.read_text())
    meta.pop("format_version")
    if recorded is not None:
        meta["format_version"] = recorded
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(FeatureError) as refused:
        read_embeddings_meta(SPLITS[1], "random-tiny", tmp_path)
    assert says in str(refused.value) and f"features.py --splits {SPLITS[1]} --model random:tiny" in str(refused.value)
    capsys.readouterr()
    assert _features(interim, tmp_path, "random:tiny", SPLITS[1]) == 0
    assert "stale" in capsys.readouterr().err
    assert json.loads(meta_path.read_text())["format_version"] == 3


def test_format_2_embeddings_are_refused_by_readers_and_rewritten_in_place_by_step_2(interim, tmp_path, capsys):
    """Format 2 stored the same numbers clips-major, (clips, layers, dim): step 2 rewrites such
    a file layers-major instead of recomputing it, and the values stay the very same."""
    assert _features(interim, tmp_path, "random:tiny", SPLITS[1]) == 0
    folder = tmp_path / SPLITS[1] / "embeddings"
    layers_major = np.load(folder / "random-tiny.npy")
    clips_major = np.ascontiguousarray(layers_major.transpose(1, 0, 2))
    meta = json.loads((folder / "random-tiny.json").read_text())
    assert layers_major.shape == (len(meta["layers"]), meta["num_clips"], meta["dim"])
    np.save(folder / "random-tiny.npy", clips_major)  # what format 2 wrote
    (folder / "random-tiny.json").write_text(json.dumps({**meta, "format_version": 2}))
    with pytest.raises(FeatureError, match=r"is format 2 of embeddings \(this code reads format 3\)"):
        read_embeddings_meta(SPLITS[1], "random-tiny", tmp_path)
    capsys.readouterr()
    assert _features(interim, tmp_path, "random:tiny", SPLITS[1]) == 0
    err = capsys.readouterr().err
    assert "was format 2, (clips, layers, dim): rewritten layers-major (format 3), nothing recomputed" in err
    assert "stale" not in err and "clips/s" not in err  # no clip was embedded again
    assert not list(folder.glob("*.parts"))
    np.testing.assert_array_equal(np.load(folder / "random-tiny.npy"), layers_major)
    assert json.loads((folder / "random-tiny.json").read_text()) == meta


def test_a_format_2_file_that_cannot_be_rewritten_is_recomputed(interim, tmp_path, capsys):
    assert _features(interim, tmp_path, "random:tiny", SPLITS[1]) == 0
    folder = tmp_path / SPLITS[1] / "embeddings"
    layers_major = np.load(folder / "random-tiny.npy")
    meta = json.loads((folder / "random-tiny.json").read_text())
    np.save(folder / "random-tiny.npy", layers_major.transpose(1, 0, 2)[:-1])  # a clip short
    (folder / "random-tiny.json").write_text(json.dumps({**meta, "format_version": 2}))
    capsys.readouterr()
    assert _features(interim, tmp_path, "random:tiny", SPLITS[1]) == 0
    err = capsys.readouterr().err
    assert "stale" in err and "is format 2 and could not be rewritten" in err and "recomputing it" in err
    np.testing.assert_array_equal(np.load(folder / "random-tiny.npy"), layers_major)
    assert json.loads((folder / "random-tiny.json").read_text())["format_version"] == 3


def _identity(**fields):
    return ModelIdentity(**{"source": "hub", "name": "org/model", **fields})


@pytest.mark.parametrize(
    "recorded, current, same",
    [
        (_identity(revision="a" * 40), _identity(revision="a" * 40), True),
        (_identity(revision="a" * 40), _identity(revision="b" * 40), False),  # the hub moved on
        (_identity(revision="a" * 40), _identity(revision=None), True),  # not in this cache: not held against it
        (_identity(revision="a" * 40), _identity(name="org/other", revision="a" * 40), False),
        (
            _identity(source="local", name="ckpt", weights_sha256="1" * 64, path="/a/ckpt"),
            _identity(source="local", name="ckpt", weights_sha256="2" * 64, path="/a/ckpt"),
            False,
        ),
        (
            _identity(source="local", name="ckpt", weights_sha256="1" * 64, path="/a/ckpt"),
            _identity(source="local", name="copy", weights_sha256="1" * 64, path="/b/copy"),
            True,
        ),
        (_identity(source="random", name="base", seed=0), _identity(source="random", name="base", seed=1), False),
        (_identity(source="random", name="base", seed=0), _identity(source="random", name="tiny", seed=0), False),
        (
            _identity(source="random", name="base", seed=0, weights_sha256="1" * 64),
            _identity(source="random", name="base", seed=0, weights_sha256="2" * 64),
            False,
        ),
        (
            _identity(source="random", name="base", seed=0),
            _identity(source="local", name="base", weights_sha256="1" * 64),
            False,
        ),
        (None, _identity(revision="a" * 40), False),
    ],
)
def test_which_identities_are_one_model(recorded, current, same):
    assert (difference(recorded, current) is None) is same


def test_tags_of_different_models_differ():
    assert _identity().tag() == "hub-org--model" and _identity().tag("bfloat16") == "hub-org--model+bfloat16"
    tags = {
        _identity().tag(),
        _identity(name="org__model").tag(),
        _identity(name="random-org__model").tag(),
        _identity(name="org/model-bfloat16").tag(),
        _identity(source="local", name="org__model", weights_sha256="1" * 64).tag(),
        _identity(source="local", name="org__model", weights_sha256="2" * 64).tag(),
        _identity(source="random", name="org__model", seed=0).tag(),
        _identity().tag("bfloat16"),
    }
    assert len(tags) == 8


def test_step_2_reuses_only_embeddings_of_the_same_model_and_settings():
    expected = {
        "model": "org/model",
        "model_identity": _identity(revision="a" * 40).as_json(),
        "layers": [0, 1],
        "dtype": "float16",
        "precision": "float32",
        "pooling": "mean",
        "sample_rate": 16000,
        "dim": 32,
        "manifest_sha256": "m" * 64,
    }
    same = versions.stamp("embeddings", dict(expected))
    assert embeddings_reuse_problem(same, expected, "m" * 64) is None
    moved = {**same, "model_identity": _identity(revision="b" * 40).as_json()}
    assert "another model" in embeddings_reuse_problem(moved, expected, "m" * 64)
    fewer = {**same, "layers": [0]}
    assert (
        embeddings_reuse_problem(fewer, expected, "m" * 64)
        == "was computed with other settings (layers [0], now [0, 1])"
    )
    assert "another manifest" in embeddings_reuse_problem(same, expected, "n" * 64)
