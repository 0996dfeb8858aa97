"""ASVspoof 2021 LA and DF evaluation data, read from the organisers' keys.

    <root>/.../keys/{LA,DF}/CM/trial_metadata.txt
    <root>/.../ASVspoof2021_{LA,DF}_eval[_partNN]/flac/<utt>.flac

Key lines (the evaluation package's own column names):
    LA: spk trial codec trans attack label trim subset
        LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval
    DF: speaker trial compr source attack label trim subset vocoder task team gender-pair language
        LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -

The organisers rank on the `eval` subset (the `progress` trials were scored during the challenge
and the `hidden_track` ones are trimmed variants), so that is what is ingested by default. The
conditions the package breaks results down by are kept as manifest columns: codec and
transmission channel for LA, codec (`compr`), source corpus and vocoder family for DF.
"""

from deepfake_pipeline.common.errors import InputError
from deepfake_pipeline.formats.asv_scores import asv_source_2021
from deepfake_pipeline.ingest.corpora import CorpusLayoutError
from deepfake_pipeline.ingest.corpora.protocols import find_below, find_folders, index_audio, read_fields
from deepfake_pipeline.ingest.corpora.registry import Corpus, CorpusRequest
from deepfake_pipeline.ingest.shards import ClipSpec

TRACKS = ("LA", "DF")
FIELDS = {
    "LA": ("speaker", "utt_id", "codec", "trans", "attack", "label", "trim", "subset"),
    "DF": (
        "speaker",
        "utt_id",
        "compr",
        "source",
        "attack",
        "label",
        "trim",
        "subset",
        "vocoder",
        "task",
        "team",
        "gender_pair",
        "language",
    ),
}
EXAMPLES = {
    "LA": "LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval",
    "DF": "LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -",
}
CONDITIONS = {"LA": ("codec", "trans"), "DF": ("compr", "source", "vocoder")}
DEFAULT_SUBSETS = ("eval",)


def expected_layout(track: str) -> str:
    return (
        f"expected layout (ASVspoof2021_{track}_eval.tar.gz and the keys, {track}-keys-full.tar.gz, "
        "unpacked under the root):\n"
        f"  <root>/keys/{track}/CM/trial_metadata.txt\n"
        f"  <root>/ASVspoof2021_{track}_eval/flac/*.flac   (DF: the _partNN folders are fine)"
    )


def read_keys(path, track: str) -> list:
    return read_fields(path, FIELDS[track], EXAMPLES[track])


def asv_scores_of(root, track: str, subsets=DEFAULT_SUBSETS) -> dict | None:
    """The organisers' ASV keys and scores (`keys/LA/ASV/`), for the t-DCF of one subset; None
    for DF (no ASV scores) or when several subsets are ingested together."""
    if subsets is None or len(subsets) != 1:
        return None
    keys = find_below(root, f"keys/{track}/CM/trial_metadata.txt", expected_layout(track), case_insensitive=True)
    return asv_source_2021(keys.parents[2], subsets[0], track)


def asvspoof2021_clips(root, track: str, subsets=DEFAULT_SUBSETS) -> dict:
    """{"eval": [ClipSpec]} in key-file order, the chosen subsets only (all of them: None). A key
    line whose audio file is missing becomes a `missing` reject during ingestion."""
    if track not in TRACKS:
        raise InputError(f"unknown ASVspoof 2021 track {track!r}: choose LA or DF")
    layout = expected_layout(track)
    keys = find_below(root, f"keys/{track}/CM/trial_metadata.txt", layout, case_insensitive=True)
    rows = read_keys(keys, track)
    found = sorted({row["subset"] for row in rows})
    if subsets is not None:
        unknown = sorted(set(subsets) - set(found))
        if unknown:
            raise InputError(f"{keys} has no {unknown} trials; its subsets are {found}")
        rows = [row for row in rows if row["subset"] in subsets]
    flac_dirs = [
        folder / "flac"
        for folder in find_folders(
            root, lambda f: f.name.startswith(f"ASVspoof2021_{track}_eval") and (f / "flac").is_dir()
        )
    ]
    if not flac_dirs:
        raise CorpusLayoutError(f"no ASVspoof2021_{track}_eval*/flac/ folder under {root}\n{layout}")
    audio = index_audio(flac_dirs, ".flac")
    missing_dir = flac_dirs[0]
    clips = [
        ClipSpec(
            utt_id=row["utt_id"],
            source_path=str(audio.get(row["utt_id"], missing_dir / f"{row['utt_id']}.flac")),
            label=row["label"],
            attack=row["attack"],
            speaker=row["speaker"],
            extra=tuple((name, row[name]) for name in (*CONDITIONS[track], "subset")),
        )
        for row in rows
    ]
    return {"eval": clips}


def _subsets(request: CorpusRequest) -> tuple | None:
    return None if request.subset == "all" else (request.subset,)


# Read by ingest/corpora/registry.py without importing this module: keep it a literal.
KINDS = {
    "asvspoof2021_la": {
        "described": "asvspoof2021_la / asvspoof2021_df (eval data + keys)",
        "default_folder": "asvspoof2021",
    },
    "asvspoof2021_df": {"described": "", "default_folder": "asvspoof2021"},
}

CORPORA = (
    Corpus(
        "asvspoof2021_la",
        lambda request: asvspoof2021_clips(request.root, "LA", _subsets(request)),
        asv_scores=lambda request, split: asv_scores_of(request.root, "LA", _subsets(request)),
    ),
    Corpus(
        "asvspoof2021_df",
        lambda request: asvspoof2021_clips(request.root, "DF", _subsets(request)),
    ),
)
