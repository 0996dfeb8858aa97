"""The corpora step 1 can read, found by looking: every module of this package that declares
``KINDS`` adds those kinds to `preprocess_datasets.py --corpus`. Adding a corpus is one module
(its parser, its KINDS and its CORPORA) and its test; nothing else names the list.

``KINDS`` is a literal, ``{kind: {"described": ..., "default_folder": ...}}``: how --help lists
the kind, and the folder under data/raw it is read from by default (None: the user must give
--root, a CSV or a folder). It is read from the module's source without importing the module,
so that --help and a refused argument stay instant (the parsers import pandas and the audio
libraries). ``CORPORA``, built when the module is imported for a run, holds a Corpus per kind:
how to list its clips per split, where the organisers' ASV scores of a split are (for the
t-DCF), and what to do once its splits are ingested (FakeAVCeleb flags clips whose audio is
another clip's)."""

import ast
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deepfake_pipeline.common.errors import InputError

_PACKAGE = "deepfake_pipeline.ingest.corpora"


@dataclass(frozen=True)
class CorpusRequest:
    """What the user asked step 1 for, as a corpus parser needs it."""

    root: Path
    name: str
    splits: tuple | None  # None: every split the corpus has
    subset: str  # ASVspoof 2021's key-file subset, or "all"
    interim_dir: Path
    seed: int


def _no_asv_scores(request: CorpusRequest, split: str) -> None:
    return None


@dataclass(frozen=True)
class Corpus:
    kind: str
    clips: Callable[[CorpusRequest], dict]  # {split: [ClipSpec]}
    asv_scores: Callable[[CorpusRequest, str], dict | None] = _no_asv_scores
    # Called with the ingested split folders; returns a line to print, or None.
    after_ingest: Callable[[CorpusRequest, list], str | None] | None = None


@dataclass(frozen=True)
class Declared:
    kind: str
    module: str
    described: str
    default_folder: str | None

    def default_root(self, raw_dir: Path) -> Path | None:
        return None if self.default_folder is None else Path(raw_dir) / self.default_folder


def _kinds_literal(source: str) -> dict:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["KINDS"]:
            return ast.literal_eval(node.value)
    return {}


def declared(folder: Path = Path(__file__).parent) -> dict:
    """{kind: Declared} of every corpus module (of `folder`: this package), in module-name order
    (the order --help lists)."""
    found: dict[str, Declared] = {}
    for path in sorted(Path(folder).glob("*.py")):
        for kind, facts in _kinds_literal(path.read_text()).items():
            if kind in found:
                raise RuntimeError(f"corpus kind {kind!r} is declared twice ({found[kind].module}, {path.stem})")
            found[kind] = Declared(kind, path.stem, facts["described"], facts["default_folder"])
    return found


def corpus(kind: str) -> Corpus:
    """The Corpus of a declared kind (its module imported now)."""
    module = importlib.import_module(f"{_PACKAGE}.{declared()[kind].module}")
    matching = [c for c in getattr(module, "CORPORA", ()) if c.kind == kind]
    if len(matching) != 1:
        raise RuntimeError(f"{module.__name__} declares corpus kind {kind!r} in KINDS but not once in CORPORA")
    return matching[0]


def only_splits(clips: dict, request: CorpusRequest) -> dict:
    """The splits the user chose of a corpus whose splits are not fixed (a CSV's split column);
    one it does not have stops the run."""
    if not request.splits:
        return clips
    unknown = sorted(set(request.splits) - set(clips))
    if unknown:
        raise InputError(f"splits {unknown} are not in {request.root}; it has {sorted(clips)}")
    return {s: clips[s] for s in request.splits}
