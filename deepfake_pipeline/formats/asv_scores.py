"""The organisers' ASV score files, which the t-DCF needs beside a CM's scores.

- ASVspoof 2019 LA: ``ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.{dev,eval}.gi.trl.scores.txt``,
  one trial per line with three whitespace-separated fields: ``CM_KEY ASV_KEY SCORE``, where
  CM_KEY is ``bonafide`` or the attack id (A01-A19), ASV_KEY is ``target``, ``nontarget`` or
  ``spoof``, and SCORE the ASV similarity (higher = more target).
- ASVspoof 2021 LA keys (``keys/LA/ASV/``): ``trial_metadata.txt`` with eight fields
  ``speaker trial codec transmission attack key trim subset`` (key: target / nontarget / spoof;
  subset: progress / eval / hidden_track, the organisers' phases) and
  ``ASVTorch_Kaldi/score.txt`` (spelt ``ASVtorch_kaldi`` in some releases) with three fields
  ``speaker trial score``. The two files are read line by line together, as the official
  ``evaluate.py`` and ``main.py`` join them (by position); the trial ids of each pair of lines
  must agree.

Blank lines are skipped. Anything else that does not parse raises InputError (a ValueError) naming
the file and the line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_pipeline.common.errors import InputError

ASV_KEYS = ("target", "nontarget", "spoof")
SUBSETS_2021 = ("progress", "eval", "hidden_track")


@dataclass(frozen=True)
class ASVScores:
    """ASV scores by trial key, in file order. ``spoof_attack`` names the attack of each spoof
    trial (same order as ``spoof``)."""

    target: np.ndarray
    nontarget: np.ndarray
    spoof: np.ndarray
    spoof_attack: np.ndarray
    # ASVspoof 2021 only: one row per kept ASV trial in file order, columns TRIAL_COLUMNS; the
    # trial id is the CM trial's utt_id, so conditions and joint CM/ASV metrics can be formed.
    trials: pd.DataFrame | None = field(default=None, compare=False)


TRIAL_COLUMNS = ("trial", "speaker", "codec", "trans", "attack", "key", "score")


def _lines(path: Path):
    """(line number, fields) of each non-blank line."""
    if not path.is_file():
        raise FileNotFoundError(f"ASV score file not found: {path}")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if fields:
                yield number, fields


def _fail(path: Path, number: int, problem: str, fields) -> InputError:
    shown = " ".join(fields)
    return InputError(f"{path}, line {number}: {problem}: {shown[:200]!r}")


def _score(path: Path, number: int, text: str, fields) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _fail(path, number, f"score {text!r} is not a number", fields) from None
    if not math.isfinite(value):
        raise _fail(path, number, f"score {text!r} is not finite", fields)
    return value


def _key(path: Path, number: int, text: str, fields) -> str:
    if text not in ASV_KEYS:
        raise _fail(path, number, f"key {text!r} is not one of {', '.join(ASV_KEYS)}", fields)
    return text


def _collect(rows, described: str, trials: pd.DataFrame | None = None) -> ASVScores:
    """``rows``: (key, attack, score) triples; ``trials`` as ASVScores.trials."""
    scores: dict = {key: [] for key in ASV_KEYS}
    attacks = []
    for key, attack, score in rows:
        scores[key].append(score)
        if key == "spoof":
            attacks.append(attack)
    missing = [key for key in ASV_KEYS if not scores[key]]
    if missing:
        raise InputError(f"{described} holds no {' or '.join(missing)} trials; the t-DCF needs all three")
    return ASVScores(
        target=np.asarray(scores["target"], dtype=np.float64),
        nontarget=np.asarray(scores["nontarget"], dtype=np.float64),
        spoof=np.asarray(scores["spoof"], dtype=np.float64),
        spoof_attack=np.asarray(attacks, dtype=str),
        trials=trials,
    )


def read_asv2019_scores(path) -> ASVScores:
    """Read an ASVspoof 2019 ASV score file (``CM_KEY ASV_KEY SCORE`` per line)."""
    path = Path(path)

    def rows():
        for number, fields in _lines(path):
            if len(fields) != 3:
                raise _fail(path, number, f"expected 3 fields (CM_KEY ASV_KEY SCORE), got {len(fields)}", fields)
            key = _key(path, number, fields[1], fields)
            yield key, fields[0], _score(path, number, fields[2], fields)

    return _collect(rows(), str(path))


def _child(folder: Path, name: str) -> Path:
    """The entry of ``folder`` called ``name``, ignoring case; ``folder / name`` when none is."""
    if folder.is_dir():
        matches = sorted(p for p in folder.iterdir() if p.name.lower() == name.lower())
        if len(matches) > 1:
            raise InputError(f"{folder} holds {len(matches)} entries named {name!r} in different cases: {matches}")
        if matches:
            return matches[0]
    return folder / name


def find_asv2021_files(root, track: str = "LA") -> tuple[Path, Path]:
    """``(trial_metadata.txt, ASVTorch_Kaldi/score.txt)`` under ``root``: the ``keys`` folder,
    its ``LA`` folder, or ``LA/ASV`` itself. Folder and file names are matched ignoring case."""
    root = Path(root)
    asv = root
    if _child(root, track).is_dir():
        asv = _child(_child(root, track), "ASV")
    elif _child(root, "ASV").is_dir():
        asv = _child(root, "ASV")
    key_file = _child(asv, "trial_metadata.txt")
    score_file = _child(_child(asv, "ASVTorch_Kaldi"), "score.txt")
    for path in (key_file, score_file):
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: expected the ASVspoof 2021 keys layout "
                f"keys/{track}/ASV/trial_metadata.txt and keys/{track}/ASV/ASVTorch_Kaldi/score.txt "
                f"(any capitalisation) under {root}"
            )
    return key_file, score_file


def read_asv2021_scores(root, subset: str | None = "eval", track: str = "LA", score_file=None) -> ASVScores:
    """Read the ASVspoof 2021 ASV keys and scores of one ``subset`` (``None``: every line).

    ``root`` as for :func:`find_asv2021_files`; ``score_file`` replaces the organisers'
    ``score.txt`` with your own ASV scores in the same layout and order.
    """
    if subset is not None and subset not in SUBSETS_2021:
        raise InputError(f"subset must be one of {', '.join(SUBSETS_2021)} or None, got {subset!r}")
    key_file, organisers_scores = find_asv2021_files(root, track)
    score_file = Path(score_file) if score_file is not None else organisers_scores
    seen_subsets = set()
    kept_trials: list = []

    def rows():
        keys, scores = _lines(key_file), _lines(score_file)
        while True:
            key_line, score_line = next(keys, None), next(scores, None)
            if key_line is None or score_line is None:
                break
            (k_number, k_fields), (s_number, s_fields) = key_line, score_line
            if len(k_fields) != 8:
                raise _fail(
                    key_file,
                    k_number,
                    f"expected 8 fields (speaker trial codec transmission attack key trim subset), got {len(k_fields)}",
                    k_fields,
                )
            if len(s_fields) != 3:
                raise _fail(
                    score_file, s_number, f"expected 3 fields (speaker trial score), got {len(s_fields)}", s_fields
                )
            if k_fields[1] != s_fields[1]:
                raise InputError(
                    f"{score_file}, line {s_number} scores trial {s_fields[1]!r} but {key_file}, "
                    f"line {k_number} is trial {k_fields[1]!r}: the files must list the same trials in the same order"
                )
            key = _key(key_file, k_number, k_fields[5], k_fields)
            score = _score(score_file, s_number, s_fields[2], s_fields)
            seen_subsets.add(k_fields[7])
            if subset is None or k_fields[7] == subset:
                kept_trials.append((k_fields[1], k_fields[0], k_fields[2], k_fields[3], k_fields[4], key, score))
                yield key, k_fields[4], score
        if key_line is not None or score_line is not None:
            path, (number, _) = (key_file, key_line) if key_line is not None else (score_file, score_line)  # type: ignore[misc]
            raise InputError(
                f"{path}, line {number}: no partner line in "
                f"{score_file if path == key_file else key_file}: the two files hold different numbers of trials"
            )

    kept = list(rows())
    if subset is not None and subset not in seen_subsets:
        raise InputError(f"{key_file} has no trials of subset {subset!r}; its subsets: {sorted(seen_subsets)}")
    trials = pd.DataFrame(kept_trials, columns=list(TRIAL_COLUMNS))
    return _collect(kept, f"{key_file} (subset {subset})", trials)


def asv_source_2019(la_dir, split: str) -> dict | None:
    """Where step 1 found the organisers' ASV scores of an ASVspoof 2019 LA split (dev and eval
    have them, train has none): recorded in the split's info.json as `asv_scores`."""
    path = Path(la_dir) / "ASVspoof2019_LA_asv_scores" / f"ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt"
    return {"format": "asvspoof2019", "path": str(path.resolve())} if path.is_file() else None


def asv_source_2021(keys_dir, subset: str, track: str = "LA") -> dict | None:
    """The same for ASVspoof 2021 LA (`keys/LA/ASV/`); DF has no ASV scores (no t-DCF)."""
    if track != "LA":
        return None
    try:
        find_asv2021_files(keys_dir, track)
    except FileNotFoundError:
        return None
    return {"format": "asvspoof2021", "root": str(Path(keys_dir).resolve()), "track": track, "subset": subset}


def load_asv_scores(source: dict | None) -> tuple[ASVScores, str] | None:
    """(scores, t-DCF version: "2019" or "2021") for an info.json `asv_scores` entry; None when
    the split has none."""
    if not source:
        return None
    if source["format"] == "asvspoof2019":
        return read_asv2019_scores(source["path"]), "2019"
    if source["format"] == "asvspoof2021":
        return read_asv2021_scores(source["root"], source.get("subset"), source.get("track", "LA")), "2021"
    raise InputError(f"unknown ASV score format {source['format']!r} in info.json")
