"""The threads that run the fast path's work side by side (reading, then the compiled kernels).

Kept apart from ``_kernels`` (which imports numba, about half a second): reading a file can use
these threads while numba is still loading in the background.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

_POOL: ThreadPoolExecutor | None = None


def pool() -> ThreadPoolExecutor:
    """The threads (created on first use)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="parcours")
    return _POOL
