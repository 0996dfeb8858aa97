"""Whether the weights transformers loaded are the model's own, and why they could not be loaded:
what ``ssl_loading`` checks after and around ``from_pretrained``.

transformers (5.x) loads weights that do not fit the model more quietly than a feature extractor
can afford: tensors the checkpoint lacks are initialised at random, and that is only said in a
"LOAD REPORT" on its logger, then embedded as if nothing happened. So the load asks for
``output_loading_info`` (with ``ignore_mismatched_sizes``, so that a shape mismatch comes back
in it rather than as a RuntimeError after the report) and refuses, naming the folder:

- a tensor whose shape differs from what config.json says (the config of another model size);
- a tensor the model has and the checkpoint lacks (weights of another architecture, or saved
  under other names), except ``UNUSED_IN_INFERENCE``.

Tensors the checkpoint holds and the model does not use are harmless and expected: a pretraining
checkpoint (facebook/wav2vec2-base is Wav2Vec2ForPreTraining) has its quantizer, project_q and
project_hid; a fine-tuned one its lm_head. The report itself is held back while loading (its
records are shown when the load fails in a way this module does not explain).

A ``pytorch_model.bin`` is a pickle. transformers opens it with ``torch.load(weights_only=True)``
(and so passes ``ssl_loading`` explicitly), which refuses a pickle that names anything but
tensors and plain containers: such a file is refused here as one that could run code, never
loaded another way."""

from __future__ import annotations

import contextlib
import logging
import pickle
import re
from pathlib import Path

from deepfake_pipeline.features.ssl_families import ModelLoadError

# Tensors a checkpoint may lack without changing any hidden state: masked_spec_embed replaces
# masked frames during training only (SpecAugment, mask_time_prob), never in an eval forward
# pass; fine-tuned checkpoints such as facebook/wav2vec2-base-960h are published without it.
UNUSED_IN_INFERENCE = ("masked_spec_embed",)
REPORT_LOGGER = "transformers.modeling_utils"
REPORT_MARK = "LOAD REPORT"


class _HeldReport(logging.Filter):
    """Holds back transformers' load report; `show()` lets it through after all."""

    def __init__(self):
        super().__init__()
        self.held = []

    def filter(self, record) -> bool:
        if REPORT_MARK in record.getMessage():
            self.held.append(record)
            return False
        return True

    def show(self) -> None:
        for record in self.held:
            logging.getLogger(record.name).handle(record)
        self.held = []


@contextlib.contextmanager
def quiet_weight_loading():
    """Hide transformers' carriage-return progress bar (it clutters nohup logs) and its load
    report while loading; yields the held report. The caller's settings are restored."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    logger = hf_logging.get_logger(REPORT_LOGGER)
    report = _HeldReport()
    logger.addFilter(report)
    try:
        yield report
    finally:
        logger.removeFilter(report)
        if was_enabled:
            hf_logging.enable_progress_bar()


def fetch_again(spec: str, is_local: bool) -> str:
    if is_local:
        return (
            f"copy the folder again, or fetch the weights anew (`hf download <id> --local-dir {spec} --force-download`)"
        )
    return f"fetch them anew: `hf download {spec} --force-download`"


def _unpickler_detail(error: BaseException) -> str:
    return str(error).split("WeightsUnpickler error:", 1)[-1].strip()


def _holds_code(error: BaseException) -> bool:
    """torch's safe loader refused a pickle for naming a function or class, not for being cut."""
    if not isinstance(error, pickle.UnpicklingError) or "Weights only load failed" not in str(error):
        return False
    detail = _unpickler_detail(error)
    return any(sign in detail for sign in ("GLOBAL", "unrecognized function", "allowlisted"))


def _damaged(error: BaseException) -> bool:
    """A truncated or corrupt weights file: safetensors' own error (not an OSError), torch's for
    a cut pytorch_model.bin, or a pickle the safe loader cannot even read (random bytes)."""
    names = {type(e).__name__ for e in (error, error.__cause__, error.__context__) if e is not None}
    text = str(error).lower()
    return (
        any("safetensor" in name.lower() for name in names)
        or "incomplete metadata" in text
        or "header too large" in text
        or "pytorchstreamreader failed" in text
        or "unexpected eof" in text
        or isinstance(error, (pickle.UnpicklingError, EOFError))
    )


def refusal(spec: str, local: Path | None, error: BaseException) -> ModelLoadError | None:
    """The ModelLoadError saying why the weights of `spec` (the folder `local`, or None for a hub
    id) could not be loaded, or None when `error` is not about the weights themselves."""
    is_local = local is not None
    if _holds_code(error):
        bins = sorted(p.name for p in local.glob("pytorch_model*.bin")) if local is not None else []
        which = f" ({', '.join(bins)})" if bins else ""
        named = re.search(r"GLOBAL (\S+)", _unpickler_detail(error))
        what = f"it names {named.group(1)}" if named else _brief(error)
        return ModelLoadError(
            f"the weights of '{spec}'{which} hold more than tensors ({what}): they were not loaded, since loading "
            f"them could run code. {fetch_again(spec, is_local).capitalize()}, or, where the file is trusted (where "
            "it was made), convert it to model.safetensors, which is loaded instead; then rerun the same command"
        )
    if _damaged(error):
        return ModelLoadError(
            f"the weights of '{spec}' are damaged (cut short or corrupt: {_brief(error)}): "
            f"{fetch_again(spec, is_local)}, then rerun the same command"
        )
    return None


def _unused_in_inference(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in UNUSED_IN_INFERENCE


def _brief(error: BaseException) -> str:
    """One line of what a loader said (torch's refusals run over many lines)."""
    text = _unpickler_detail(error) if isinstance(error, pickle.UnpicklingError) else str(error)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    return first if len(first) <= 200 else first[:197] + "..."


def _shape(size) -> str:
    return "x".join(map(str, size))


def check_loaded(spec: str, is_local: bool, model, info: dict) -> None:
    """Refuse a model some of whose tensors are not the checkpoint's (`info`: transformers'
    loading info)."""
    order = list(model.state_dict())
    position = {key: i for i, key in enumerate(order)}

    def in_model_order(key):  # the tensors that matter first
        return _unused_in_inference(key), position.get(key, len(order)), key

    fix = f"fix config.json, or {fetch_again(spec, is_local)}, then rerun the same command"
    mismatched = sorted(info.get("mismatched_keys") or (), key=lambda item: in_model_order(item[0]))
    if mismatched:
        key, in_weights, by_config = mismatched[0]
        more = f"{len(mismatched)} tensors differ" if len(mismatched) > 1 else "the only tensor that differs"
        raise ModelLoadError(
            f"the weights in '{spec}' do not fit its config.json: {key} is {_shape(in_weights)} in the weights "
            f"but {_shape(by_config)} by the config ({more}): the two come from different models; {fix}"
        )
    missing = sorted(
        (key for key in info.get("missing_keys") or () if not _unused_in_inference(key)), key=in_model_order
    )
    if missing:
        unused = sorted(info.get("unexpected_keys") or ())
        besides = f" and holds {len(unused)} it does not use (e.g. {unused[0]})" if unused else ""
        raise ModelLoadError(
            f"'{spec}' lacks {len(missing)} of the {model.config.model_type} model's {len(order)} tensors "
            f"(e.g. {missing[0]}){besides}: these weights are not the model its config.json describes, and the "
            f"missing tensors would be random; {fix}"
        )
