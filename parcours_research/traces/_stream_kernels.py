"""Compiled loops that code the rows while DuckDB streams them (numba; see ``_kernels``).

Integer ids are coded as they arrive: a hash table of the values seen so far gives each new
value the next code (the order of first appearance), so that no query has to list the distinct
ids beforehand -- one read of the file instead of two.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_jit = njit(cache=True, nogil=True)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@_jit
def code_ints(
    vals,
    bits,
    bit_off,
    lo0,
    small0,
    lo1,
    small1,
    slot_keys,
    slot_vals,
    seen,
    state,
    out,
    offset,
    i0,
):  # pragma: no cover - compiled
    """``out[offset + i]`` = the code of ``vals[i]`` for ``i >= i0`` (-1 when its bit in the
    Arrow validity bitmap ``bits`` is 0; ``bits`` empty: every value is there).

    A value not seen before gets code ``state[0]`` (the count of values seen, advanced) and is
    appended to ``seen``. Values in one of two windows, ``lo0 .. lo0 + len(small0) - 1`` and
    ``lo1 .. lo1 + len(small1) - 1`` (ids numbered from 0 or 1, or the range of a Parquet
    column's statistics), are looked up directly in ``small0`` / ``small1`` (code + 1; 0: not
    seen; the first window wins where they overlap), others in an open-addressing hash table
    (``slot_vals`` -1 marks a free slot; ``state[1]`` counts its values). Stops before
    ``seen`` overflows or the table gets half full; returns the next ``i``."""
    mask = np.uint64(len(slot_keys) - 1)
    limit = len(slot_keys) // 2
    hi0 = lo0 + (len(small0) - 1)
    hi1 = lo1 + (len(small1) - 1)
    n_max = len(seen)
    n_seen, n_hashed = state[0], state[1]
    has_bits = len(bits) > 0
    i = i0
    stop = False
    while i < len(vals) and not stop:
        if has_bits:
            b = bit_off + i
            if (bits[b >> 3] >> (b & 7)) & 1 == 0:
                out[offset + i] = -1
                i += 1
                continue
        v = vals[i]
        if lo0 <= v <= hi0:
            c = small0[v - lo0] - 1
            if c < 0:
                if n_seen >= n_max:
                    break
                c = n_seen
                small0[v - lo0] = c + 1
                seen[n_seen] = v
                n_seen += 1
            out[offset + i] = c
            i += 1
            continue
        if lo1 <= v <= hi1:  # (the same, in the second window)
            c = small1[v - lo1] - 1
            if c < 0:
                if n_seen >= n_max:
                    break
                c = n_seen
                small1[v - lo1] = c + 1
                seen[n_seen] = v
                n_seen += 1
            out[offset + i] = c
            i += 1
            continue
        j = (np.uint64(v) * _GOLDEN) >> np.uint64(20) & mask
        while True:
            c = slot_vals[j]
            if c < 0:
                if n_seen >= n_max or n_hashed >= limit:
                    stop = True
                    break
                slot_keys[j] = v
                slot_vals[j] = n_seen
                seen[n_seen] = v
                out[offset + i] = n_seen
                n_seen += 1
                n_hashed += 1
                break
            if slot_keys[j] == v:
                out[offset + i] = c
                break
            j = (j + np.uint64(1)) & mask
        if not stop:
            i += 1
    state[0], state[1] = n_seen, n_hashed
    return i


@_jit
def merge_ranges(t, lo, hi, out, base):  # pragma: no cover - compiled
    """Stable merge of the sorted ranges ``t[lo[r]:hi[r]]`` (an earlier range wins a tie):
    their positions in (t, position) order, written to ``out[base:]``."""
    k = len(lo)
    head = lo.copy()
    total = 0
    for r in range(k):
        total += hi[r] - lo[r]
    for j in range(total):
        best = -1
        tb = 0
        for r in range(k):
            if head[r] < hi[r]:
                tr = t[head[r]]
                if best < 0 or tr < tb:
                    best = r
                    tb = tr
        out[base + j] = head[best]
        head[best] += 1
