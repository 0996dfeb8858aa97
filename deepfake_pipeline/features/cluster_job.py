"""`features.py --shard K/N`: which share of a split's parts one job of a cluster array computes.
Light (numpy only), so the command line checks --shard before any library loads."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClusterJob:
    """Job K of N (1-based) of a cluster array, as in `features.py --shard K/N`: its share of a
    split's parts. (Not step 1's store shards, which the parts follow: docs/DESIGN.md, Glossary.)"""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> "ClusterJob":
        try:
            index, count = (int(v) for v in text.split("/"))
        except ValueError:
            raise ValueError(f"--shard takes K/N, e.g. 3/10 (got {text!r})") from None
        if not 1 <= index <= count:
            raise ValueError(f"--shard {text}: K must be between 1 and N")
        return cls(index, count)

    def parts_of(self, n_parts: int) -> list:
        return [int(p) for p in np.array_split(np.arange(n_parts), self.count)[self.index - 1]]
