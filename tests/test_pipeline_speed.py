"""The trace pipeline's kernels cut into pieces, and numba's start-up (issue 20, 0.4.3).

Stitching users, numbering sessions and scattering transitions' durations now run in pieces
side by side (one per core); each way of cutting must give exactly what the one-piece loops of
0.4.2 gave (written out below as the reference). The kernels load from numba's cache without
numba's registries of NumPy implementations: a warm process must not import them, and its
results must equal those of a process that compiled everything. No timing here: see
``benchmarks/traces.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_traces_compile import _run  # a fresh process's JSON answer

from parcours_research.traces import _kernels as K

ROOT = Path(__file__).resolve().parents[1]


# -- the one-piece loops of 0.4.2 (the reference) ---------------------------------------------
def stitch_users_042(user, device, dev_map):
    out = np.empty(len(user), np.int32)
    for r in range(len(user)):
        u = user[r]
        if u < 0 and device[r] >= 0:
            u = dev_map[device[r]]
            if u < 0:
                u = device[r]
        out[r] = u
    return out


def sessions_042(person, t, gap_us):
    n = len(t)
    session, within = np.empty(n, np.int32), np.empty(n, np.int32)
    s, w = -1, 0
    for i in range(n):
        if i == 0 or person[i] != person[i - 1]:
            s, w = s + 1, 1
        elif t[i] - t[i - 1] > gap_us:
            s, w = s + 1, w + 1
        session[i], within[i] = s, w
    return session, within


def pair_durations_042(x, c, t, k):
    """``{pair code: durations in row order}`` of the directly-follows pairs within cases."""
    out: dict[int, list[int]] = {}
    prev = -1
    for i in range(len(x)):
        if x[i] < 0 or c[i] < 0:
            continue
        if prev >= 0 and c[prev] == c[i]:
            out.setdefault(int(x[prev] * k + x[i]), []).append(int(t[i] - t[prev]))
        prev = i
    return out


# -- data ---------------------------------------------------------------------------------------
def _persons(seed: int, n: int):
    """Rows sorted by (person, t): person ranks in runs, times with ties and long gaps."""
    rng = np.random.default_rng(seed)
    person = np.sort(rng.integers(0, max(n // 6, 1), n)).astype(np.int32)
    t = rng.integers(0, 4_000, n).astype(np.int64) * rng.choice([1, 700], n)
    order = np.lexsort((t, person))
    return person[order], t[order]


@pytest.fixture(params=[1, 2, 3, 4])
def parts(request, monkeypatch):
    """Every kernel that can run in pieces runs in this many, even on a small log."""
    monkeypatch.setattr(K, "n_parts", lambda n: min(request.param, max(n, 1)))
    return request.param


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stitch_users_in_pieces(parts, seed):
    rng = np.random.default_rng(seed)
    n, n_ids = 3000, 300
    user = np.where(rng.random(n) < 0.4, rng.integers(0, n_ids, n), -1).astype(np.int32)
    device = np.where(rng.random(n) < 0.9, rng.integers(0, n_ids, n), -1).astype(np.int32)
    dev_map = np.where(rng.random(n_ids + 1) < 0.5, rng.integers(0, n_ids, n_ids + 1), -1)
    dev_map = dev_map.astype(np.int32)
    got = K.stitch_users(user, device, dev_map)
    assert got.dtype == np.int32
    assert got.tolist() == stitch_users_042(user, device, dev_map).tolist()


@pytest.mark.parametrize("n", [0, 1, 2, 7, 2500])
@pytest.mark.parametrize("seed", [0, 1])
def test_sessions_in_pieces(parts, n, seed):
    person, t = _persons(seed, n)
    gap = 1_000
    session, within = K.sessions(person, t, gap)
    ref_s, ref_w = sessions_042(person, t, gap)
    assert session.tolist() == ref_s.tolist()
    assert within.tolist() == ref_w.tolist()


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 30)), max_size=60),
    pieces=st.integers(1, 4),
    gap=st.integers(0, 40),
)
def test_hypothesis_sessions_however_cut(monkeypatch, rows, pieces, gap):
    """Whole persons per piece; one person's rows never split, however few the rows."""
    monkeypatch.setattr(K, "n_parts", lambda n: min(pieces, max(n, 1)))
    rows = sorted(rows)
    person = np.array([p for p, _ in rows], np.int32)
    t = np.array([x for _, x in rows], np.int64)
    session, within = K.sessions(person, t, gap)
    ref_s, ref_w = sessions_042(person, t, gap)
    assert session.tolist() == ref_s.tolist() and within.tolist() == ref_w.tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_transition_pairs_in_pieces(parts, seed):
    rng = np.random.default_rng(seed)
    n, k = 4000, 7
    c = np.sort(rng.integers(-1, 500, n)).astype(np.int32)  # cases in runs (-1: none)
    x = np.where(rng.random(n) < 0.9, rng.integers(0, k, n), -1).astype(np.int16)
    t = np.cumsum(rng.integers(0, 50, n)).astype(np.int64)
    u, counts, med = K.transition_pairs(x, c, t, k)
    ref = pair_durations_042(x, c, t, k)
    assert u.tolist() == sorted(ref)
    assert counts.tolist() == [len(ref[g]) for g in sorted(ref)]
    assert med.tolist() == [float(np.median(ref[g])) for g in sorted(ref)]


# -- numba's start-up ---------------------------------------------------------------------------
_PIPELINE = (
    "import json, sys\n"
    "import parcours_research as pr\n"
    "from parcours_research.traces import _clean_arrays as ca\n"
    "study = pr.load_study(pr.datasets.sample_dir())\n"
    "cleaned, log = pr.traces.clean(pr.traces.read_events(study))\n"
    "sessions = pr.traces.sessionize(pr.traces.stitch(cleaned)[0])\n"
    "out = {'summary': log.summary['n'].tolist(),\n"
    "       'funnel': pr.traces.funnel(sessions).to_json(),\n"
    "       'transitions': pr.traces.transitions(sessions).to_json(),\n"
    "       'variants': pr.traces.variants(sessions, top=10).to_json()}\n"
    "ca._LOADING[0].join()  # the kernels of the later steps loaded ahead, too\n"
    "out['registries'] = 'numba.np.arraymath' in sys.modules\n"
    "out['linalg'] = 'numba.np.linalg' in sys.modules\n"
    "print(json.dumps(out))\n"
)


def test_warm_kernels_load_without_numba_registries():
    """A second process loads every kernel from numba's cache without numba's registries
    (nor its linear algebra, which checks for scipy), and gives the results of the first
    (which may have compiled them)."""
    first = _run(_PIPELINE, PARCOURS_COMPILE_HELPER="0")
    second = _run(_PIPELINE, PARCOURS_COMPILE_HELPER="0")
    assert second["registries"] is False
    assert second["linalg"] is False
    for key in ("summary", "funnel", "transitions", "variants"):
        assert second[key] == first[key], key
