"""ASVspoof 5 (track 1, stand-alone countermeasures), read from its protocol files.

    <root>/.../ASVspoof5_protocols/ASVspoof5.train.tsv, ASVspoof5.dev.track_1.tsv,
                                   ASVspoof5.eval.track_1.tsv
    <root>/.../flac_T/, flac_D/, flac_E_eval/ (or flac_E/)   <file>.flac

Despite the `.tsv` name, a protocol line is ten whitespace-separated fields:
    SPEAKER_ID FLAC_FILE_NAME SPEAKER_GENDER CODEC CODEC_Q CODEC_SEED ATTACK_TAG ATTACK_LABEL KEY TMP
    D_0062 D_0000000001 F - - - AC3 A11 spoof -
The attack is ATTACK_LABEL (A01-A32); codec, codec quality and the attack's tag are kept as
manifest columns, the conditions results are broken down by.
"""

from deepfake_pipeline.common.errors import InputError
from deepfake_pipeline.ingest.corpora.protocols import find_below, find_folders, index_audio, read_fields
from deepfake_pipeline.ingest.corpora.registry import Corpus
from deepfake_pipeline.ingest.shards import ClipSpec

SPLITS = ("train", "dev", "eval")
PROTOCOL_NAMES = {
    "train": "ASVspoof5.train.tsv",
    "dev": "ASVspoof5.dev.track_1.tsv",
    "eval": "ASVspoof5.eval.track_1.tsv",
}
AUDIO_PREFIX = {"train": "flac_T", "dev": "flac_D", "eval": "flac_E"}
FIELDS = ("speaker", "utt_id", "gender", "codec", "codec_q", "codec_seed", "attack_tag", "attack", "label", "tmp")
EXAMPLE = "D_0062 D_0000000001 F - - - AC3 A11 spoof -"
CONDITIONS = ("codec", "codec_q", "attack_tag")
EXPECTED_LAYOUT = (
    "expected layout (ASVspoof5_protocols.tar.gz and the flac_*.tar files unpacked under the root):\n"
    "  <root>/ASVspoof5_protocols/ASVspoof5.{train,dev.track_1,eval.track_1}.tsv\n"
    "  <root>/flac_T/*.flac, <root>/flac_D/*.flac, <root>/flac_E_eval/*.flac"
)


def read_protocol(path) -> list:
    return read_fields(path, FIELDS, EXAMPLE)


def asvspoof5_clips(root, splits=SPLITS) -> dict:
    clips = {}
    for split in splits:
        if split not in PROTOCOL_NAMES:
            raise InputError(f"unknown ASVspoof 5 split {split!r}: choose from {', '.join(SPLITS)}")
        protocol = find_below(root, f"ASVspoof5_protocols/{PROTOCOL_NAMES[split]}", EXPECTED_LAYOUT)
        rows = read_protocol(protocol)
        folders = find_folders(root, lambda f, prefix=AUDIO_PREFIX[split]: f.name.startswith(prefix))
        audio = index_audio(folders, ".flac")
        fallback = folders[0] if folders else protocol.parent.parent / f"{AUDIO_PREFIX[split]}"
        clips[split] = [
            ClipSpec(
                utt_id=row["utt_id"],
                source_path=str(audio.get(row["utt_id"], fallback / f"{row['utt_id']}.flac")),
                label=row["label"],
                attack=row["attack"] if row["label"] == 1 else "-",
                speaker=row["speaker"],
                extra=tuple((name, row[name]) for name in CONDITIONS),
            )
            for row in rows
        ]
    return clips


# Read by ingest/corpora/registry.py without importing this module: keep it a literal.
KINDS = {"asvspoof5": {"described": "asvspoof5 (track 1)", "default_folder": "asvspoof5"}}

CORPORA = (
    Corpus(
        "asvspoof5",
        lambda request: asvspoof5_clips(request.root, request.splits or SPLITS),
    ),
)
