"""Several training splits fitted on as one (`eval_logreg.py --train A A+rawboost5 ...`): their
clips in the order the splits are named, each split's in manifest order.

Speakers are kept as each manifest names them, not renamed per split: a derived clip carries its
source's speaker, so a clip and its augmented copy fall in one speaker group (CV folds, CIs), and
two corpora that happen to use one name are grouped together, the cautious side. The members'
features must agree (feature_sets.check_consistent, before the union is made); each member is
recorded on its own in config.json, with its manifest's SHA-256."""

from collections.abc import Mapping

import numpy as np

from deepfake_pipeline.formats.feature_sets import SplitFeatures

# What joins the members' ids in the union's name: split ids hold '+' (derived splits), not this.
UNION_JOINER = " & "


def union_name(split_ids) -> str:
    return UNION_JOINER.join(split_ids)


def train_split_ids(train) -> list:
    """--train as given: one split id (as every run before several existed records it) or a list."""
    return [train] if isinstance(train, str) else list(train)


class UnionViews(Mapping):
    """view key -> the members' matrices stacked, read from each member when asked for (nothing
    kept between two requests, like a single split's embedding views)."""

    def __init__(self, members: list):
        self.members = members

    def __getitem__(self, key) -> np.ndarray:
        return np.concatenate([member.views[key] for member in self.members])

    def __iter__(self):
        return iter(self.members[0].views)

    def __len__(self) -> int:
        return len(self.members[0].views)


def _stack(members, field):
    return np.concatenate([getattr(member, field) for member in members])


def union_of(members: list) -> SplitFeatures:
    """The members as one training set; a single member is returned as it is."""
    if len(members) == 1:
        return members[0]
    first = members[0]
    return SplitFeatures(
        split_id=union_name(m.split_id for m in members),
        # No folder of its own: code that would read one split's files must read the members'
        # (members below), and a union reaching it fails at once instead of reading the first.
        split_dir=None,  # type: ignore[arg-type]
        utt_ids=_stack(members, "utt_ids"),
        labels=_stack(members, "labels"),
        speakers=_stack(members, "speakers"),
        attacks=_stack(members, "attacks"),
        views=UnionViews(members),
        view_layers=first.view_layers,
        meta=first.meta,
        info={"members": [m.split_id for m in members]},
        untrained=any(m.untrained for m in members),
        demo=any(m.demo for m in members),
        rows=None,
        left_out_duplicates=sum(m.left_out_duplicates for m in members),
        audio_sha1=_stack(members, "audio_sha1"),
        origin_sha1=_stack(members, "origin_sha1"),
        members=tuple(members),
    )
