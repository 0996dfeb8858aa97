"""Mutation testing of the modules the reported numbers rest on, each against the tests that
cover it (docs/mutation.md). Not part of `make test` or CI.

    make mutate                                   # every module below (installs mutmut first)
    make mutate MODULES=deepfake_pipeline/evaluation/metrics.py
    .venv/bin/python tools/mutate.py --list       # the modules and their tests

For each module, mutmut runs in a scratch copy of the project under .mutmut/<module>/ (so the
working tree is never touched and each module gets its own mutmut configuration), mutating that
one file and running only its test files; within those, mutmut runs for each mutant only the
tests that call the mutated function. Prints killed / survived / timeout (and the other mutmut
outcomes) per module, and writes every surviving mutant as a diff to .mutmut/survivors.txt and
the counts to .mutmut/summary.tsv.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".mutmut"


@dataclass(frozen=True)
class Target:
    """What to mutate in one module and which tests judge it. ``functions``: the functions (and
    ``Class.method``s) whose mutants are tested, None for all of the module's; ``select``: a
    pytest ``-k`` expression that keeps the tests of that behaviour from the files in ``tests``."""

    tests: tuple
    functions: tuple | None = None
    select: str | None = None


# module -> its target. The tests were found by grepping tests/ for the module; where a module
# holds more than the behaviour the numbers rest on, only that behaviour's functions are mutated,
# and the slowest tests (kill -9 and resume in subprocesses, 17-80 s each) are left to `make test`:
# every surviving mutant runs all its covering tests, which would take the campaign past an hour.
MODULES: dict[str, Target] = {
    "deepfake_pipeline/evaluation/metrics.py": Target(("tests/evaluation/test_metrics.py",)),
    "deepfake_pipeline/evaluation/significance.py": Target(("tests/evaluation/test_metrics.py",)),
    "deepfake_pipeline/evaluation/paired.py": Target(
        ("tests/evaluation/test_metrics.py", "tests/contrastive/test_contrastive_verdict.py")
    ),
    "deepfake_pipeline/evaluation/verdict.py": Target(("tests/contrastive/test_contrastive_verdict.py",)),
    "deepfake_pipeline/evaluation/shortcut_rule.py": Target(("tests/evaluation/test_shortcut_rule.py",)),
    "deepfake_pipeline/evaluation/tandem.py": Target(("tests/evaluation/test_tandem.py",)),
    "deepfake_pipeline/evaluation/condition_tdcf.py": Target(("tests/evaluation/test_condition_tdcf.py",)),
    "deepfake_pipeline/features/spectral.py": Target(("tests/features/test_spectral.py",)),
    # the corpus parsers
    "deepfake_pipeline/ingest/corpora/__init__.py": Target(
        (
            "tests/ingest/test_corpus_asvspoof.py",
            "tests/ingest/test_corpus_fakeavceleb.py",
            "tests/ingest/test_corpus_user_audio.py",
        )
    ),
    "deepfake_pipeline/ingest/corpora/asvspoof.py": Target(("tests/ingest/test_corpus_asvspoof.py",)),
    "deepfake_pipeline/ingest/corpora/fakeavceleb.py": Target(("tests/ingest/test_corpus_fakeavceleb.py",)),
    "deepfake_pipeline/ingest/corpora/user_audio.py": Target(("tests/ingest/test_corpus_user_audio.py",)),
    "deepfake_pipeline/ingest/corpora/folder_walk.py": Target(("tests/ingest/test_corpus_user_audio.py",)),
    "deepfake_pipeline/ingest/corpora/protocols.py": Target(
        ("tests/ingest/test_corpus_field.py", "tests/ingest/test_corpus_asvspoof.py")
    ),
    "deepfake_pipeline/ingest/corpora/asvspoof2021.py": Target(("tests/ingest/test_corpus_field.py",)),
    "deepfake_pipeline/ingest/corpora/in_the_wild.py": Target(("tests/ingest/test_corpus_field.py",)),
    "deepfake_pipeline/ingest/corpora/asvspoof5.py": Target(("tests/ingest/test_corpus_field.py",)),
    # step 3: the choice of C and of the layer on dev (or by nested, speaker-grouped CV)
    "deepfake_pipeline/baseline/logreg.py": Target(
        ("tests/baseline/test_logreg.py",),
        (
            "_pick",
            "_check_grid",
            "select_on_dev",
            "select_by_cv",
            "_pooled_cv_scores",
            "cv_groups",
            "grouped_folds",
            "check_both_classes",
        ),
    ),
    # step 2: mean pooling over each clip's own frames
    "deepfake_pipeline/features/ssl_pooling.py": Target(
        ("tests/features/test_ssl_pooling.py", "tests/features/test_ssl_embed.py"),
        ("pool_hidden_states",),
    ),
    # step 2: the exact batched forward pass
    "deepfake_pipeline/features/ssl_embed.py": Target(
        ("tests/features/test_ssl_embed.py", "tests/features/test_batched_exact.py"),
        (
            "frame_counts",
            "_embed_batch",
            "embed_waveforms",
            "_ClipByClipFeatureEncoder.forward",
            "_ClipByClipPositionalEmbedding.forward",
            "_check_layers",
            "_check_waveforms",
        ),
        "embedding or padded or padding or layer_subset or input_order or minimum_length or empty_input",
    ),
    # step 1: resume after a crash, refusal of changed input
    # (every step-1 test that ingests in-process or in a few seconds; not the two store tests that
    # compute spectral features of real or many clips)
    "deepfake_pipeline/ingest/shards.py": Target(
        (
            "tests/ingest/test_preprocess_resume.py",
            "tests/ingest/test_source_changes.py",
            "tests/ingest/test_long_clips.py",
            "tests/ingest/test_corpus_asvspoof.py",
            "tests/formats/test_wavestore.py",
        ),
        ("_clips_digest", "_prepare_dir", "_finalise", "ingest_split", "shard_size_for", "_part_path"),
        "not spectral_features_are_computed_from and not real_clips_features_from",
    ),
    # step 2: resume, cluster shards and their merge, refusal of missing or mismatched parts
    # (run_spectral's resume and stale-feature paths are reached only by the kill -9 and step-1
    # rerun tests, 25-210 s each: left to `make test`, see docs/mutation.md)
    "deepfake_pipeline/features/parts_job.py": Target(
        ("tests/features/test_features.py",),
        (
            "ClusterJob.parse",
            "ClusterJob.parts_of",
            "store_parts",
            "_write_config",
            "_missing_parts",
            "_describe_missing",
            "_all_parts_present",
        ),
        "spectral_csv or shards_merge or other_settings or wrong_arguments or changed_manifest",
    ),
    # step 4: the best epoch on dev (early stopping) ...
    "deepfake_pipeline/contrastive/train.py": Target(
        ("tests/contrastive/test_contrastive_training.py",),
        ("train", "centroid_scores", "batches"),
        "early_stopping or resumes or planted_signal or same_seed or checkpoint or best_dev_epoch",
    ),
    # ... and the choice of C on dev for the projections (training and projecting replaced by
    # given projections, so the choice alone is under test in seconds; the command line's holdout
    # and CV tests take about a minute each and are left to `make test`)
    "deepfake_pipeline/contrastive/experiment.py": Target(
        (
            "tests/contrastive/test_contrastive_training.py::test_step_4_chooses_C_on_the_dev_projections_not_the_test_ones",
            "tests/contrastive/test_contrastive_training.py::test_step_4_holdout_seed_passes_each_split_to_training_and_scoring",
        ),
        ("_run_holdout_seed", "_outcome_record"),
    ),
}

# What the scratch copy needs: the package, the tests and the top-level scripts some tests run.
COPY_DIRS = ["deepfake_pipeline", "tests"]
COPY_GLOBS = ["*.py"]
# mutmut's outcomes as `mutmut results --all true` names them -> the names printed here.
OUTCOMES = {
    "killed": "killed",
    "survived": "survived",
    "timeout": "timeout",
    "no tests": "no_tests",
    "suspicious": "suspicious",
    "segfault": "segfault",
    "skipped": "skipped",
    "not checked": "not_checked",
}
COLUMNS = ["killed", "survived", "timeout", "no_tests", "suspicious", "segfault", "total"]


def slug(module: str) -> str:
    return module.removeprefix("deepfake_pipeline/").removesuffix(".py").replace("/", ".")


def mutant_globs(module: str, target: Target) -> list[str]:
    """mutmut's names for the mutants of the target's functions: ``pkg.mod.x_func__mutmut_7``,
    ``pkg.mod.xǁClassǁmethod__mutmut_7``."""
    dotted = module.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    if target.functions is None:
        return [f"{dotted}.x*__mutmut_*"]
    return [f"{dotted}.x{'ǁ' + f.replace('.', 'ǁ') if '.' in f else '_' + f}__mutmut_*" for f in target.functions]


def scratch_copy(module: str, target: Target) -> Path:
    """A fresh copy of the project for one module, with a pyproject.toml that configures mutmut
    for that module alone."""
    work = WORK / slug(module)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPY_DIRS:
        shutil.copytree(REPO / name, work / name, ignore=ignore)
    for pattern in COPY_GLOBS:
        for path in REPO.glob(pattern):
            shutil.copy2(path, work / path.name)
    pytest_options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    config = {
        "tool.pytest.ini_options": pytest_options,
        "tool.mutmut": {
            "source_paths": ["deepfake_pipeline"],
            "only_mutate": [module],
            "pytest_add_cli_args_test_selection": list(target.tests),
            "pytest_add_cli_args": ["-p", "no:cacheprovider", *(["-k", target.select] if target.select else [])],
            # mutants run in processes forked from a server that has imported the tests but run
            # nothing yet: torch (imported by tests/conftest.py) is not safe to fork once used.
            "process_isolation": "forkserver",
            "use_git_change_detection": False,
            # mutmut runs the tests from mutants/: the tests that start a top-level script in a
            # subprocess need it there, next to the mutated package (the subprocess inherits the
            # mutant to run through the environment)
            "also_copy": sorted(p.name for pattern in COPY_GLOBS for p in REPO.glob(pattern)),
        },
    }
    (work / "pyproject.toml").write_text("".join(_toml_table(name, table) for name, table in config.items()))
    return work


def _toml_table(name: str, table: dict) -> str:
    lines = [f"[{name}]"]
    for key, value in table.items():
        lines.append(f"{key} = {json.dumps(value)}")  # strings, booleans and lists of strings only
    return "\n".join(lines) + "\n\n"


def mutmut(work: Path, *args: str, log=None) -> subprocess.CompletedProcess:
    # One numba cache for the whole run (tests/conftest.py): mutmut's first plain test runs fill
    # it one process at a time, so the parallel mutants only read it.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "TESTS_NUMBA_CACHE_DIR": str(work / "numba-cache")}
    return subprocess.run(
        [sys.executable, "-m", "mutmut", *args],
        cwd=work,
        env=env,
        text=True,
        stdout=log if log else subprocess.PIPE,
        stderr=subprocess.STDOUT if log else None,
    )


def run_module(module: str, target: Target, max_children: int) -> dict:
    work = scratch_copy(module, target)
    globs = mutant_globs(module, target)
    log_path = WORK / f"{slug(module)}.log"
    started = time.monotonic()
    with open(log_path, "w") as log:
        run = mutmut(work, "run", "--max-children", str(max_children), *globs, log=log)
    seconds = time.monotonic() - started
    status = {}
    for line in mutmut(work, "results", "--all", "true").stdout.splitlines():
        name, _, outcome = line.strip().rpartition(": ")
        if name and any(fnmatch(name, g) for g in globs):
            status[name] = OUTCOMES.get(outcome, outcome.replace(" ", "_"))
    if run.returncode != 0 or not status:
        return {
            "module": module,
            "error": f"mutmut run exited {run.returncode}: see {log_path}",
            "seconds": seconds,
            "survivors": [],
        }
    counts = {k: sum(v == k for v in status.values()) for k in COLUMNS}
    counts["total"] = len(status)
    survivors = [mutmut(work, "show", name).stdout.rstrip() for name, v in sorted(status.items()) if v == "survived"]
    return {"module": module, **counts, "seconds": seconds, "survivors": survivors}


def _write_survivors(path: Path, results: list[dict]) -> None:
    with open(path, "w") as handle:
        for result in results:
            handle.write(f"# {result['module']}: {len(result['survivors'])} surviving mutants\n\n")
            for diff in result["survivors"]:
                handle.write(diff + "\n\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="module paths (default: all of --list)")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests, run nothing")
    parser.add_argument(
        "--max-children", type=int, default=os.cpu_count() or 2, help="mutants tested at once (default: all cores)"
    )
    args = parser.parse_args(argv)
    if args.list:
        for module, target in MODULES.items():
            print(
                f"{module}\n    functions: {', '.join(target.functions) if target.functions else 'all'}"
                f"\n    tests: {' '.join(target.tests)}" + (f" -k '{target.select}'" if target.select else "")
            )
        return 0
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"not in the module list: {', '.join(unknown)} (see --list)")
    WORK.mkdir(exist_ok=True)
    results = []
    for module in args.modules or list(MODULES):
        print(f"[mutate] {module} ...", flush=True)
        result = run_module(module, MODULES[module], args.max_children)
        results.append(result)
        if "error" in result:
            print(f"[mutate] {module}: {result['error']}", flush=True)
        else:
            print(
                f"[mutate] {module}: "
                + ", ".join(f"{k} {result[k]}" for k in COLUMNS)
                + f" in {result['seconds']:.0f} s",
                flush=True,
            )
        # each module's survivors as soon as it is done, so the first can be read while the
        # next module runs
        _write_survivors(WORK / f"{slug(module)}.survivors.txt", [result])
    _write_survivors(WORK / "survivors.txt", results)
    with open(WORK / "summary.tsv", "w") as handle:
        handle.write("\t".join(["module", *COLUMNS, "seconds"]) + "\n")
        for r in results:
            handle.write(
                "\t".join([r["module"], *(str(r.get(k, "error")) for k in COLUMNS), f"{r['seconds']:.0f}"]) + "\n"
            )
    print()
    print(f"{'module':<28}" + "".join(f"{k:>11}" for k in [*COLUMNS, "seconds"]))
    for r in results:
        print(
            f"{slug(r['module']):<28}" + "".join(f"{r.get(k, '-')!s:>11}" for k in COLUMNS) + f"{r['seconds']:>11.0f}"
        )
    print(f"\nsurviving mutants: {WORK / 'survivors.txt'}   counts: {WORK / 'summary.tsv'}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
