"""Is a test split really held out? The split names say nothing: the same clips under another
name reproduce the dev AUC exactly. So every test split is compared with the fitting and
choosing splits by content (the decoded audio's SHA-1 that step 1 records) and by speaker.

- Copies: more than a handful of test clips whose audio is that of a training or dev clip stop
  the run unless --allow-overlap is given (a few can be chance: silence, a repeated prompt). A
  clip of a derived split (augment/derive.py) counts as a copy of the clip it was made from
  (`origin_audio_sha1`): an augmented copy of a test clip in train is refused like the clip.
- Speakers: the field's protocols keep speakers disjoint; shared ones get a WARNING, not a stop
  (some corpora legitimately reuse bona fide speakers). `-` (unknown) is no speaker.
- Within one split (cross-validation), copies whose trials fall in different folds are counted.

Counts are printed on every run and stored in metrics.json."""

from dataclasses import asdict, dataclass

import numpy as np

from deepfake_pipeline.baseline.logreg import ProtocolError

HANDFUL = 5
UNKNOWN_SPEAKER = "-"


@dataclass(frozen=True)
class Overlap:
    test: str
    other: str
    copies: int  # test clips whose audio, or whose source clip's, is also in `other`
    shared_speakers: int
    example_copy: str = ""
    example_speaker: str = ""
    through_derived: int = 0  # of `copies`, those found only through a derived clip's source

    def line(self) -> str:
        text = (
            f"overlap test={self.test} vs {self.other}: {self.copies} clips with the same audio, "
            f"{self.shared_speakers} shared speakers"
        )
        if self.through_derived:
            text += f" ({self.through_derived} of them as derived copies of the same source clips)"
        if self.copies:
            text += f" (e.g. {self.example_copy})"
        if self.shared_speakers:
            text += f" -- WARNING: speakers are not disjoint (e.g. {self.example_speaker})"
        return text


def _speakers(split) -> set:
    return set(split.speakers.tolist()) - {UNKNOWN_SPEAKER}


def _origins(split) -> np.ndarray:
    """The audio each clip was made from: its own, or for a derived clip its source clip's."""
    origin = getattr(split, "origin_sha1", None)
    return split.audio_sha1 if origin is None else origin


def overlap(test, other) -> Overlap:
    same_audio = np.isin(test.audio_sha1, other.audio_sha1)
    shared_audio = same_audio | np.isin(_origins(test), _origins(other))
    shared = sorted(_speakers(test) & _speakers(other))
    return Overlap(
        test=test.split_id,
        other=other.split_id,
        copies=int(shared_audio.sum()),
        shared_speakers=len(shared),
        example_copy=str(test.utt_ids[np.flatnonzero(shared_audio)[0]]) if shared_audio.any() else "",
        example_speaker=shared[0] if shared else "",
        through_derived=int((shared_audio & ~same_audio).sum()),
    )


def check_holdout(fit_splits: list, tests: list, allow_overlap: bool) -> list:
    """Compare each test split with each fitting/choosing split and refuse copies beyond a
    handful unless `allow_overlap`, before anything is written. Returns the overlaps, whose
    `line()` every run prints."""
    found = [overlap(test, other) for test in tests for other in fit_splits]
    leaking = [entry for entry in found if entry.copies > HANDFUL]
    if leaking and not allow_overlap:
        worst = max(leaking, key=lambda e: e.copies)
        raise ProtocolError(
            f"{worst.copies} clips of test split {worst.test} have the same audio as clips of {worst.other} "
            + (
                f"({worst.through_derived} as derived copies of the same source clips: an augmented or degraded "
                "copy counts as its source) "
                if worst.through_derived
                else ""
            )
            + f"(e.g. {worst.example_copy}): the test is not held out. Fix the splits, or pass --allow-overlap "
            "to report such a test anyway"
        )
    return found


def as_json(overlaps: list) -> list:
    return [asdict(entry) for entry in overlaps]


def left_out_lines(splits: list, prefix: str) -> list:
    """One line per split that lost clips as copies of another clip's audio."""
    return [
        f"{prefix} {s.split_id}: {s.left_out_duplicates} clips left out of evaluation as copies of another "
        "clip's audio (manifest column duplicate_of; --keep-duplicates to score them)"
        for s in splits
        if s.left_out_duplicates
    ]


def copies_across_folds(split, fold_of_trial) -> int:
    """Trials of one split whose audio (or source clip's, for derived clips) also occurs in
    another fold (cross-validation)."""
    folds_by_hash: dict = {}
    origins = _origins(split)
    for sha, fold in zip(origins, fold_of_trial, strict=True):
        folds_by_hash.setdefault(sha, set()).add(fold)
    return int(sum(len(folds_by_hash[sha]) > 1 for sha in origins))
