"""FakeAVCeleb v1.2: mp4 videos plus meta_data.csv.

The audio label comes from the `type` suffix (`...-FakeAudio` spoof, `...-RealAudio` bona fide);
the attack of a fake audio track is its generator, rtvc, and the video method is kept beside it.
The train/dev/eval split is drawn over `source` identities (never clip by clip), seeded, and saved
beside the manifests so every later run and stage reads the same split. FakeVideo-RealAudio clips
usually carry a copy of a real clip's audio; `flag_duplicates` marks identical decoded audio.
"""

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.errors import InputError
from deepfake_pipeline.common.progress import note
from deepfake_pipeline.formats.labels import BONAFIDE, SPOOF
from deepfake_pipeline.formats.manifest import read_manifest, write_manifest
from deepfake_pipeline.ingest.corpora import CorpusLayoutError, safe_id
from deepfake_pipeline.ingest.corpora.registry import Corpus, CorpusRequest
from deepfake_pipeline.ingest.shards import ClipSpec

# The metadata's `method` names how the VIDEO was made (fsgan-wav2lip, faceswap, ...); every fake
# audio track of the corpus was cloned with SV2TTS ("rtvc", Khalid et al., NeurIPS 2021 datasets
# track, section 3), the method of the audio-only fakes (RealVideo-FakeAudio). The per-attack
# table names that generator; the video method stays in the manifest as a condition.
AUDIO_GENERATOR = "rtvc"
CATEGORIES = ("RealVideo-RealAudio", "RealVideo-FakeAudio", "FakeVideo-RealAudio", "FakeVideo-FakeAudio")
META_COLUMNS = ["source", "target1", "target2", "method", "category", "type", "race", "gender", "filename", "path"]
SPLITS = ("train", "dev", "eval")
SPLIT_FRACTIONS = {"train": 0.7, "dev": 0.15, "eval": 0.15}
MEDIA_SUFFIXES = (".mp4", ".wav", ".flac", ".m4a", ".mp3")
EXPECTED_LAYOUT = (
    "expected layout:\n"
    "  <root>/[FakeAVCeleb_v1.2/]meta_data.csv\n"
    "  <root>/[FakeAVCeleb_v1.2/]{RealVideo-RealAudio,RealVideo-FakeAudio,FakeVideo-RealAudio,"
    "FakeVideo-FakeAudio}/<race>/<gender>/<identity>/<file>.mp4"
)


def read_metadata(path) -> pd.DataFrame:
    """Both header variants seen in the wild: the 10-name header, and a 9-name header ending in
    `path,` whose rows still carry 10 values. Of the last two values, the one naming a media file
    is the filename and the other the folder, whatever the header says."""
    try:
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            # an empty file: the header check below refuses it by name (next() alone raised StopIteration)
            header = [name.strip() for name in next(reader, [])]
            # each row with the physical line it starts on: a quoted value may span lines
            rows, start = [], reader.line_num + 1
            for row in reader:
                if any(value.strip() for value in row):
                    rows.append((start, row))
                start = reader.line_num + 1
    except UnicodeDecodeError as error:
        raise InputError(f"{path} is not a text file ({error})") from None
    while header and header[-1] == "":
        header.pop()
    if header[:8] != META_COLUMNS[:8]:
        raise InputError(f"{path}: unrecognised header {header}; expected {','.join(META_COLUMNS)}")
    records = []
    for number, row in rows:
        if len(row) != 10:
            raise InputError(f"{path}:{number}: expected 10 values, got {len(row)}")
        first, second = row[8].strip(), row[9].strip()
        filename, folder = (first, second) if first.lower().endswith(MEDIA_SUFFIXES) else (second, first)
        records.append(
            dict(
                zip(META_COLUMNS[:8], (v.strip() for v in row[:8]), strict=True),
                filename=filename,
                path=folder,
                line=number,
            )
        )
    frame = pd.DataFrame(records, columns=META_COLUMNS + ["line"])
    unknown = sorted(set(frame["type"]) - set(CATEGORIES))
    if unknown:
        first_line = int(frame.loc[~frame["type"].isin(CATEGORIES), "line"].iloc[0])
        raise InputError(
            f"{path}:{first_line}: unknown type values {unknown} (the first on this line); expected {CATEGORIES}"
        )
    return frame


def find_dataset_dir(root) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise CorpusLayoutError(f"corpus root {root} does not exist\n{EXPECTED_LAYOUT}")
    for candidate in [
        root,
        *sorted(p.parent for p in root.glob("*/meta_data.csv")),
        *sorted(p.parent for p in root.glob("*/*/meta_data.csv")),
    ]:
        if (candidate / "meta_data.csv").is_file():
            return candidate
    raise CorpusLayoutError(f"no meta_data.csv under {root}\n{EXPECTED_LAYOUT}")


def identity_split(sources, seed: int) -> dict:
    """Seeded split of identities into train/dev/eval in SPLIT_FRACTIONS proportions."""
    identities = sorted(set(sources))
    order = np.random.default_rng(seed).permutation(len(identities))
    n_train = int(round(SPLIT_FRACTIONS["train"] * len(identities)))
    n_dev = int(round(SPLIT_FRACTIONS["dev"] * len(identities)))
    assignment = {}
    for rank, index in enumerate(order):
        assignment[identities[index]] = "train" if rank < n_train else "dev" if rank < n_train + n_dev else "eval"
    return assignment


def load_or_make_split(meta: pd.DataFrame, split_file: Path, seed: int) -> dict:
    """Reuse the saved split so every run reads the same one; make and save it the first time."""
    if split_file.is_file():
        try:
            saved = json.loads(split_file.read_text())
        except ValueError as error:  # json's JSONDecodeError, or bytes that are not UTF-8
            raise InputError(
                f"{split_file} is damaged ({error}); delete it to draw a new split (every later stage "
                "must then be rerun)"
            ) from None
        missing = sorted(set(meta["source"]) - set(saved["assignment"]))
        if missing:
            raise InputError(
                f"{split_file} has no split for identities {missing[:5]}; delete it to draw a new "
                "split (every later stage must then be rerun)"
            )
        if saved["seed"] != seed:
            note(
                f"[preprocess] using the saved identity split {split_file} (seed {saved['seed']}); "
                f"--seed {seed} is ignored while that file exists"
            )
        return saved["assignment"]
    assignment = identity_split(meta["source"], seed)
    atomic.make_dirs(split_file.parent)
    atomic.write_text(
        split_file,
        json.dumps({"seed": seed, "fractions": SPLIT_FRACTIONS, "assignment": assignment}, indent=1, sort_keys=True),
    )
    return assignment


def _video_path(dataset_dir: Path, folder: str, filename: str) -> Path:
    """meta_data.csv paths start at `FakeAVCeleb_v1.2/<type>/...`: keep the part from the type on."""
    parts = Path(folder).parts
    start = next((i for i, part in enumerate(parts) if part in CATEGORIES), 0)
    return dataset_dir.joinpath(*parts[start:], filename)


def _once_per_file(meta: pd.DataFrame, meta_path: Path) -> pd.DataFrame:
    """One row per video. v1.2 lists 22 files twice (methods faceswap-wav2lip and wav2lip, the
    same type): each becomes one clip with its first line's values, said in one log line. A file
    listed under both audio labels is refused."""
    key = [
        str(_video_path(Path("."), folder, name)) for folder, name in zip(meta["path"], meta["filename"], strict=True)
    ]
    first, repeats = {}, []
    for index, (video, row) in enumerate(zip(key, meta.itertuples(index=False), strict=True)):
        if video not in first:
            first[video] = index
            continue
        earlier = meta.iloc[first[video]]
        if earlier["type"].endswith("FakeAudio") != row.type.endswith("FakeAudio"):
            raise InputError(
                f"{meta_path}:{row.line}: {video} is already on line {earlier['line']} with the other "
                f"audio label ({earlier['type']} there, {row.type} here): fix meta_data.csv so each "
                "file has one label"
            )
        repeats.append(index)
    if repeats:
        name = meta_path.name
        examples = ", ".join(
            f"{name}:{meta.iloc[i]['line']} repeats {name}:{meta.iloc[first[key[i]]]['line']}" for i in repeats[:3]
        )
        print(
            f"[preprocess] {meta_path} lists {len(repeats)} files a second time; each is one clip with "
            f"its first line's values ({examples}{', ...' if len(repeats) > 3 else ''})"
        )
    return meta.drop(index=meta.index[repeats])


def fakeavceleb_clips(root, split_file: Path, seed: int = 0, splits=SPLITS) -> dict:
    dataset_dir = find_dataset_dir(root)
    meta = read_metadata(dataset_dir / "meta_data.csv")
    if not any((dataset_dir / category).is_dir() for category in CATEGORIES):
        raise CorpusLayoutError(f"no category folders beside {dataset_dir / 'meta_data.csv'}\n{EXPECTED_LAYOUT}")
    assignment = load_or_make_split(meta, split_file, seed)
    meta = _once_per_file(meta, dataset_dir / "meta_data.csv")
    clips: dict = {split: [] for split in splits}
    for row in meta.itertuples(index=False):
        split = assignment[row.source]
        if split not in clips:
            continue
        video = _video_path(dataset_dir, row.path, row.filename)
        category = row.type
        label = SPOOF if category.endswith("FakeAudio") else BONAFIDE
        rel = video.relative_to(dataset_dir).with_suffix("")
        clips[split].append(
            ClipSpec(
                utt_id=safe_id("FAVC_" + "_".join(rel.parts)),
                source_path=str(video),
                label=label,
                attack=AUDIO_GENERATOR if label == SPOOF else "-",
                speaker=row.source,
                extra=(("category", category), ("method", row.method)),
            )
        )
    return clips


def flag_duplicates(split_dirs: list) -> pd.DataFrame:
    """Mark clips whose decoded audio is identical to an earlier clip's (RealVideo-RealAudio
    first), across all splits of the corpus. Adds `duplicate_of` to each manifest and returns the
    duplicate rows."""
    manifests = {d: read_manifest(Path(d) / "manifest.csv") for d in split_dirs}
    combined = pd.concat(manifests.values(), ignore_index=True)
    rank = combined["category"].map({c: i for i, c in enumerate(CATEGORIES)})
    ordered = combined.assign(_rank=rank).sort_values(["_rank", "utt_id"], kind="stable")
    first_of_hash = ordered.drop_duplicates("audio_sha1").set_index("audio_sha1")["utt_id"]
    for split_dir, manifest in manifests.items():
        original = manifest["audio_sha1"].map(first_of_hash)
        manifest["duplicate_of"] = np.where(original != manifest["utt_id"], original, "")
        write_manifest(manifest, split_dir)
    flagged = pd.concat(manifests.values(), ignore_index=True)
    return flagged[flagged["duplicate_of"] != ""]


def _clips(request: CorpusRequest) -> dict:
    split_file = request.interim_dir / f"{request.name}_identity_split.json"
    return fakeavceleb_clips(request.root, split_file, request.seed, request.splits or SPLITS)


def _after_ingest(request: CorpusRequest, split_dirs: list) -> str:
    duplicates = flag_duplicates(split_dirs)
    by_category = duplicates["category"].value_counts().sort_index().to_dict()
    return (
        f"[preprocess {request.name}] {len(duplicates):,} clips share their decoded audio with an "
        f"earlier clip (column duplicate_of): {by_category or 'none'}"
    )


# Read by ingest/corpora/registry.py without importing this module: keep it a literal.
KINDS = {"fakeavceleb": {"described": "fakeavceleb (v1.2)", "default_folder": "fakeav"}}

CORPORA = (Corpus("fakeavceleb", _clips, after_ingest=_after_ingest),)
