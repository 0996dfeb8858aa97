"""What the ASVspoof-family parsers share: reading whitespace-separated protocol lines with a
fixed number of fields, and finding files and folders below a corpus root whatever extra folder
level an archive unpacked with."""

from pathlib import Path

from deepfake_pipeline.common.errors import InputError
from deepfake_pipeline.formats.labels import parse_label
from deepfake_pipeline.ingest.corpora import CorpusLayoutError, text_lines

# How deep below the root a protocol or audio folder is searched for (archives add a level or two).
SEARCH_DEPTH = 4


def read_fields(path, names: tuple, example: str) -> list:
    """One dict per non-empty line, keyed by `names`; the label column `key`/`label` parsed to
    0/1. A line with another number of fields stops the run naming the file and line."""
    rows = []
    for number, line in enumerate(text_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != len(names):
            raise InputError(f"{path}:{number}: expected {len(names)} fields like `{example}`, got {line!r}")
        row = dict(zip(names, fields, strict=True))
        try:
            row["label"] = parse_label(row["label"])
        except InputError:
            raise InputError(f"{path}:{number}: the key must be bonafide or spoof, got {row['label']!r}") from None
        rows.append(row)
    return rows


def _subfolders(folder: Path) -> list:
    # Audio folders (flac/, flac_T/, wav/ ...) can hold 100,000s of files: never listed.
    if folder.name.lower().startswith(("flac", "wav")):
        return []
    return [sub for sub in sorted(folder.iterdir()) if sub.is_dir()]


def _child(folder: Path, name: str, case_insensitive: bool):
    if not case_insensitive:
        child = folder / name
        return child if child.exists() else None
    return next((entry for entry in sorted(folder.iterdir()) if entry.name.lower() == name.lower()), None)


def find_below(root, relative: str, expected_layout: str, case_insensitive: bool = False) -> Path:
    """The file or folder `relative` (a path with /) below `root`, at most SEARCH_DEPTH folders
    down, shallowest first. Audio folders are not entered: they can hold 100,000s of files."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusLayoutError(f"corpus root {root} does not exist\n{expected_layout}")
    level = [root]
    for _ in range(SEARCH_DEPTH + 1):
        for folder in level:
            found = folder
            for name in relative.split("/"):
                found = _child(found, name, case_insensitive) if found is not None and found.is_dir() else None
            if found is not None:
                return found
        level = [sub for folder in level for sub in _subfolders(folder)]
    raise CorpusLayoutError(f"no {relative} under {root}\n{expected_layout}")


def find_folders(root, predicate) -> list:
    """Folders at most SEARCH_DEPTH levels below `root` (itself included) for which
    `predicate(folder)` holds, without entering audio folders."""
    found, level = [], [Path(root)]
    for _ in range(SEARCH_DEPTH + 1):
        matched = [folder for folder in level if predicate(folder)]
        found += matched
        level = [sub for folder in level if folder not in matched for sub in _subfolders(folder)]
    return sorted(found)


def index_audio(folders, suffix: str) -> dict:
    """{file stem: path} over the audio files of `folders` (a corpus may ship its audio in parts)."""
    index: dict = {}
    for folder in folders:
        for path in Path(folder).glob(f"*{suffix}"):
            index.setdefault(path.stem, path)
    return index
