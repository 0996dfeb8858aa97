"""What a fusion needs to know about the trials its inputs scored, read from step 1's files: each
trial's label, speaker, attack and recording conditions, the split's ASV scores (for the t-DCF),
and the trials the corpus listed that were not scored. The manifest must be the one the runs
recorded (same SHA-256): anything else could hold other labels under the same utt_ids."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepfake_pipeline.common.errors import PipelineError
from deepfake_pipeline.formats.asv_scores import load_asv_scores
from deepfake_pipeline.formats.feature_sets import CONDITION_COLUMNS
from deepfake_pipeline.formats.manifest import ManifestError, manifest_sha256, read_manifest
from deepfake_pipeline.formats.wavestore import StoreError, read_info


class TrialsError(PipelineError, ValueError):
    """The trials cannot be read as the runs scored them; the message says why and what to do."""


@dataclass
class Trials:
    split_id: str
    utt_ids: list
    labels: np.ndarray
    speakers: np.ndarray
    attacks: np.ndarray
    conditions: dict  # condition column -> value per trial
    info: dict  # the split's info.json
    left_out: dict  # reason -> listed trials not scored (step 1's rejects, copies left out)

    @property
    def demo(self) -> bool:
        return bool(self.info.get("demo"))

    def asv(self, note=None):
        """(ASV scores, t-DCF version) where step 1 found the organisers' ASV scores, else None; a
        recorded file that has since moved is said through `note`, as step 3 says it."""
        try:
            return load_asv_scores(self.info.get("asv_scores"))
        except FileNotFoundError as error:
            if note is not None:
                note(
                    f"WARNING: no min t-DCF for {self.split_id}: {error}; rerun preprocess_datasets.py --overwrite "
                    "for it if the corpus moved"
                )
            return None


def read_trials(interim_dir, split_id: str, utt_ids, recorded_sha256: str) -> Trials:
    """The trials `utt_ids` of `split_id`, in that order, from a manifest whose SHA-256 is the
    one the runs recorded."""
    split_dir = Path(interim_dir) / split_id
    try:
        manifest = read_manifest(split_dir / "manifest.csv")
        info = read_info(split_dir)
    except (ManifestError, StoreError) as error:
        raise TrialsError(f"{error} (the runs' labels and speakers of {split_id} are read from it)") from None
    current = manifest_sha256(split_dir)
    if current != recorded_sha256:
        raise TrialsError(
            f"the manifest of {split_id} under {split_dir} is not the one the runs scored (SHA-256 "
            f"{recorded_sha256[:12]}... recorded, {current[:12]}... now): give the --interim-dir they ran on, or "
            "rerun them on the current manifest"
        )
    position = {utt: i for i, utt in enumerate(manifest["utt_id"].tolist())}
    unknown = [utt for utt in utt_ids if utt not in position]
    if unknown:
        raise TrialsError(f"{len(unknown)} scored utterances are not in {split_id}'s manifest (e.g. {unknown[:3]})")
    rows = np.array([position[utt] for utt in utt_ids], dtype=np.int64)
    kept = manifest.iloc[rows]
    labels = kept["label"].to_numpy(dtype=np.int64)
    if np.any(labels < 0):
        raise TrialsError(f"{split_id} holds unlabelled trials: a fusion is fitted and evaluated on labelled ones")
    left_out = {str(k): int(v) for k, v in (info.get("rejected_by_reason") or {}).items() if v}
    unscored = manifest.drop(index=manifest.index[rows])
    if len(unscored):
        copies = unscored["duplicate_of"].astype(str) != "" if "duplicate_of" in unscored.columns else None
        if copies is None or not bool(copies.all()):
            raise TrialsError(
                f"the runs scored {len(rows)} of {split_id}'s {len(manifest)} clips, and some of those left out are "
                "not copies (duplicate_of): these score files do not cover the split as step 3 scores it"
            )
        left_out["duplicate_of"] = left_out.get("duplicate_of", 0) + len(unscored)
    return Trials(
        split_id=split_id,
        utt_ids=list(utt_ids),
        labels=labels,
        speakers=kept["speaker"].to_numpy(dtype=str),
        attacks=kept["attack"].to_numpy(dtype=str),
        conditions={c: kept[c].to_numpy(dtype=str) for c in CONDITION_COLUMNS if c in kept.columns},
        info=info,
        left_out=left_out,
    )
