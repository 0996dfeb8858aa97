"""A user's own audio: a CSV listing clips, or a folder with real/fake subfolders.

CSV: a path column (`path`, `file`, `filename` or `relpath`), `label` (bonafide/spoof, real/fake,
0/1), and optional `speaker`, `attack`, `split`, `utt_id`. Relative paths resolve against the
CSV's own folder. Folder: `real/` or `bonafide/` and `fake/` or `spoof/` subfolders (searched
recursively, never through a link that leaves the corpus, climbs above itself or crosses into
another label's folder: folder_walk.py); a folder without them is taken as unlabelled clips to
score.
"""

import os
from pathlib import Path

import pandas as pd

from deepfake_pipeline.formats.labels import UNLABELLED, folder_label, parse_label
from deepfake_pipeline.ingest.corpora import CorpusLayoutError, safe_id
from deepfake_pipeline.ingest.corpora.folder_walk import Top, audio_files
from deepfake_pipeline.ingest.decode import AUDIO_EXTENSIONS
from deepfake_pipeline.ingest.shards import ClipSpec

PATH_COLUMNS = ("path", "file", "filename", "relpath")
DEFAULT_SPLIT = "all"


def _unique_ids(ids: list) -> list:
    seen, unique = {}, []
    for utt_id in ids:
        count = seen.get(utt_id, 0)
        seen[utt_id] = count + 1
        unique.append(utt_id if count == 0 else f"{utt_id}_{count}")
    return unique


def csv_clips(csv_path) -> dict:
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise CorpusLayoutError(f"CSV {csv_path} does not exist")
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    table.columns = [c.strip().lower() for c in table.columns]
    path_column = next((c for c in PATH_COLUMNS if c in table.columns), None)
    if path_column is None or "label" not in table.columns:
        raise CorpusLayoutError(
            f"{csv_path} needs a path column (one of {', '.join(PATH_COLUMNS)}) and a `label` column "
            f"(bonafide/spoof); it has {list(table.columns)}")
    base = csv_path.resolve().parent
    paths = [(base / p).resolve() if not Path(p).is_absolute() else Path(p) for p in table[path_column]]
    labels = []
    for number, value in enumerate(table["label"], start=2):
        try:
            labels.append(parse_label(value))
        except ValueError as error:
            raise ValueError(f"{csv_path}:{number}: {error}") from None
    if "utt_id" in table.columns:
        ids = [safe_id(v) for v in table["utt_id"]]
    else:
        # Ids from the path below the clips' common folder: short, and unique when the paths are.
        common = Path(os.path.commonpath([str(p.parent) for p in paths])) if paths else base
        ids = [safe_id(str(p.relative_to(common).with_suffix(""))) for p in paths]
    ids = _unique_ids(ids)
    clips = {}
    for i, path in enumerate(paths):
        split = table["split"].iloc[i].strip() if "split" in table.columns else DEFAULT_SPLIT
        clips.setdefault(split or DEFAULT_SPLIT, []).append(ClipSpec(
            utt_id=ids[i], source_path=str(path), label=labels[i],
            attack=(table["attack"].iloc[i].strip() or "-") if "attack" in table.columns else "-",
            speaker=(table["speaker"].iloc[i].strip() or "-") if "speaker" in table.columns else "-"))
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
            "<folder>/fake/ (or spoof/) holding audio files")
    entries = sorted(folder.iterdir())
    labelled = [Top(sub, folder_label(sub.name)) for sub in entries
                if not inputs_are_top_links and sub.is_dir() and folder_label(sub.name) is not None]
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
    return {DEFAULT_SPLIT: [ClipSpec(utt_id=utt_id, source_path=found.source, label=found.label)
                            for utt_id, found in zip(ids, files)]}
