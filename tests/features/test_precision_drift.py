"""A bfloat16 run of step 2 measures and records how far its embeddings are from float32 ones,
and never resumes, joins or is read as one with a set of the other precision."""

import copy
import json

import numpy as np
import pytest
import torch
from audio_factory import write_asvspoof_layout

from deepfake_pipeline.cli.features import main as features
from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.formats.feature_files import model_tag
from deepfake_pipeline.formats.wavestore import WaveStore

SPLIT = "asvspoof2019_dev"
PROBE = 4  # the first clips of the split, as the run's record names them


@pytest.fixture(scope="module")
def interim(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    write_asvspoof_layout(root, splits=("dev",), per_split=20, seed=3)  # 3 store shards -> 3 parts
    out = tmp_path_factory.mktemp("interim")
    args = ["--corpus", "asvspoof2019", "--root", str(root), "--splits", "dev", "--interim-dir", str(out)]
    assert preprocess([*args, "--jobs", "1"]) == 0
    return out


def _args(interim, processed, model, *extra):
    return [
        "--splits",
        SPLIT,
        "--interim-dir",
        str(interim),
        "--processed-dir",
        str(processed),
        "--what",
        "embeddings",
        "--model",
        str(model),
        *extra,
    ]


BF16 = ("--precision", "bfloat16", "--allow-emulated-bf16")


def _pooled(model, clip, dtype):
    """Every hidden state's mean over the clip's frames, one clip per forward pass, straight from
    transformers: the feature extractor's normalisation written out in numpy."""
    clip = clip.astype(np.float32)
    values = (clip - clip.mean()) / np.sqrt(clip.var() + 1e-7)
    with torch.no_grad():
        states = model(torch.from_numpy(values)[None].to(dtype), output_hidden_states=True).hidden_states
    return np.stack([s[0].float().numpy().astype(np.float64).mean(axis=0) for s in states])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:bf16 is emulated")
def test_bf16_run_records_the_drift_it_measured_on_its_first_clips(interim, tmp_path, tiny_wav2vec2_base, capsys):
    from transformers import Wav2Vec2Model

    assert features(_args(interim, tmp_path, tiny_wav2vec2_base, *BF16)) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "bfloat16 drift from float32" in line]
    assert len(lines) == 1, err
    meta = json.loads(
        (tmp_path / SPLIT / "embeddings" / f"{model_tag(str(tiny_wav2vec2_base), 'bfloat16')}.json").read_text()
    )
    record = meta["precision_drift"]
    assert meta["precision"] == "bfloat16" and record["reference"] == "float32"

    store = WaveStore(interim / SPLIT)
    assert record["clips"] == store.manifest["utt_id"].iloc[:PROBE].tolist()
    full = Wav2Vec2Model.from_pretrained(tiny_wav2vec2_base).eval()
    half = copy.deepcopy(full).to(torch.bfloat16)
    drift = []
    for i in range(PROBE):
        clip = store.waveform(i)
        reference, approx = _pooled(full, clip, torch.float32), _pooled(half, clip, torch.bfloat16)
        drift.append(np.linalg.norm(approx - reference, axis=-1) / np.linalg.norm(reference, axis=-1))
    drift = np.array(drift)  # (clips, layers)
    assert record["layers"] == list(range(drift.shape[1]))
    np.testing.assert_allclose(record["median"], np.median(drift, axis=0), rtol=1e-3)
    np.testing.assert_allclose(record["max"], drift.max(axis=0), rtol=1e-3)
    assert min(record["median"]) > 0
    for layer, value in zip(record["layers"], record["median"], strict=True):
        assert f"{layer}: {value:.2e}" in lines[0]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:bf16 is emulated")
@pytest.mark.parametrize("first,then", [((), BF16), (BF16, ())])
def test_a_run_resumed_with_the_other_precision_is_refused(interim, tmp_path, capsys, first, then):
    # --shard 1/3 leaves two of the three parts undone: an unfinished run
    assert features(_args(interim, tmp_path, "random:tiny", *first, "--shard", "1/3")) == 0
    capsys.readouterr()
    assert features(_args(interim, tmp_path, "random:tiny", *then)) != 0
    err = capsys.readouterr().err.strip().splitlines()
    was, now = ("bfloat16", "float32") if first else ("float32", "bfloat16")
    assert f"unfinished {was} run of random:tiny" in err[-1]
    assert f"resume that one with --precision {was}" in err[-1] and f"this run is {now}" in err[-1]
    folder = tmp_path / SPLIT / "embeddings"
    assert not list(folder.glob(f"{model_tag('random:tiny', now)}.*")), "nothing of the other precision begun"
    # resumed with its own precision, the run finishes
    assert features(_args(interim, tmp_path, "random:tiny", *first)) == 0
    meta = json.loads((folder / f"{model_tag('random:tiny', was)}.json").read_text())
    assert meta["precision"] == was and ("precision_drift" in meta) == (was == "bfloat16")
