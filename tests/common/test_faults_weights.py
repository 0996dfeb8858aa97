"""Model weights that must not be used (issue 17), each refused with one line naming the folder:
weights that do not fit the folder's config.json, weights of another architecture (transformers
would fill the tensors it does not find at random and load without a word), and a
pytorch_model.bin holding more than tensors, which torch's safe loader refuses and which is
never loaded any other way. transformers' own load report is not printed. The checkpoints that
real models are published as (a pretraining checkpoint with its quantizer, a fine-tuned one
without masked_spec_embed, old weight-norm names, pytorch_model.bin) load without complaint."""

import ast
import json
from pathlib import Path

import pytest
import torch
from audio_factory import write_clip
from conftest import TINY_SSL, save_tiny_ssl
from safetensors.torch import load_file, save_file

from deepfake_pipeline.cli import features as features_cli
from deepfake_pipeline.cli.preprocess import main as preprocess
from deepfake_pipeline.features.ssl_loading import ModelLoadError, load_model

PACKAGE = Path(__file__).resolve().parents[2] / "deepfake_pipeline"


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@pytest.fixture(scope="module")
def interim(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    rows = ["path,label"]
    for i in range(2):
        write_clip(root / f"c{i}.wav", seconds=0.4, seed=i)
        rows.append(f"c{i}.wav,{'real' if i else 'fake'}")
    (root / "clips.csv").write_text("\n".join(rows) + "\n")
    assert (
        preprocess(
            [
                "--corpus",
                "csv",
                "--root",
                str(root / "clips.csv"),
                "--name",
                "toy",
                "--interim-dir",
                str(root / "interim"),
                "--jobs",
                "1",
            ]
        )
        == 0
    )
    return root / "interim"


def _features(model: Path, interim: Path, tmp_path: Path, capfd) -> tuple:
    """features.py on `model`: (exit code, its closing line), after checking that it printed no
    traceback and none of transformers' load report."""
    capfd.readouterr()
    code = features_cli.main(
        [
            "--splits",
            "toy_all",
            "--what",
            "embeddings",
            "--model",
            str(model),
            "--interim-dir",
            str(interim),
            "--processed-dir",
            str(tmp_path / "processed"),
        ]
    )
    err = capfd.readouterr().err
    assert "Traceback" not in err, err
    assert "LOAD REPORT" not in err and "MISMATCH" not in err and "MISSING" not in err, err
    return code, _last_line(err)


def _edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def _rewrite_weights(folder: Path, rename) -> None:
    weights = load_file(folder / "model.safetensors")
    save_file(
        {rename(key): tensor for key, tensor in weights.items()},
        folder / "model.safetensors",
        metadata={"format": "pt"},
    )


# --- weights that do not fit the config --------------------------------------------------------


def test_weights_smaller_than_the_config_says_name_the_first_tensor_that_differs(interim, tmp_path, capfd):
    model = save_tiny_ssl(tmp_path / "model", "wav2vec2-base")  # hidden size 32
    _edit_config(model, hidden_size=48)
    code, line = _features(model, interim, tmp_path, capfd)
    assert code == 2
    assert line.startswith(
        f"error: the weights in '{model}' do not fit its config.json: "
        "feature_projection.projection.weight is 32x16 in the weights but 48x16 by the "
        "config ("
    )
    assert "tensors differ" in line and "fix config.json" in line and "rerun the same command" in line


@pytest.mark.parametrize("case", ["prefixed", "data2vec weights, wav2vec2 config"])
def test_weights_of_another_architecture_are_refused_not_filled_in_at_random(interim, tmp_path, capfd, case):
    if case == "prefixed":  # e.g. saved by a training script from its own wrapper module
        model = save_tiny_ssl(tmp_path / "model", "wav2vec2-base")
        _rewrite_weights(model, lambda key: f"model.{key}")
        missing, unused = "feature_extractor.conv_layers.0.conv.weight", "model."
    else:  # every tensor but the positional convolution has the same name and shape
        model = save_tiny_ssl(tmp_path / "model", "data2vec-audio")
        _edit_config(model, model_type="wav2vec2", architectures=["Wav2Vec2Model"])
        missing, unused = "encoder.pos_conv_embed.conv.", "encoder.pos_conv_embed.layers.0.conv."
    code, line = _features(model, interim, tmp_path, capfd)
    assert code == 2
    assert line.startswith(f"error: '{model}' lacks "), line
    assert f"(e.g. {missing}" in line and f"(e.g. {unused}" in line
    assert "would be random" in line and "rerun the same command" in line


# --- checkpoints as real models are published -----------------------------------------------------


def _tiny_config(**extra):
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embedding_groups=2,
        num_conv_pos_embeddings=16,
        codevector_dim=8,
        proj_codevector_dim=8,
        num_codevectors_per_group=4,
        **extra,
    )


def _hidden_states(model, waveform):
    with torch.no_grad():
        return model(waveform, output_hidden_states=True).hidden_states


def _same_model(loaded, reference) -> None:
    waveform = torch.randn(1, 8000, generator=torch.Generator().manual_seed(0))
    for ours, theirs in zip(
        _hidden_states(loaded.model, waveform), _hidden_states(reference.eval(), waveform), strict=True
    ):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_a_pretraining_checkpoint_loads_without_its_quantizer(tmp_path, capfd):
    """facebook/wav2vec2-base is Wav2Vec2ForPreTraining: its quantizer, project_q and
    project_hid are of no use to the encoder, whose every tensor it holds."""
    from transformers import Wav2Vec2ForPreTraining

    torch.manual_seed(0)
    pretraining = Wav2Vec2ForPreTraining(_tiny_config()).eval()
    pretraining.save_pretrained(tmp_path / "model")
    capfd.readouterr()
    loaded = load_model(str(tmp_path / "model"))
    assert "LOAD REPORT" not in capfd.readouterr().err
    _same_model(loaded, pretraining.wav2vec2)


def test_a_fine_tuned_bin_checkpoint_with_old_names_and_no_masked_spec_embed_loads(tmp_path, capfd):
    """facebook/wav2vec2-base-960h and its kind: Wav2Vec2ForCTC in a pytorch_model.bin, the
    positional convolution's weight norm under its old names (weight_g, weight_v), and no
    masked_spec_embed (used only to mask frames in training, never in a forward pass here)."""
    from transformers import Wav2Vec2ForCTC

    torch.manual_seed(0)
    fine_tuned = Wav2Vec2ForCTC(_tiny_config(vocab_size=10)).eval()
    old_names = {
        key.replace("parametrizations.weight.original0", "weight_g").replace(
            "parametrizations.weight.original1", "weight_v"
        ): tensor
        for key, tensor in fine_tuned.state_dict().items()
        if not key.endswith("masked_spec_embed")
    }
    assert "wav2vec2.encoder.pos_conv_embed.conv.weight_g" in old_names
    folder = tmp_path / "model"
    fine_tuned.config.save_pretrained(folder)
    torch.save(old_names, folder / "pytorch_model.bin")
    capfd.readouterr()
    loaded = load_model(str(folder))
    assert "LOAD REPORT" not in capfd.readouterr().err
    _same_model(loaded, fine_tuned.wav2vec2)


@pytest.mark.parametrize("name", sorted(TINY_SSL))
def test_every_family_saved_by_save_pretrained_loads_without_complaint(tiny_ssl_folders, capfd, name):
    folder = tiny_ssl_folders(name)
    capfd.readouterr()
    load_model(str(folder))
    assert capfd.readouterr().err == ""


# --- a pytorch_model.bin holding more than tensors -------------------------------------------------


class _RunsCode:
    """Unpickling this calls os.mkdir(marker): what a pickle can make any loader do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return os.mkdir, (self.marker,)


def test_a_bin_file_that_holds_more_than_tensors_is_refused_unloaded(interim, tmp_path, capfd, monkeypatch):
    model = save_tiny_ssl(tmp_path / "model", "wav2vec2-base")
    weights = load_file(model / "model.safetensors")
    (model / "model.safetensors").unlink()
    marker = tmp_path / "the pickle ran"
    torch.save({**weights, "extra": _RunsCode(marker)}, model / "pytorch_model.bin")
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: loads.append(kwargs) or real_load(*args, **kwargs))
    code, line = _features(model, interim, tmp_path, capfd)
    assert code == 2
    assert not marker.exists(), "the pickle's code ran"
    assert loads and all(kwargs.get("weights_only") is True for kwargs in loads), loads
    assert line.startswith(f"error: the weights of '{model}' (pytorch_model.bin) hold more than tensors ("), line
    assert "not loaded, since loading them could run code" in line
    assert "safetensors" in line and "hf download" in line and "rerun the same command" in line


def test_a_bin_file_of_random_bytes_says_it_is_damaged(interim, tmp_path, capfd):
    model = save_tiny_ssl(tmp_path / "model", "wav2vec2-base")
    (model / "model.safetensors").unlink()
    (model / "pytorch_model.bin").write_bytes(bytes(range(256)) * 8)
    code, line = _features(model, interim, tmp_path, capfd)
    assert code == 2
    assert line.startswith(f"error: the weights of '{model}' are damaged"), line


def test_no_code_loads_a_pickle_that_could_run_code():
    """Every torch.load in the package says weights_only=True, and nothing says False."""
    problems = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            if "weights_only" in keywords and not (
                isinstance(keywords["weights_only"], ast.Constant) and keywords["weights_only"].value is True
            ):
                problems.append(f"{path}:{node.lineno}: weights_only is not True")
            is_torch_load = (
                isinstance(node.func, ast.Attribute)
                and node.func.attr == "load"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "torch"
            )
            if is_torch_load and "weights_only" not in keywords:
                problems.append(f"{path}:{node.lineno}: torch.load without weights_only=True")
    assert not problems, problems


def test_a_model_load_error_is_what_the_loader_raises(tmp_path):
    """The refusals are ModelLoadError (features.py and train_contrastive.py print them), not
    transformers' RuntimeError."""
    model = save_tiny_ssl(tmp_path / "model", "wav2vec2-base")
    _edit_config(model, hidden_size=48)
    with pytest.raises(ModelLoadError, match="do not fit its config.json"):
        load_model(str(model))
