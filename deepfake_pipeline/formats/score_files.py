"""Score files in the ASVspoof format: one `utt_id score` line per trial, in manifest order,
higher = more bona fide."""

from pathlib import Path

import numpy as np

from deepfake_pipeline.common import atomic


def write_score_file(path, utt_ids, scores) -> Path:
    """ASVspoof score file: `utt_id score` per line, input order, higher = more bona fide."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) != len(utt_ids):
        raise ValueError(f"{len(utt_ids)} utterances but {len(scores)} scores")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{int(np.sum(~np.isfinite(scores)))} scores are not finite; refusing to write {path}")
    for utt_id in utt_ids:
        if len(str(utt_id).split()) != 1:
            raise ValueError(f"utt_id {utt_id!r} holds whitespace: it cannot go in a score file")
    return atomic.write_text(path, "".join(f"{utt_id} {score:.8g}\n" for utt_id, score in zip(utt_ids, scores)))


def read_score_file(path) -> tuple:
    """(utt_ids, scores) from an ASVspoof-format score file."""
    utt_ids, scores = [], []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            utt_id, score = line.split()
            utt_ids.append(utt_id)
            scores.append(float(score))
    return utt_ids, np.asarray(scores)
