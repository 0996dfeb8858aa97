"""Fill numba's on-disk cache in the parent process before parallel workers start, so that the
workers only read it.

librosa compiles its numba kernels with ``cache=True``: the machine code goes to disk (in
``__pycache__`` beside librosa's files, or ``$NUMBA_CACHE_DIR`` when set) and later processes
load it instead of compiling. Each file is written atomically (temporary name, then
``os.replace``), but the cache as a whole is not safe to fill from several processes at once
(numba 0.68.1, the version locked here):

- a ``guvectorize`` kernel (librosa's ``zero_crossing_rate``, ``yin``, ``util.localmax`` ...) is
  stored as two files, the kernel and its ``guf-`` ufunc wrapper, written one after the other.
  The wrapper calls the kernel by a symbol name holding a per-process counter (``abi:vN``)
  that depends on what that process compiled before (numba issue #10128, still open). Two
  workers filling a cold cache at staggered times can leave a kernel from one and a wrapper from
  the other: every later process that loads the pair gets a null function pointer and dies
  with a segmentation fault, until the cache is deleted. Mixing the two files of ``_pi_wrapper``
  from two such processes by hand reproduces it here: ``librosa.yin`` then exits with SIGSEGV.
- the index that maps a signature to a data file is read, extended and rewritten without a
  lock, so two processes compiling different signatures of one function can both take file
  number 1, leaving the index pointing at the other signature's code.

The pipeline's own workers (step 2's spectral features, the demo corpus generator) each import
librosa and, on a first run, would compile those kernels at the same time as one another. So
before starting them the parent runs one tiny piece of the same work (``warm``): everything the
workers need is then compiled and written once, by one process, and the workers only load it
(tests/common/test_numba_cache.py checks that they write nothing). This keeps the cache wherever the
user has it and keeps it warm across runs; a per-user ``NUMBA_CACHE_DIR`` would not help, since
it does not stop one run's workers from racing one another (and everyone here runs as one user).
It cannot stop other programs filling the same cache at the same moment: give concurrent
unrelated jobs their own ``NUMBA_CACHE_DIR``, as the test suite does (tests/conftest.py).
"""

from collections.abc import Callable

_warmed: set[str] = set()


def warm_before_workers(warm: Callable[[], object]) -> None:
    """Run ``warm`` in this process unless it already ran here: call it right before starting
    workers whose numba kernels ``warm`` compiles."""
    key = f"{warm.__module__}.{warm.__qualname__}"
    if key not in _warmed:
        warm()
        _warmed.add(key)
