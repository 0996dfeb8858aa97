"""One place that knows how labels are spelled. 0 = bona fide (real human speech), 1 = spoof,
-1 = unlabelled (clips a user only wants scored)."""

from deepfake_pipeline.common.errors import InputError

BONAFIDE = 0
SPOOF = 1
UNLABELLED = -1

_SPELLINGS = {
    "bonafide": BONAFIDE,
    "bona-fide": BONAFIDE,
    "bona fide": BONAFIDE,
    "genuine": BONAFIDE,
    "bona_fide": BONAFIDE,
    "real": BONAFIDE,
    "human": BONAFIDE,
    "0": BONAFIDE,
    "spoof": SPOOF,
    "spoofed": SPOOF,
    "fake": SPOOF,
    "deepfake": SPOOF,
    "synthetic": SPOOF,
    "1": SPOOF,
}


def parse_label(value) -> int:
    """Map a label as users write it to 0/1. Raises InputError (a ValueError) naming the accepted
    spellings."""
    key = str(value).strip().lower()
    if key in _SPELLINGS:
        return _SPELLINGS[key]
    raise InputError(f"unknown label {value!r}: use bonafide/spoof (also accepted: real/fake, genuine, 0/1)")


# Subfolder names that label a folder corpus's clips (a subset of the spellings above: a folder
# called `0` or `human` is more likely a speaker or a session than a label).
FOLDER_LABEL_NAMES = ("real", "bonafide", "bona_fide", "genuine", "fake", "spoof")


def folder_label(name: str):
    """The label a subfolder name gives its clips, or None when the name is not a label."""
    key = name.strip().lower()
    return parse_label(key) if key in FOLDER_LABEL_NAMES else None
