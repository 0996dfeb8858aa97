"""Listing a folder corpus's audio files without leaving it or mixing its labels.

A folder corpus is walked from its tops: the labelled subfolders (`real/`, `fake/`, ...), or the
folder itself when it has none, or, for `eval_logreg.py --score`, each input linked into a
staging folder. A top may itself be a link (a corpus linked in from elsewhere). Inside a top a
symbolic link is followed only when its target lies inside the corpus folder but in no top (a
shared pool of files linked into `real/` and `fake/`), and not above the link. Every other link
is left out with one log line:

- a target inside a top is listed there already, under that top's label (`real/x.wav ->
  ../fake/y.wav` must not make a fake clip bona fide);
- a folder above the link (`real/up -> ..`) would list the whole corpus again under this label;
- a target outside the corpus folder would bring in clips nobody labelled.

A link that leads nowhere (dangling, or a loop of links) stays in the list: step 1 rejects it as
`broken_link` instead of dropping it unseen. A file reached twice under one label is listed once;
under two labels the corpus is refused.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from deepfake_pipeline.ingest.corpora import CorpusLayoutError
from deepfake_pipeline.ingest.decode import AUDIO_EXTENSIONS


@dataclass(frozen=True)
class Top:
    path: Path  # as the user sees it, below the corpus folder (gives the clips' ids)
    label: int


@dataclass(frozen=True)
class Found:
    path: Path  # where the walk met the file, below the corpus folder
    source: str  # the file to decode: its real path, or the link itself when it leads nowhere
    label: int


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class _Walk:
    def __init__(self, corpus: Path, tops: list, log):
        self.real_corpus = os.path.realpath(corpus)
        self.real_tops = [os.path.realpath(top.path) for top in tops]
        self.log = log
        # Folders walked so far, per label: a pool folder linked from two label folders must be
        # walked under both, so that its files meet the two-labels refusal (one shared set made
        # the second label skip it as "listed already", and its clips took the first label).
        self.seen_dirs: dict[int, set] = {}

    def _refusal(self, link: Path, target: str, seen: set) -> str:
        """Why `link` (to `target`) is not followed, or "" when it is."""
        here = os.path.realpath(link.parent)
        if _inside(here, target):
            return "a folder above the link: its clips would be listed again under this label"
        top = next((t for t in self.real_tops if _inside(target, t)), None)
        if top is not None:
            return f"inside {top}, listed there with that folder's label"
        if not _inside(target, self.real_corpus):
            return f"outside the corpus folder {self.real_corpus}"
        if os.path.isdir(target) and target in seen:
            return "a folder listed already"
        return ""

    def _note(self, link: Path, target: str, why: str) -> None:
        self.log(f"[preprocess] not following {link} -> {target}: {why}")

    def files(self, top: Top) -> list:
        found = []
        seen = self.seen_dirs.setdefault(top.label, set())
        for root, dirs, files in os.walk(top.path, followlinks=True):
            seen.add(os.path.realpath(root))
            kept = []
            for name in sorted(dirs):
                path = Path(root) / name
                if path.is_symlink():
                    target = os.path.realpath(path)
                    why = self._refusal(path, target, seen)
                    if why:
                        self._note(path, target, why)
                        continue
                    seen.add(target)
                kept.append(name)
            dirs[:] = kept
            for name in sorted(files):
                path = Path(root) / name
                if path.suffix.lower() not in AUDIO_EXTENSIONS:
                    continue
                if not path.exists():  # a dangling link or a loop: kept, rejected as broken_link
                    found.append(Found(path, os.path.abspath(path), top.label))
                    continue
                target = os.path.realpath(path)
                if path.is_symlink():
                    why = self._refusal(path, target, seen)
                    if why:
                        self._note(path, target, why)
                        continue
                found.append(Found(path, target, top.label))
        return found


def _check_tops(corpus: Path, tops: list) -> None:
    """Label folders must not hold one another or the corpus folder: their clips would be
    listed twice, under two labels. (Unlabelled tops, the inputs of --score, may overlap: a
    file met twice is listed once.)"""
    real_corpus = os.path.realpath(corpus)
    real = [(top, os.path.realpath(top.path)) for top in tops if top.label >= 0]
    for i, (top, folder) in enumerate(real):
        if _inside(real_corpus, folder):
            raise CorpusLayoutError(
                f"{top.path} leads to {folder}, which holds the corpus folder itself: "
                "point it at the clips of that label only"
            )
        for other, other_folder in real[i + 1 :]:
            if other.label != top.label and (_inside(folder, other_folder) or _inside(other_folder, folder)):
                raise CorpusLayoutError(
                    f"{top.path} and {other.path} lead to the same clips ({folder}, "
                    f"{other_folder}): each label needs its own folder"
                )


def audio_files(corpus, tops: list, log=print) -> list:
    """[Found] under the tops of the folder corpus `corpus`, sorted by path; see the module."""
    corpus = Path(corpus)
    _check_tops(corpus, tops)
    walk = _Walk(corpus, tops, log)
    listed: dict = {}
    for top in tops:
        if os.path.isfile(top.path) or not os.path.exists(top.path):
            entries = [
                Found(
                    top.path,
                    os.path.realpath(top.path) if os.path.exists(top.path) else os.path.abspath(top.path),
                    top.label,
                )
            ]
        else:
            entries = walk.files(top)
        for found in entries:
            first = listed.setdefault(found.source, found)
            if first is found:
                continue
            if first.label != found.label:
                raise CorpusLayoutError(
                    f"{first.path} and {found.path} are the same file ({found.source}) "
                    "under two labels: keep it in one label folder"
                )
            log(f"[preprocess] {found.path} is {first.path} again: listed once")
    return sorted(listed.values(), key=lambda found: found.path)
