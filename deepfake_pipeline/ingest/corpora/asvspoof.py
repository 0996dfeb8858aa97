"""ASVspoof 2019 LA: the official layout and CM protocols.

    <root>/.../LA/ASVspoof2019_LA_{train,dev,eval}/flac/<utt>.flac
    <root>/.../LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt

The protocol, not the folder, lists the clips (the folders hold extra enrolment files).
"""

from pathlib import Path

from deepfake_pipeline.common.errors import InputError
from deepfake_pipeline.formats.asv_scores import asv_source_2019
from deepfake_pipeline.formats.labels import parse_label
from deepfake_pipeline.ingest.corpora import CorpusLayoutError, text_lines
from deepfake_pipeline.ingest.corpora.registry import Corpus
from deepfake_pipeline.ingest.shards import ClipSpec

SPLITS = ("train", "dev", "eval")
PROTOCOL_NAMES = {
    "train": "ASVspoof2019.LA.cm.train.trn.txt",
    "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
    "eval": "ASVspoof2019.LA.cm.eval.trl.txt",
}
PROTOCOL_DIR = "ASVspoof2019_LA_cm_protocols"
EXPECTED_LAYOUT = (
    "expected layout (LA.zip unpacked under the root; an extra LA/LA level as in the Kaggle copy "
    "is fine):\n"
    "  <root>/LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt\n"
    "  <root>/LA/ASVspoof2019_LA_{train,dev,eval}/flac/*.flac"
)


def find_la_dir(root) -> Path:
    """The folder holding the protocol folder: the root itself or an `LA` folder below it."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusLayoutError(f"corpus root {root} does not exist\n{EXPECTED_LAYOUT}")
    candidates = [root] + sorted(
        p.parent for p in root.glob("**/" + PROTOCOL_DIR) if len(p.relative_to(root).parts) <= 4
    )
    for candidate in candidates:
        if (candidate / PROTOCOL_DIR).is_dir():
            return candidate
    raise CorpusLayoutError(f"no {PROTOCOL_DIR}/ folder under {root}\n{EXPECTED_LAYOUT}")


def read_protocol(path) -> list:
    """Parse `SPEAKER UTT - ATTACK KEY` lines into dicts; a malformed line, or a clip listed
    twice, stops the run."""
    entries: list = []
    first_line: dict = {}
    for number, line in enumerate(text_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 5:
            raise InputError(f"{path}:{number}: expected 5 fields `SPEAKER UTT - ATTACK KEY`, got {line!r}")
        speaker, utt_id, _, attack, key = fields
        try:
            label = parse_label(key)
        except InputError:
            raise InputError(f"{path}:{number}: key must be bonafide or spoof, got {key!r}") from None
        if utt_id in first_line:
            raise InputError(
                f"{path}:{number}: {utt_id} is already on line {first_line[utt_id]}: each clip "
                "must be listed once (is the protocol file damaged? the official one lists none twice)"
            )
        first_line[utt_id] = number
        entries.append({"speaker": speaker, "utt_id": utt_id, "attack": attack, "label": label})
    return entries


def asv_scores_of(root, split: str) -> dict | None:
    """The organisers' ASV scores of a split (LA.zip ships them for dev and eval), for the t-DCF."""
    return asv_source_2019(find_la_dir(root), split)


def asvspoof_clips(root, splits=SPLITS) -> dict:
    """{split: [ClipSpec]} in protocol order. Missing protocol or audio folder stops the run;
    a protocol line whose file is missing becomes a `missing` reject during ingestion."""
    la_dir = find_la_dir(root)
    clips = {}
    for split in splits:
        if split not in PROTOCOL_NAMES:
            raise InputError(f"unknown ASVspoof 2019 LA split {split!r}: choose from {', '.join(SPLITS)}")
        protocol = la_dir / PROTOCOL_DIR / PROTOCOL_NAMES[split]
        if not protocol.is_file():
            raise CorpusLayoutError(f"missing protocol {protocol}\n{EXPECTED_LAYOUT}")
        flac_dir = la_dir / f"ASVspoof2019_LA_{split}" / "flac"
        if not flac_dir.is_dir():
            raise CorpusLayoutError(f"missing audio folder {flac_dir}\n{EXPECTED_LAYOUT}")
        clips[split] = [
            ClipSpec(
                utt_id=e["utt_id"],
                source_path=str(flac_dir / f"{e['utt_id']}.flac"),
                label=e["label"],
                attack=e["attack"],
                speaker=e["speaker"],
            )
            for e in read_protocol(protocol)
        ]
    return clips


# Read by ingest/corpora/registry.py without importing this module: keep it a literal.
KINDS = {"asvspoof2019": {"described": "asvspoof2019 (LA)", "default_folder": "asvspoof"}}

CORPORA = (
    Corpus(
        "asvspoof2019",
        lambda request: asvspoof_clips(request.root, request.splits or SPLITS),
        asv_scores=lambda request, split: asv_scores_of(request.root, split),
    ),
)
