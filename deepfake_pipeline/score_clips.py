"""`eval_logreg.py --score PATH ... --from-run results/<run>`: a fitted baseline applied to new
clips. The clips go through steps 1 and 2 in a temporary work area, with the feature settings
the run was fitted with, and each gets one line on stdout:

    <path> score=<float> -> bonafide|spoof (threshold <t>: <where it was set>) [caveats]

Rejected files are listed with their reason. When the clips carry labels (a folder with real/
and fake/ subfolders, or a CSV with a label column) the closing ROC-AUC line follows too. The
sub-steps' own progress lines go to stderr, so stdout holds only the results."""

import contextlib
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics, report, shortcut
from .audio import AUDIO_EXTENSIONS
from .baseline import load_model, score_with_model
from .feature_sets import FeatureSpec, available_models, feature_differences, load_split
from .feature_store import FeatureError
from .logreg import bonafide_scores

WORK_NAME = "score"


def _stage_inputs(paths, work: Path) -> list:
    """preprocess_datasets.py arguments for the inputs: a CSV or a folder as they are; loose
    files (or several inputs) linked into one folder of unlabelled clips."""
    paths = [Path(p) for p in paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    if len(paths) == 1 and paths[0].is_file() and paths[0].suffix.lower() == ".csv":
        table = pd.read_csv(paths[0], dtype=str, keep_default_na=False, nrows=0)
        if "label" in [c.strip().lower() for c in table.columns]:
            return ["--corpus", "csv", "--root", str(paths[0])]
        # An unlabelled list: link its files into a folder, as for loose files.
        listed = pd.read_csv(paths[0], dtype=str, keep_default_na=False)
        column = next((c for c in listed.columns if c.strip().lower() in ("path", "file", "filename", "relpath")),
                      listed.columns[0])
        paths = [(paths[0].parent / p) if not Path(p).is_absolute() else Path(p) for p in listed[column]]
    if len(paths) == 1 and paths[0].is_dir():
        return ["--corpus", "folder", "--root", str(paths[0])]
    staged = work / "inputs"
    staged.mkdir(parents=True)
    for number, path in enumerate(paths):
        if path.is_dir():
            (staged / f"{number:05d}_{path.name}").symlink_to(path.resolve(), target_is_directory=True)
        elif path.suffix.lower() in AUDIO_EXTENSIONS:
            (staged / f"{number:05d}_{path.name}").symlink_to(path.resolve())
        else:
            raise ValueError(f"{path} is not an audio file ({', '.join(sorted(AUDIO_EXTENSIONS))}) or a folder")
    return ["--corpus", "folder", "--root", str(staged)]


def _scoring_spec(bundle) -> FeatureSpec:
    spec = bundle["feature_spec"]
    if spec["kind"] == "spectral":
        return FeatureSpec("spectral")
    layers = list(bundle["layers"])
    return FeatureSpec("embeddings", model=bundle["feature_meta"]["model"],
                       layer=layers[0] if len(layers) == 1 else None,
                       layers=tuple(layers) if len(layers) > 1 else None)


def _features_argv(bundle, split_ids, interim, processed) -> list:
    argv = ["--splits", *split_ids, "--interim-dir", str(interim), "--processed-dir", str(processed)]
    if bundle["feature_spec"]["kind"] == "spectral":
        return [*argv, "--what", "spectral"]
    meta = bundle["feature_meta"]
    return [*argv, "--what", "embeddings", "--model", str(meta["model"]), "--layers", *map(str, bundle["layers"]),
            "--dtype", str(meta.get("dtype", "float16")), "--precision", str(meta.get("precision", "float32"))]


def _run_steps(inputs_argv, bundle, interim, processed, jobs) -> list:
    from .cli import features, preprocess
    with contextlib.redirect_stdout(sys.stderr):
        if preprocess.main([*inputs_argv, "--name", WORK_NAME, "--interim-dir", str(interim),
                            "--jobs", str(jobs)]) != 0:
            raise ValueError("preparing the clips failed (message above)")
        split_ids = sorted(p.parent.name for p in Path(interim).glob(f"{WORK_NAME}_*/manifest.csv"))
        if not split_ids:
            raise ValueError("no clip could be read (see the rejects above)")
        if features.main([*_features_argv(bundle, split_ids, interim, processed), "--jobs", str(jobs)]) != 0:
            raise ValueError("computing features for the clips failed (message above)")
    return split_ids


def _rejects(split_dir: Path) -> list:
    path = split_dir / "rejects.csv"
    if not path.is_file():
        return []
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return [f"{row.source_path} rejected: {row.reason}{' (' + row.detail + ')' if row.detail else ''}"
            for row in table.itertuples()]


def score_paths(paths, run_path, seed: int = 0, jobs: int = 1, stream=None) -> int:
    """Score the clips at `paths` with the model of `run_path`; prints one line per clip.
    `jobs`: worker processes for decoding and spectral features."""
    stream = stream or sys.stdout
    bundle = load_model(run_path)
    caveat = report.caveat_suffix(bundle["untrained"], bundle["demo"])
    threshold = float(bundle["threshold"])
    with tempfile.TemporaryDirectory(prefix="eval_logreg_score_") as tmp:
        work = Path(tmp)
        interim, processed = work / "interim", work / "processed"
        split_ids = _run_steps(_stage_inputs(paths, work), bundle, interim, processed, jobs)
        spec = _scoring_spec(bundle)
        n_scored = 0
        for split_id in split_ids:
            tag = None
            if spec.kind == "embeddings":
                (tag,) = available_models(split_id, processed)
            split = load_split(split_id, spec, interim, processed, require_labels=False, model_tag=tag)
            differ = feature_differences(bundle["feature_meta"], split.meta)
            if differ:
                raise FeatureError(f"the new clips' features differ from the run's in {differ}: "
                                   "the run's model cannot score them")
            scores = score_with_model(bundle, split.views)
            sources = pd.read_csv(split.split_dir / "manifest.csv", dtype=str, keep_default_na=False)["source_path"]
            for source, score in zip(sources, scores):
                verdict = "bonafide" if score >= threshold else "spoof"
                print(f"{source} score={score:.6f} -> {verdict} (threshold {threshold:.6f}: "
                      f"{bundle['threshold_source']}){caveat}", file=stream)
            for line in _rejects(split.split_dir):
                print(line, file=stream)
            n_scored += len(scores)
            if split.has_labels and set(np.unique(split.labels)) == {0, 1}:
                silence = shortcut.silence_view(split.split_dir, processed, bundle["top_db"])["silence"]
                silence_scores = bonafide_scores(bundle["silence_pipeline"], silence)
                summary = metrics.summarize(split.labels, scores, split.speakers, n_boot=1000, seed=seed)
                print(report.closing_line(split_id, summary["auc"], summary["auc_ci"], summary["eer"],
                                          summary["eer_ci"], metrics.roc_auc(split.labels, silence_scores),
                                          bundle["untrained"], bundle["demo"]), file=stream)
    return 0 if n_scored else 1
