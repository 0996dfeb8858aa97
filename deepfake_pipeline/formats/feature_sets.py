"""The features of corpus splits, aligned with their manifests: one matrix per "view" (spectral
features, one layer, a concatenation of layers) plus labels, speakers and attacks in manifest
order, and the metadata that decides whether numbers from these splits may be compared (same
model across splits) and how they must be labelled (untrained model, demo corpus)."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepfake_pipeline.common.progress import note
from deepfake_pipeline.formats import feature_files as feature_store
from deepfake_pipeline.formats.embedding_views import embedding_views, view_key  # noqa: F401 (view_key: re-exported)
from deepfake_pipeline.formats.feature_files import FEATURE_COLUMNS, FeatureError
from deepfake_pipeline.formats.manifest import ManifestError, read_manifest
from deepfake_pipeline.formats.model_identity import ModelIdentity, ModelIdentityError, difference, identify
from deepfake_pipeline.formats.paths import INTERIM_DIR, PROCESSED_DIR
from deepfake_pipeline.formats.wavestore import StoreError, read_info

FEATURE_KINDS = ("spectral", "embeddings")
# Manifest columns that name a recording condition results are broken down by (step 1 keeps them
# from the corpora's own files): ASVspoof 2021 LA codec and transmission, DF codec, source corpus
# and vocoder family, ASVspoof 5 codec, its quality and the attack's tag, FakeAVCeleb's video
# method.
CONDITION_COLUMNS = ("codec", "trans", "compr", "source", "vocoder", "codec_q", "attack_tag", "method")


@dataclass(frozen=True)
class FeatureSpec:
    """What to fit on: `spectral`, or `embeddings` of `model` with one `layer`, a concatenation
    of `layers`, or a `sweep` over every stored layer."""

    kind: str = "spectral"
    model: str | None = None
    layer: int | None = None
    layers: tuple | None = None
    sweep: bool = False

    def describe(self) -> str:
        if self.kind == "spectral":
            return "spectral features (centroid, entropy, 13 MFCC means)"
        model = self.model or "embeddings"
        if self.sweep:
            return f"{model}, layer sweep"
        if self.layers:
            return f"{model}, layers {'+'.join(map(str, self.layers))} concatenated"
        return f"{model}, layer {self.layer}"


@dataclass
class SplitFeatures:
    split_id: str
    split_dir: Path
    utt_ids: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    attacks: np.ndarray
    views: Mapping  # view key -> (clips, features): spectral float32 in memory, embeddings
    # read from disk each time asked for (embedding_views.py), float16 as stored
    view_layers: dict  # view key -> model layers in it ([] for spectral)
    meta: dict  # feature metadata (embeddings json, or spectral file info)
    info: dict  # the split's info.json
    untrained: bool = False
    demo: bool = False
    rows: np.ndarray | None = None  # manifest positions of these clips (all unless some were left out)
    left_out_duplicates: int = 0  # clips left out as copies of another clip's audio (duplicate_of)
    audio_sha1: np.ndarray | None = None  # each clip's decoded-audio hash, for the overlap checks
    origin_sha1: np.ndarray | None = None  # the hash of the audio each clip was made from: its own,
    # or for a clip of a derived split (augment/derive.py) its original's, which the checks compare too
    conditions: dict | None = None  # condition column -> value per clip (codec, channel, vocoder ...)
    members: tuple = ()  # the splits a union of training splits stacks (split_union.py); () for one split

    def __len__(self):
        return len(self.utt_ids)

    @property
    def has_labels(self) -> bool:
        return bool(len(self.labels)) and bool(np.all(self.labels >= 0))

    def left_out(self) -> dict:
        """Reason -> count of the trials the corpus listed for this split that are not scored:
        step 1's rejects (info.json) and the copies left out (`duplicate_of`)."""
        counts = {str(reason): int(count) for reason, count in (self.info.get("rejected_by_reason") or {}).items()}
        if self.left_out_duplicates:
            counts["duplicate_of"] = counts.get("duplicate_of", 0) + int(self.left_out_duplicates)
        return {reason: count for reason, count in counts.items() if count}

    def metadata(self) -> dict:
        """What config.json records about this split's features (a union: each member's)."""
        if self.members:
            return {"split_id": self.split_id, "members": {m.split_id: m.metadata() for m in self.members}}
        return {
            "split_id": self.split_id,
            "num_clips": len(self),
            "num_bonafide": int(np.sum(self.labels == 0)),
            "num_spoof": int(np.sum(self.labels == 1)),
            "num_unlabelled": int(np.sum(self.labels < 0)),
            "manifest_sha256": feature_store.manifest_sha256(self.split_dir),
            "untrained": self.untrained,
            "demo": self.demo,
            "features": self.meta,
            "split_info": self.info,
        }


def available_splits(interim_dir) -> list:
    interim_dir = Path(interim_dir)
    return sorted(p.parent.name for p in interim_dir.glob("*/manifest.csv")) if interim_dir.is_dir() else []


def _read_split(split_id: str, interim_dir) -> tuple:
    split_dir = Path(interim_dir) / split_id
    if not (split_dir / "manifest.csv").is_file():
        known = available_splits(interim_dir)
        raise FeatureError(
            f"unknown split {split_id!r}: no {split_dir / 'manifest.csv'}. Splits under {interim_dir}: "
            f"{', '.join(known) or 'none'}. Run preprocess_datasets.py for that corpus first "
            "(split ids are <corpus name>_<split>, e.g. asvspoof2019_dev)"
        )
    try:
        manifest = read_manifest(split_dir / "manifest.csv")
    except ManifestError as error:
        raise FeatureError(str(error)) from None
    try:
        info = read_info(split_dir)
    except StoreError as error:
        raise FeatureError(str(error)) from None
    return split_dir, manifest, info


def _spectral_views(split_id, manifest, interim_dir, processed_dir) -> tuple:
    # load_spectral refuses a file computed from another manifest (or without its metadata).
    table = feature_store.load_spectral(split_id, processed_dir, interim_dir)
    command = feature_store.rerun_command(split_id, "spectral", interim_dir=interim_dir, processed_dir=processed_dir)
    missing_columns = [c for c in FEATURE_COLUMNS if c not in table.columns]
    if missing_columns:
        raise FeatureError(
            f"{feature_store.spectral_path(split_id, processed_dir)} lacks columns "
            f"{missing_columns}: run `{command} --overwrite`"
        )
    ids = manifest["utt_id"].to_numpy()
    if len(table) != len(ids) or not np.array_equal(table["file"].to_numpy(dtype=str), ids.astype(str)):
        raise FeatureError(
            f"spectral features of {split_id} ({len(table)} rows) do not match its manifest "
            f"({len(ids)} clips, same order): run `{command} --overwrite`"
        )
    if "label" in table.columns and not np.array_equal(
        table["label"].to_numpy(dtype=np.int64), manifest["label"].to_numpy(dtype=np.int64)
    ):
        raise FeatureError(
            f"the labels in the spectral features of {split_id} differ from its manifest's: run `{command} --overwrite`"
        )
    # C order, as the fits have always seen it (pandas may hand over a column-major array, whose
    # sums run in another order and round differently in the last bit)
    values = np.ascontiguousarray(table[FEATURE_COLUMNS].to_numpy(dtype=np.float32))
    if not np.all(np.isfinite(values)):
        raise FeatureError(f"spectral features of {split_id} hold NaN or inf: run `{command} --overwrite`")
    sidecar = feature_store.read_spectral_meta(split_id, processed_dir) or {}
    meta = {
        "kind": "spectral",
        "columns": list(FEATURE_COLUMNS),
        "path": str(feature_store.spectral_path(split_id, processed_dir)),
        "manifest_sha256": sidecar.get("manifest_sha256"),
    }
    return {"spectral": values}, {"spectral": []}, meta


def available_models(split_id: str, processed_dir) -> list:
    folder = Path(processed_dir) / split_id / "embeddings"
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def resolve_model_tag(spec: FeatureSpec, split_id: str, processed_dir) -> str:
    """The embeddings file to read: the tag of --model (computed in float32, else in bfloat16),
    the tag itself when --model names one, or the only one present."""
    tags = available_models(split_id, processed_dir)
    if spec.model:
        if spec.model in tags:
            return spec.model
        requested = requested_identity(spec)
        for precision in ("float32", "bfloat16"):
            if requested.tag(precision) in tags:
                return requested.tag(precision)
        raise FeatureError(
            f"no embeddings of {spec.model} for {split_id} under {Path(processed_dir) / split_id / 'embeddings'} "
            f"(available: {', '.join(tags) or 'none'}): "
            f"run `features.py --splits {split_id} --model {spec.model}` first"
        )
    if len(tags) == 1:
        return tags[0]
    raise FeatureError(
        f"{'several' if tags else 'no'} embeddings for {split_id} under {Path(processed_dir) / split_id}"
        f"{' (' + ', '.join(tags) + ')' if tags else ''}: "
        + ("name one with --model" if tags else f"run `features.py --splits {split_id} --model <model>` first")
    )


def requested_identity(spec: FeatureSpec) -> ModelIdentity:
    """Which model --model names, identified as step 2 identifies it (a folder by its files)."""
    assert spec.model is not None  # embeddings are requested
    try:
        return identify(spec.model)
    except ModelIdentityError as error:
        raise FeatureError(
            f"--model {spec.model}: {error}; name the embeddings by their file name instead "
            "(e.g. --model local-ckpt-0123456789ab, as listed under data/processed/<split>/embeddings/)"
        ) from None


def check_model_identity(spec: FeatureSpec, split_id: str, tag: str, meta: dict, interim_dir, processed_dir) -> None:
    """Refuse embeddings that another model than --model computed, whatever their file is called."""
    if not spec.model or spec.model == tag:
        return
    problem = difference(ModelIdentity.from_json(meta.get("model_identity")), requested_identity(spec))
    if problem:
        command = feature_store.rerun_command(
            split_id, "embeddings", spec.model, meta.get("precision", "float32"), interim_dir, processed_dir
        )
        raise FeatureError(
            f"the {tag} embeddings of {split_id} are not those of --model {spec.model}: {problem}. "
            f"Run `{command}` (it recomputes them)"
        )


def load_split(
    split_id: str,
    spec: FeatureSpec,
    interim_dir=INTERIM_DIR,
    processed_dir=PROCESSED_DIR,
    require_labels: bool = True,
    model_tag: str | None = None,
    keep_duplicates: bool = False,
) -> SplitFeatures:
    """A split's feature views aligned with its manifest. `require_labels` refuses a split
    holding unlabelled clips (label -1), which can be scored but not evaluated. Clips that step 1
    marked as copies of another clip's audio (FakeAVCeleb's `duplicate_of`) are left out unless
    `keep_duplicates`: a copy scored twice counts one trial twice."""
    if spec.kind not in FEATURE_KINDS:
        raise FeatureError(f"--features must be one of {FEATURE_KINDS}, got {spec.kind!r}")
    split_dir, manifest, info = _read_split(split_id, interim_dir)
    labels = manifest["label"].to_numpy(dtype=np.int64)
    if require_labels and np.any(labels < 0):
        raise FeatureError(
            f"split {split_id} has {int(np.sum(labels < 0))} unlabelled clips (label -1): it cannot be "
            "evaluated. Score such clips with `eval_logreg.py --score PATH --from-run results/<run>`, "
            "or give the corpus labels (real/ and fake/ subfolders, or a label column)"
        )
    if require_labels and set(np.unique(labels).tolist()) != {0, 1}:
        only = "bona fide" if set(labels.tolist()) == {0} else "spoof"
        raise FeatureError(
            f"split {split_id} holds only {only} clips: ROC-AUC and EER need both bona fide and spoof "
            "trials. Add clips of the other class (or combine corpora in one CSV), or score these clips "
            "with `eval_logreg.py --score PATH --from-run results/<run>`"
        )
    rows = np.arange(len(manifest))
    if not keep_duplicates and "duplicate_of" in manifest.columns:
        rows = np.flatnonzero(manifest["duplicate_of"].to_numpy(dtype=str) == "")
    # The clips kept are picked from a view only when some are left out (no copy otherwise).
    some = rows if len(rows) < len(manifest) else None
    if spec.kind == "spectral":
        views, view_layers, meta = _spectral_views(split_id, manifest, interim_dir, processed_dir)
        views = views if some is None else {key: values[some] for key, values in views.items()}
        untrained = False
    else:
        tag = model_tag or resolve_model_tag(spec, split_id, processed_dir)
        views, view_layers, meta = embedding_views(split_id, spec, tag, interim_dir, processed_dir, some)
        check_model_identity(spec, split_id, tag, meta, interim_dir, processed_dir)
        if meta.get("num_clips") != len(manifest):
            raise FeatureError(
                f"the {tag} embeddings of {split_id} have {meta.get('num_clips')} clips, its "
                f"manifest {len(manifest)}: rerun `features.py --splits {split_id}`"
            )
        untrained = bool(meta.get("untrained")) or str(meta.get("model", "")).startswith("random:")
    demo = bool(info.get("demo")) or bool(meta.get("demo"))
    kept = manifest.iloc[rows]
    return SplitFeatures(
        split_id=split_id,
        split_dir=split_dir,
        utt_ids=kept["utt_id"].to_numpy(dtype=str),
        labels=labels[rows],
        speakers=kept["speaker"].to_numpy(dtype=str),
        attacks=kept["attack"].to_numpy(dtype=str),
        views=views,
        view_layers=view_layers,
        meta=meta,
        info=info,
        untrained=untrained,
        demo=demo,
        rows=rows,
        left_out_duplicates=len(manifest) - len(rows),
        audio_sha1=kept["audio_sha1"].to_numpy(dtype=str),
        origin_sha1=_origin_sha1(kept),
        conditions={c: kept[c].to_numpy(dtype=str) for c in CONDITION_COLUMNS if c in kept.columns},
    )


def _origin_sha1(manifest) -> np.ndarray:
    own = manifest["audio_sha1"].to_numpy(dtype=str)
    if "origin_audio_sha1" not in manifest.columns:
        return own
    origin = manifest["origin_audio_sha1"].to_numpy(dtype=str)
    return np.where(origin != "", origin, own)


# Metadata that must agree between splits for a model fitted on one to be scored on another,
# beside the model's identity (compared by model_identity.difference, not as a dict: the same
# checkpoint in two folders is one model). The model family's facts (family,
# feature_encoder_norm, ...) are not listed: they are read from the checkpoint's config, which the
# identity already fixes.
_MUST_MATCH = ("kind", "arch", "precision", "pooling", "sample_rate", "dim", "code_version")


def feature_differences(meta_a: dict, meta_b: dict) -> list:
    """The settings in which two feature metadata records differ (empty: comparable)."""
    differ = [k for k in _MUST_MATCH if meta_a.get(k) != meta_b.get(k)]
    if meta_a.get("kind") == "embeddings" and difference(
        ModelIdentity.from_json(meta_a.get("model_identity")), ModelIdentity.from_json(meta_b.get("model_identity"))
    ):
        differ.insert(0, "model_identity")
    return differ


def check_consistent(splits: list) -> None:
    """Refuse splits whose features were made differently (another model, revision, pooling...)."""
    first = splits[0]
    for other in splits[1:]:
        differ = feature_differences(first.meta, other.meta)
        if differ:
            identities = [ModelIdentity.from_json(s.meta.get("model_identity")) for s in (first, other)]
            details = ", ".join(
                f"model: {difference(*identities)}"
                if k == "model_identity"
                else f"{k}: {first.meta.get(k)!r} vs {other.meta.get(k)!r}"
                for k in differ
            )
            raise FeatureError(
                f"features of {first.split_id} and {other.split_id} were made differently ({details}): "
                f"rerun features.py on both with the same settings"
            )
        software_changed = [
            f"{name} {first_version} vs {other_version}"
            for name, first_version, other_version in _model_software(first.meta, other.meta)
            if first_version != other_version
        ]
        if software_changed:
            note(
                f"NOTE: the embeddings of {first.split_id} and {other.split_id} were computed with different "
                f"software ({'; '.join(software_changed)}): hidden states can differ between versions"
            )
        if list(first.views) != list(other.views):
            raise FeatureError(
                f"{first.split_id} and {other.split_id} offer different layers "
                f"({list(first.views)} vs {list(other.views)}): rerun features.py with the same --layers"
            )


def _model_software(meta_a: dict, meta_b: dict) -> list:
    """(package, version in a, version in b) for the packages that compute hidden states."""
    versions_a = (meta_a.get("software") or {}).get("versions", {})
    versions_b = (meta_b.get("software") or {}).get("versions", {})
    if not versions_a or not versions_b:
        return []
    return [(name, versions_a.get(name), versions_b.get(name)) for name in ("torch", "transformers")]


def load_splits(
    split_ids: list,
    spec: FeatureSpec,
    interim_dir=INTERIM_DIR,
    processed_dir=PROCESSED_DIR,
    keep_duplicates: bool = False,
) -> list:
    """Load several labelled splits with one embeddings file name, and check they agree."""
    seen = set()
    for split_id in split_ids:
        if split_id in seen:
            raise FeatureError(
                f"split {split_id} is named twice: fitting, choosing and testing need "
                "different splits (use --cv for a single split)"
            )
        seen.add(split_id)
    tag = None
    if spec.kind == "embeddings":
        tag = resolve_model_tag(spec, split_ids[0], processed_dir)
    splits = [
        load_split(s, spec, interim_dir, processed_dir, model_tag=tag, keep_duplicates=keep_duplicates)
        for s in split_ids
    ]
    check_consistent(splits)
    return splits
