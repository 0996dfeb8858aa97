"""`eval_logreg.py --score PATH ... --from-run results/<run>`: a fitted baseline applied to new
clips. The clips go through steps 1 and 2 in a temporary work area, with the feature settings
the run was fitted with, and each gets one line on stdout:

    <path> score=<float> -> bonafide|spoof (threshold <t>: <where it was set>) [caveats]

A clip's score does not depend on the other clips scored with it: features are computed clip by
clip and scored in float64 (see baseline/logreg.py for the tolerance, 1e-12 relative).
Rejected files are listed with their reason. When the clips carry labels (a folder with real/
and fake/ subfolders, or a CSV with a label column) the closing ROC-AUC line follows too. The
sub-steps' own progress lines go to stderr, so stdout holds only the results."""

import contextlib
import sys
import tempfile
from pathlib import Path

import numpy as np

from deepfake_pipeline.baseline import score_report, shortcut
from deepfake_pipeline.baseline.logreg import bonafide_scores
from deepfake_pipeline.baseline.model_store import load_model_bundle
from deepfake_pipeline.baseline.protocols import score_with_model
from deepfake_pipeline.common.errors import InputError
from deepfake_pipeline.evaluation import closing, metrics, significance
from deepfake_pipeline.features.extract import FeatureSettings, compute_features, open_stores
from deepfake_pipeline.formats.feature_files import FeatureError
from deepfake_pipeline.formats.feature_sets import (
    FeatureSpec,
    available_models,
    feature_differences,
    load_split,
)
from deepfake_pipeline.formats.manifest import read_manifest, read_rejects
from deepfake_pipeline.formats.model_identity import ModelIdentity, ModelIdentityError, difference, identify
from deepfake_pipeline.formats.step3_run import refit_command
from deepfake_pipeline.ingest.corpora import CorpusLayoutError, read_csv_strings
from deepfake_pipeline.ingest.corpora.user_audio import PATH_COLUMNS, csv_clips, folder_clips
from deepfake_pipeline.ingest.decode import AUDIO_EXTENSIONS
from deepfake_pipeline.ingest.shards import EveryClipRejected, SplitSummary, ingest_split

WORK_NAME = "score"


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _input_clips(paths, work: Path) -> dict:
    """Step 1's clip lists for the inputs: a labelled CSV or a folder as they are; loose files
    (or several inputs) linked into one folder of unlabelled clips."""
    paths = [Path(p) for p in paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise CorpusLayoutError(f"no such file or folder: {', '.join(missing)}")
    if len(paths) == 1 and paths[0].is_file() and paths[0].suffix.lower() == ".csv":
        table = read_csv_strings(paths[0], nrows=0)
        if "label" in [c.strip().lower() for c in table.columns]:
            return csv_clips(paths[0])
        # An unlabelled list: link its files into a folder, as for loose files.
        listed = read_csv_strings(paths[0])
        column = next((c for c in listed.columns if c.strip().lower() in PATH_COLUMNS), listed.columns[0])
        paths = [(paths[0].parent / p) if not Path(p).is_absolute() else Path(p) for p in listed[column]]
    if len(paths) == 1 and paths[0].is_dir():
        return folder_clips(paths[0], log=_to_stderr)
    staged = work / "inputs"
    staged.mkdir(parents=True)
    for number, path in enumerate(paths):
        if path.is_dir():
            (staged / f"{number:05d}_{path.name}").symlink_to(path.resolve(), target_is_directory=True)
        elif path.suffix.lower() in AUDIO_EXTENSIONS:
            (staged / f"{number:05d}_{path.name}").symlink_to(path.resolve())
        else:
            raise InputError(f"{path} is not an audio file ({', '.join(sorted(AUDIO_EXTENSIONS))}) or a folder")
    # The staged links lead outside the staging folder by design: they are the inputs.
    return folder_clips(staged, inputs_are_top_links=True, log=_to_stderr)


def _scoring_spec(bundle) -> FeatureSpec:
    spec = bundle["feature_spec"]
    if spec["kind"] == "spectral":
        return FeatureSpec("spectral")
    layers = list(bundle["layers"])
    return FeatureSpec(
        "embeddings",
        model=bundle["feature_meta"]["model"],
        layer=layers[0] if len(layers) == 1 else None,
        layers=tuple(layers) if len(layers) > 1 else None,
    )


def _feature_settings(bundle, jobs: int) -> FeatureSettings:
    """The step-2 settings the run's model was fitted on, for the layers it uses."""
    if bundle["feature_spec"]["kind"] == "spectral":
        return FeatureSettings(what="spectral", jobs=jobs)
    meta = bundle["feature_meta"]
    # One clip per forward pass (batch_seconds 0), stated here rather than left to the CPU
    # default: a clip's embedding, hence its score, must not depend on the clips scored with it,
    # and only unbatched passes give the same bits whatever the folder holds.
    return FeatureSettings(
        what="embeddings",
        model=str(meta["model"]),
        layers=tuple(bundle["layers"]),
        dtype=str(meta.get("dtype", "float16")),
        precision=str(meta.get("precision", "float32")),
        batch_seconds=0.0,
        jobs=jobs,
    )


def _run_steps(clips: dict, bundle, interim, processed, jobs, lengths: dict | None = None) -> list:
    """Steps 1 and 2 on the new clips; their progress lines go to stderr, so stdout holds only
    the results."""
    with contextlib.redirect_stdout(sys.stderr):
        summaries = []
        for split, split_clips in clips.items():
            try:
                summaries.append(ingest_split(split_clips, interim, WORK_NAME, split, jobs=jobs, **(lengths or {})))
            except EveryClipRejected as error:  # listed clip by clip below, from its rejects.csv
                summaries.append(SplitSummary(error.split_id, error.split_dir))
        readable = [s.split_id for s in summaries if s.info.get("num_clips")]
        if readable:
            compute_features(open_stores(interim, readable), _feature_settings(bundle, jobs), processed)
    return summaries


def _rejects(split_dir: Path) -> list:
    """(line, CSV row) per clip step 1 rejected."""
    return [
        (
            f"{row.source_path} rejected: {row.reason}{' (' + row.detail + ')' if row.detail else ''}",
            {"path": row.source_path, "score": None, "verdict": None, "threshold": None, "rejected": row.reason},
        )
        for row in read_rejects(split_dir).itertuples()
    ]


def check_scoring_model(bundle, run_path) -> None:
    """Before any clip is decoded: the model `--model` named when the run was fitted must still
    be the one it names now (a folder's files unchanged, the hub's commit where it can be told),
    or the new clips' embeddings would come from another model than the run was fitted on."""
    meta = bundle["feature_meta"]
    if bundle["feature_spec"]["kind"] != "embeddings":
        return
    recorded = ModelIdentity.from_json(meta.get("model_identity"))
    if recorded is None:
        raise FeatureError(
            f"the run {run_path} records no model identity (made by an older version of the "
            f"pipeline): fit it again with `{refit_command(run_path)}`"
        )
    try:
        current = identify(str(meta["model"]))
    except ModelIdentityError as error:
        raise FeatureError(
            f"the run {run_path} was fitted on embeddings of {recorded.describe()}, and {error} on "
            "this machine: make those model files available under that path"
        ) from None
    problem = difference(recorded, current)
    if problem:
        raise FeatureError(
            f"the run {run_path} was fitted on embeddings of {recorded.describe()}, but "
            f"{meta['model']} now holds another model ({problem}): it cannot score clips with it"
        )


def score_paths(
    paths, run_path, seed: int = 0, jobs: int = 1, stream=None, lengths: dict | None = None, out=None
) -> int:
    """Score the clips at `paths` with the model of `run_path`; prints what the run knows about
    its model once, one line per clip, and a count; `out`: a CSV of the same (score_report).
    `jobs`: worker processes for decoding and spectral features."""
    stream = stream or sys.stdout
    try:
        bundle = load_model_bundle(run_path)
    except FileNotFoundError as error:  # formats/baseline_model.py: a --from-run without model.json
        raise InputError(str(error)) from None
    check_scoring_model(bundle, run_path)
    for line in score_report.header_lines(run_path, bundle):
        print(line, file=stream)
    rows = []
    caveat = closing.caveat_suffix(bundle["untrained"], bundle["demo"])
    threshold = float(bundle["threshold"])
    with tempfile.TemporaryDirectory(prefix="eval_logreg_score_") as tmp:
        work = Path(tmp)
        interim, processed = work / "interim", work / "processed"
        summaries = _run_steps(_input_clips(paths, work), bundle, interim, processed, jobs, lengths)
        spec = _scoring_spec(bundle)
        n_scored = 0
        for ingested in summaries:
            split_id = ingested.split_id
            if not ingested.info.get("num_clips"):
                for line, row in _rejects(ingested.split_dir):
                    print(line, file=stream)
                    rows.append(row)
                continue
            tag = None
            if spec.kind == "embeddings":
                (tag,) = available_models(split_id, processed)
            split = load_split(split_id, spec, interim, processed, require_labels=False, model_tag=tag)
            differ = feature_differences(bundle["feature_meta"], split.meta)
            if differ:
                other_model = difference(
                    ModelIdentity.from_json(bundle["feature_meta"].get("model_identity")),
                    ModelIdentity.from_json(split.meta.get("model_identity")),
                )
                raise FeatureError(
                    f"the new clips' features differ from the run's in {differ}"
                    + (f" ({other_model})" if other_model else "")
                    + ": the run's model cannot score them"
                )
            scores = score_with_model(bundle, split.views)
            sources = read_manifest(split.split_dir)["source_path"].iloc[split.rows]
            for source, score in zip(sources, scores, strict=True):
                verdict = "bonafide" if score >= threshold else "spoof"
                print(
                    f"{source} score={score:.6f} -> {verdict} (threshold {threshold:.6f}: "
                    f"{bundle['threshold_source']}){caveat}",
                    file=stream,
                )
                rows.append(
                    {"path": source, "score": float(score), "verdict": verdict, "threshold": threshold, "rejected": ""}
                )
            for line, row in _rejects(split.split_dir):
                print(line, file=stream)
                rows.append(row)
            n_scored += len(scores)
            if split.has_labels and set(np.unique(split.labels)) == {0, 1}:
                silence = shortcut.silence_view(split.split_dir, processed, bundle["top_db"], split.rows)["silence"]
                silence_scores = bonafide_scores(bundle["silence_pipeline"], silence)
                summary = significance.summarize(split.labels, scores, split.speakers, n_boot=1000, seed=seed)
                print(
                    closing.closing_line_of(
                        split_id,
                        summary,
                        metrics.roc_auc(split.labels, silence_scores),
                        bundle["untrained"],
                        bundle["demo"],
                        left_out=split.left_out(),
                        run=Path(run_path).name,  # the run whose model scored these clips
                    ),
                    file=stream,
                )
    print(score_report.summary_line(rows), file=stream)
    if out is not None:
        print(f"{score_report.PREFIX} wrote {score_report.write_csv(rows, out)}", file=stream)
    return 0 if n_scored else 1
