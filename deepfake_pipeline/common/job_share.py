"""`--shard K/N`: job K of N takes a contiguous block of a split's parts, so that a cluster array
shares one split between its jobs (steps 1 and 2)."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ShardSpec:
    """Job K of N (1-based), as in `--shard K/N`."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> "ShardSpec":
        try:
            index, count = (int(v) for v in text.split("/"))
        except ValueError:
            raise ValueError(f"--shard takes K/N, e.g. 3/10 (got {text!r})") from None
        if not 1 <= index <= count:
            raise ValueError(f"--shard {text}: K must be between 1 and N")
        return cls(index, count)

    def parts_of(self, n_parts: int) -> list:
        return [int(p) for p in np.array_split(np.arange(n_parts), self.count)[self.index - 1]]
