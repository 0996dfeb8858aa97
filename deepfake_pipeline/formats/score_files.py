"""Score files in the ASVspoof formats, in manifest order, higher = more bona fide:

- `utt_id score`: what the ASVspoof 2021 evaluation package reads (`trial score`);
- `utt_id attack key score`: what the ASVspoof 2019 t-DCF script (`evaluate_tDCF_asvspoof19.py`)
  reads, attack `-` for bona fide, key `bonafide` / `spoof`;
- `filename<TAB>cm-score` under that header: what the ASVspoof 5 evaluation package's
  `evaluation.py` reads (`pd.read_csv(sep="\t")`, columns `filename`, `cm-score`).

A step-3 run (and a fusion) also keeps its silence-only shortcut's scores in the first format,
`scores/<split>.silence_only.txt` (`silence_only_name`)."""

from pathlib import Path

import numpy as np

from deepfake_pipeline.common import atomic


def exact(score) -> str:
    """The shortest decimal that reads back as the very same float64 (Python's repr): a metric
    computed from the file equals the printed one. 8 significant digits made bona fide / spoof
    ties on 70k-trial sets and moved min t-DCF by 1.6e-5."""
    return repr(float(score))


def _checked(path, utt_ids, scores) -> np.ndarray:
    """The scores as float64, once every trial has one finite score and a one-word utt_id."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) != len(utt_ids):
        raise ValueError(f"{len(utt_ids)} utterances but {len(scores)} scores")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{int(np.sum(~np.isfinite(scores)))} scores are not finite; refusing to write {path}")
    for utt_id in utt_ids:
        if len(str(utt_id).split()) != 1:
            raise ValueError(f"utt_id {utt_id!r} holds whitespace: it cannot go in a score file")
    return scores


def silence_only_name(split_id: str) -> str:
    """The name (before `.txt`) of a run's per-trial silence-only scores of a split, `<split>.silence_only`:
    kept beside its own scores so that a fusion of the run can pair them trial by trial
    (evaluation/shortcut_rule.py)."""
    return f"{split_id}.silence_only"


def write_score_file(path, utt_ids, scores) -> Path:
    """ASVspoof score file: `utt_id score` per line, input order, higher = more bona fide."""
    scores = _checked(path, utt_ids, scores)
    return atomic.write_text(
        path, "".join(f"{utt_id} {exact(score)}\n" for utt_id, score in zip(utt_ids, scores, strict=True))
    )


def read_score_file(path) -> tuple:
    """(utt_ids, scores) from an ASVspoof-format score file."""
    utt_ids, scores = [], []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            utt_id, score = line.split()
            utt_ids.append(utt_id)
            scores.append(float(score))
    return utt_ids, np.asarray(scores)


def write_score_file_2019(path, utt_ids, attacks, labels, scores) -> Path:
    """The four-field CM score file of the ASVspoof 2019 evaluation package."""
    scores = np.asarray(scores, dtype=np.float64)
    if not (len(utt_ids) == len(attacks) == len(labels) == len(scores)):
        raise ValueError("utt_ids, attacks, labels and scores differ in length")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{int(np.sum(~np.isfinite(scores)))} scores are not finite; refusing to write {path}")
    keys = {0: "bonafide", 1: "spoof"}
    lines = []
    for utt_id, attack, label, score in zip(utt_ids, attacks, labels, scores, strict=True):
        if int(label) not in keys:
            raise ValueError(f"{utt_id} is unlabelled: the 2019 score file needs every trial's key")
        lines.append(f"{utt_id} {attack if int(label) == 1 else '-'} {keys[int(label)]} {exact(score)}\n")
    return atomic.write_text(path, "".join(lines))


ASVSPOOF5_HEADER = "filename\tcm-score"


def write_score_file_asvspoof5(path, utt_ids, scores) -> Path:
    """The ASVspoof 5 CM score file: a tab-separated table with header `filename<TAB>cm-score`,
    one row per trial in input order, each score exact (shortest repr)."""
    scores = _checked(path, utt_ids, scores)
    rows = "".join(f"{utt_id}\t{exact(score)}\n" for utt_id, score in zip(utt_ids, scores, strict=True))
    return atomic.write_text(path, f"{ASVSPOOF5_HEADER}\n{rows}")
