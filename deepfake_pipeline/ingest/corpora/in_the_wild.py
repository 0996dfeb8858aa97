"""In-the-Wild (Müller et al., Interspeech 2022): 31.8 h of real and deepfaked speech of 58
public figures, an evaluation-only corpus.

    <root>/[release_in_the_wild/]meta.csv   `file,speaker,label`, labels `bona-fide` / `spoof`
    <root>/[release_in_the_wild/]<file>     e.g. 0.wav

All clips form one split, `eval`. The corpus names no attack, so spoof clips get attack `-`
like bona fide ones, and the speaker is the person the clip is of.
"""

from pathlib import Path

import pandas as pd

from deepfake_pipeline.common.errors import InputError
from deepfake_pipeline.formats.labels import parse_label
from deepfake_pipeline.ingest.corpora import CorpusLayoutError, read_csv_strings
from deepfake_pipeline.ingest.corpora.protocols import find_below
from deepfake_pipeline.ingest.corpora.registry import Corpus
from deepfake_pipeline.ingest.shards import ClipSpec

META_COLUMNS = ["file", "speaker", "label"]
EXPECTED_LAYOUT = (
    "expected layout (release_in_the_wild.zip unpacked under the root):\n"
    "  <root>/release_in_the_wild/meta.csv   (columns file,speaker,label)\n"
    "  <root>/release_in_the_wild/0.wav ..."
)


def read_meta(path) -> pd.DataFrame:
    table = read_csv_strings(path)
    table.columns = [c.strip() for c in table.columns]
    if list(table.columns) != META_COLUMNS:
        raise InputError(f"{path}: expected the columns {','.join(META_COLUMNS)}, found {','.join(table.columns)}")
    labels = []
    for number, value in enumerate(table["label"], start=2):
        try:
            labels.append(parse_label(value))
        except InputError:
            raise InputError(f"{path}:{number}: label must be bona-fide or spoof, got {value!r}") from None
    return table.assign(label=labels)


def in_the_wild_clips(root) -> dict:
    meta_path = find_below(root, "meta.csv", EXPECTED_LAYOUT)
    table = read_meta(meta_path)
    if table.empty:
        raise CorpusLayoutError(f"{meta_path} lists no clips\n{EXPECTED_LAYOUT}")
    folder = meta_path.parent
    return {
        "eval": [
            ClipSpec(
                utt_id=Path(row.file).stem,
                source_path=str(folder / row.file),
                label=int(row.label),
                attack="-",
                speaker=row.speaker.strip() or "-",
            )
            for row in table.itertuples(index=False)
        ]
    }


# Read by ingest/corpora/registry.py without importing this module: keep it a literal.
KINDS = {"in_the_wild": {"described": "in_the_wild", "default_folder": "in_the_wild"}}

CORPORA = (Corpus("in_the_wild", lambda request: in_the_wild_clips(request.root)),)
