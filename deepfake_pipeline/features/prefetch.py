"""One item read ahead in a background thread while the caller works on the current one: step 2
reads the next part's waveforms (and, on cuda, assembles the next padded batch in pinned memory)
while the model runs, instead of leaving the device idle during every read.

What the caller sees is what an inline read gives: items in order, and a read that fails raises
its own exception at that item, after the items before it were handled (a damaged shard still
stops the run at the part it belongs to, with the same message). The thread only reads; the model
is never touched from it (its layers are swapped per batch, see ssl_embed). On exit, normal or
not (an error, Ctrl-C), the read ahead is abandoned rather than waited for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def _read_ahead(items: list[T], read: Callable[[T], R]) -> Generator[tuple[T, R], None, None]:
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="step2-reader")
    try:
        pending: Future = pool.submit(read, items[0])
        for position, item in enumerate(items):
            result = pending.result()
            if position + 1 < len(items):
                pending = pool.submit(read, items[position + 1])
            yield item, result
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def prefetched(items: Iterable[T], read: Callable[[T], R], background: bool = True):
    """``with prefetched(items, read) as pairs: for item, value in pairs: ...``: ``value`` is
    ``read(item)``, the next item's read running meanwhile (``background=False``: inline)."""
    items = list(items)
    if not background or not items:
        yield ((item, read(item)) for item in items)
        return
    pairs = _read_ahead(items, read)
    try:
        yield pairs
    finally:
        pairs.close()
