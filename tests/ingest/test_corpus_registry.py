"""Step 1's corpora are found by looking (ingest/corpora/registry.py): a module that declares KINDS
is a corpus kind of --corpus, read without importing it; the Corpus that runs it comes from the
module's CORPORA. The two must agree, and a new module is picked up without touching anything else."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from deepfake_pipeline.ingest.corpora import registry

CORPORA_DIR = Path(registry.__file__).parent
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_every_declared_kind_has_exactly_one_runnable_corpus_and_no_other():
    declared = registry.declared()
    built = {}
    for path in sorted(CORPORA_DIR.glob("*.py")):
        module = importlib.import_module(f"deepfake_pipeline.ingest.corpora.{path.stem}")
        for corpus in getattr(module, "CORPORA", ()):
            built.setdefault(corpus.kind, []).append(path.stem)
    assert {kind: [d.module] for kind, d in declared.items()} == built
    # The kinds the README and the design document name (one per corpus layout step 1 reads).
    assert set(declared) == set(
        "asvspoof2019 asvspoof2021_la asvspoof2021_df asvspoof5 fakeavceleb in_the_wild csv folder".split()
    )
    for kind in declared:
        assert registry.corpus(kind).kind == kind


def test_default_roots_are_folders_under_raw_and_user_layouts_have_none(tmp_path):
    declared = registry.declared()
    assert declared["asvspoof2019"].default_root(tmp_path) == tmp_path / "asvspoof"
    assert declared["fakeavceleb"].default_root(tmp_path) == tmp_path / "fakeav"
    assert declared["csv"].default_root(tmp_path) is None and declared["folder"].default_root(tmp_path) is None


def test_a_new_module_is_a_new_kind_and_a_kind_declared_twice_is_refused(tmp_path):
    (tmp_path / "mycorpus.py").write_text(
        "import does_not_exist  # never imported to be listed\n"
        'KINDS = {"mine": {"described": "mine (a layout)", "default_folder": "mine"}}\n'
    )
    (tmp_path / "helpers.py").write_text("X = 1\n")
    found = registry.declared(tmp_path)
    assert list(found) == ["mine"] and found["mine"].module == "mycorpus"
    (tmp_path / "other.py").write_text('KINDS = {"mine": {"described": "", "default_folder": None}}\n')
    with pytest.raises(RuntimeError, match="'mine' is declared twice"):
        registry.declared(tmp_path)


def test_help_lists_every_kind_with_its_description():
    done = subprocess.run(
        [sys.executable, "preprocess_datasets.py", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    text = " ".join(done.stdout.split())
    for kind, facts in registry.declared().items():
        assert kind in text
        assert " ".join(facts.described.split()) in text


def test_only_splits_keeps_the_chosen_and_refuses_an_unknown_one(tmp_path):
    request = registry.CorpusRequest(tmp_path / "c.csv", "c", ("b",), "eval", tmp_path, 0)
    assert registry.only_splits({"a": [1], "b": [2]}, request) == {"b": [2]}
    with pytest.raises(ValueError, match=r"splits \['x'\] are not in .*c\.csv; it has \['a', 'b'\]"):
        registry.only_splits(
            {"a": [1], "b": [2]}, registry.CorpusRequest(tmp_path / "c.csv", "c", ("x",), "eval", tmp_path, 0)
        )
