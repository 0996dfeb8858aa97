"""A fusion from start to numbers: read the input runs, check they scored the same trials, read
those trials' labels from step 1's manifests, fit the fusion on the dev scores and apply it to
every test split. What is printed and written about it is report.py's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepfake_pipeline.fusion.fit import FusionModel, fit
from deepfake_pipeline.fusion.inputs import InputRun, aligned, check_same_trials, read_input_run
from deepfake_pipeline.fusion.trials import Trials, read_trials


@dataclass
class FusedSplit:
    label: str  # as on the inputs' closing lines
    trials: Trials
    inputs: dict  # input run name -> its scores, aligned to trials.utt_ids
    fused: np.ndarray | None  # the fused LLRs (set once the fusion is fitted)


@dataclass
class Fusion:
    runs: list  # InputRun, in the order given
    model: FusionModel
    dev: FusedSplit
    tests: list  # FusedSplit per test split, in the first run's order

    @property
    def untrained(self) -> bool:
        return any(run.untrained for run in self.runs)

    @property
    def demo(self) -> bool:
        return any(run.demo for run in self.runs) or self.dev.trials.demo


def _fused_split(label: str, split_id: str, runs: list, scores_of, interim_dir, model=None) -> FusedSplit:
    first = runs[0]
    utt_ids = scores_of(first)[0]
    trials = read_trials(interim_dir, split_id, utt_ids, first.manifests[split_id])
    inputs = {run.name: aligned(scores_of(run), utt_ids) for run in runs}
    fused = None if model is None else model.apply(np.column_stack(list(inputs.values())))
    return FusedSplit(label=label, trials=trials, inputs=inputs, fused=fused)


def read_runs(run_paths) -> list:
    runs: list[InputRun] = [read_input_run(Path(path)) for path in run_paths]
    check_same_trials(runs)
    return runs


def fuse(runs: list, interim_dir) -> Fusion:
    """Fit on the dev trials every input scored, apply to each test split."""
    first = runs[0]
    dev = _fused_split(f"{first.dev}", first.dev, runs, lambda run: run.dev_scores, interim_dir)
    model = fit(dev.trials.labels, np.column_stack(list(dev.inputs.values())), [run.name for run in runs])
    dev.fused = model.apply(np.column_stack(list(dev.inputs.values())))
    tests = [
        _fused_split(label, split_id, runs, lambda run, label=label: run.test_scores[label], interim_dir, model)
        for label, split_id in first.tests.items()
    ]
    return Fusion(runs=runs, model=model, dev=dev, tests=tests)
