"""A user's own audio: a CSV listing clips, or a folder with real/fake subfolders.

CSV: a path column (`path`, `file`, `filename` or `relpath`), `label` (bonafide/spoof, real/fake,
0/1), and optional `speaker`, `attack`, `split`, `utt_id`. Relative paths resolve against the
CSV's own folder. Folder: `real/` or `bonafide/` and `fake/` or `spoof/` subfolders (searched
recursively, never through a link that leaves the corpus, climbs above itself or crosses into
another label's folder: folder_walk.py); a folder without them is taken as unlabelled clips to
score.
"""

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from deepfake_pipeline.common.errors import InputError
from deepfake_pipeline.formats.labels import UNLABELLED, folder_label, parse_label
from deepfake_pipeline.ingest.corpora import CorpusLayoutError, read_csv_strings, safe_id
from deepfake_pipeline.ingest.corpora.folder_walk import Top, audio_files
from deepfake_pipeline.ingest.corpora.registry import Corpus, only_splits
from deepfake_pipeline.ingest.decode import AUDIO_EXTENSIONS
from deepfake_pipeline.ingest.shards import ClipSpec

PATH_COLUMNS = ("path", "file", "filename", "relpath")
DEFAULT_SPLIT = "all"
# A split names a folder (`<corpus>_<split>/`): a plain name, never a path.
SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _unique_ids(ids: list) -> list:
    """Ids made from paths, made unique: a repeat gets `_1`, `_2`... skipping every id already
    in use, so `a, a, a_1` becomes `a, a_2, a_1`, never a clash."""
    taken, used, unique = set(ids), set(), []
    for utt_id in ids:
        candidate, count = utt_id, 0
        while candidate in used or (count and candidate in taken):
            count += 1
            candidate = f"{utt_id}_{count}"
        used.add(candidate)
        unique.append(candidate)
    return unique


def _read_table(csv_path: Path) -> pd.DataFrame:
    """The CSV as strings, indexed by line number in the file (blank lines skipped but counted)."""
    table = read_csv_strings(csv_path, skip_blank_lines=False)
    table.columns = [c.strip().lower() for c in table.columns]
    table.index = table.index + 2
    return table[(table != "").any(axis=1)]


def _first_seen(values, what: Callable[[Any], str], csv_path: Path, describe=lambda line, value: "") -> None:
    """Refuse a value that an earlier line already holds, naming both lines."""
    first: dict = {}
    for line, value in values:
        if value in first:
            raise InputError(
                f"{csv_path}:{line}: {what(value)} is already on line {first[value]}"
                f"{describe(first[value], line)}: list each clip once, with its own id"
            )
        first[value] = line


def _split_name(csv_path: Path, line: int, value: str) -> str:
    split = value.strip() or DEFAULT_SPLIT
    if not SPLIT_NAME.fullmatch(split):
        raise InputError(
            f"{csv_path}:{line}: split {value!r} is not a plain name: use letters, digits, '.', "
            "'_' and '-', starting with a letter or digit (it names the folder <name>_<split>/)"
        )
    return split


def csv_clips(csv_path) -> dict:
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise CorpusLayoutError(f"CSV {csv_path} does not exist")
    table = _read_table(csv_path)
    path_column = next((c for c in PATH_COLUMNS if c in table.columns), None)
    if path_column is None or "label" not in table.columns:
        raise CorpusLayoutError(
            f"{csv_path} needs a path column (one of {', '.join(PATH_COLUMNS)}) and a `label` column "
            f"(bonafide/spoof); it has {list(table.columns)}"
        )
    lines = table.index.tolist()
    if not lines:
        raise CorpusLayoutError(f"{csv_path} lists no clips: add one line per clip below the header")
    base = csv_path.resolve().parent
    # Every path made absolute (a relative one below the CSV's folder) and normalised without
    # following links: a link listed either way is the same clip with the same id, and a dangling
    # one is rejected as a broken link in step 1 (realpath would have named its missing target).
    paths = [Path(os.path.normpath(base / p)) for p in table[path_column]]
    labels = []
    for line, value in zip(lines, table["label"], strict=True):
        try:
            labels.append(parse_label(value))
        except InputError as error:
            raise InputError(f"{csv_path}:{line}: {error}") from None
    label_of = dict(zip(lines, labels, strict=True))
    _first_seen(
        zip(lines, (os.path.realpath(p) for p in paths), strict=True),
        lambda real: f"the file {real}",
        csv_path,
        lambda first, line: (
            "" if label_of[first] == label_of[line] else f" under the other label ({table.at[first, 'label']!r})"
        ),
    )
    if "utt_id" in table.columns:
        ids = [safe_id(v) for v in table["utt_id"]]
        _first_seen(zip(lines, ids, strict=True), lambda utt_id: f"utt_id {utt_id!r}", csv_path)
    else:
        # Ids from the path below the clips' common folder: short, and unique when the paths are.
        common = Path(os.path.commonpath([str(p.parent) for p in paths]))  # an empty CSV was refused above
        ids = _unique_ids([safe_id(str(p.relative_to(common).with_suffix(""))) for p in paths])
    splits = (
        [_split_name(csv_path, line, v) for line, v in zip(lines, table["split"], strict=True)]
        if "split" in table.columns
        else [DEFAULT_SPLIT] * len(paths)
    )
    clips: dict = {}
    for i, path in enumerate(paths):
        clips.setdefault(splits[i], []).append(
            ClipSpec(
                utt_id=ids[i],
                source_path=str(path),
                label=labels[i],
                attack=(table["attack"].iloc[i].strip() or "-") if "attack" in table.columns else "-",
                speaker=(table["speaker"].iloc[i].strip() or "-") if "speaker" in table.columns else "-",
            )
        )
    return clips


def folder_clips(folder, inputs_are_top_links: bool = False, log=print) -> dict:
    """Clips of a folder corpus, labelled by the real/ or fake/ folder they sit in (see
    folder_walk for which links are followed). `inputs_are_top_links`: every entry at the top of
    `folder` is an input in its own right, followed wherever it leads (how --score stages loose
    files and folders as links); nothing below them is."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusLayoutError(
            f"folder {folder} does not exist; expected <folder>/real/ (or bonafide/) and "
            "<folder>/fake/ (or spoof/) holding audio files"
        )
    entries = sorted(folder.iterdir())
    labelled = [
        Top(sub, folder_label(sub.name))
        for sub in entries
        if not inputs_are_top_links and sub.is_dir() and folder_label(sub.name) is not None
    ]
    if labelled:
        tops = labelled
    elif inputs_are_top_links:
        tops = [Top(entry, UNLABELLED) for entry in entries]
    else:
        tops = [Top(folder, UNLABELLED)]
    files = audio_files(folder, tops, log=log)
    if not files:
        raise CorpusLayoutError(f"no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) under {folder}")
    ids = _unique_ids([safe_id(str(found.path.relative_to(folder).with_suffix(""))) for found in files])
    return {
        DEFAULT_SPLIT: [
            ClipSpec(utt_id=utt_id, source_path=found.source, label=found.label)
            for utt_id, found in zip(ids, files, strict=True)
        ]
    }


# Read by ingest/corpora/registry.py without importing this module: keep it a literal.
KINDS = {
    "csv": {"described": "csv (path,label[,speaker,attack,split])", "default_folder": None},
    "folder": {"described": "folder (real/ and fake/ subfolders)", "default_folder": None},
}

CORPORA = (
    Corpus(
        "csv",
        lambda request: only_splits(csv_clips(request.root), request),
    ),
    Corpus(
        "folder",
        lambda request: only_splits(folder_clips(request.root), request),
    ),
)
