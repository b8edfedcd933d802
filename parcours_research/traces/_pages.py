"""Large arrays of the trace pipeline, mapped on the operating system's ordinary pages.

NumPy asks Linux for transparent huge pages (``madvise(MADV_HUGEPAGE)``) on every array of
4 MiB or more. Where huge pages are scarce -- memory fragmented, or a virtual machine whose
host takes freed memory back (virtio-balloon free page reporting) -- the first touch of such
an array makes the kernel compact memory or fault 2 MiB blocks in from the host, and the
trace pipeline's large arrays (a few per million events) pay for it in system time. Measured
on the 2-core VM of the benchmarks, 1e7 events, the pipeline of ``benchmarks/traces.py`` run
in fresh processes alternately with its arrays from :func:`fresh` and from ``np.empty``
(7 pairs, each process started 3 s after the last or at once): 2.07-2.65 s against
2.62-3.11 s of wall time, 0.67-0.96 s against 0.95-1.71 s of system time; every pair went
to :func:`fresh`.

Only the arrays the kernels fill are allocated here; NumPy's own setting, which is the
user's, is left alone.
"""

from __future__ import annotations

import mmap

import numpy as np

#: arrays from this many bytes are mapped here (NumPy's huge-page threshold is 4 MiB)
MIN_BYTES = 4 << 20
#: whether the platform has private anonymous mappings (not on Windows: NumPy's allocator)
MAPPED = hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap, "PROT_WRITE")


def fresh(n: int, dtype) -> np.ndarray:
    """An uninitialised (in practice zeroed) writable array of ``n`` items of ``dtype`` for a
    kernel to fill: from :data:`MIN_BYTES` a private anonymous mapping of its own, unmapped
    when the last array viewing it is freed; below that (or without such mappings), NumPy's
    ``np.empty``."""
    dtype = np.dtype(dtype)
    n = int(n)
    size = n * dtype.itemsize
    if size < MIN_BYTES or not MAPPED:
        return np.empty(n, dtype)
    pages = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    return np.frombuffer(pages, dtype, count=n)
