"""The counting sorts and the direct Parquet read, however they are cut (issue 20, 0.4.2).

The sort by actor (cleaning) counts the rows either in the given (time) order or, when they
are every position, in the order of the arrays; with two pieces the second is then scattered
backward from each key's end. Every way must give NumPy's stable sort
(``np.argsort(kind="stable")``) of the rows in time order, as must the sort by person
(sessions). The links between devices and customers read in the order of the arrays must equal
those read in time order. The direct read of a Parquet file decodes whole row groups side by side, or
batch by batch when a row group is large: both must fill the same arrays, in the same codes.
No timing here: see ``benchmarks/traces.py``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import parcours_research as pr
from parcours_research.traces import _clean_arrays as ca
from parcours_research.traces import _direct
from parcours_research.traces import _kernels as K


def _rows(seed: int, n: int = 5000, n_ids: int = 400):
    rng = np.random.default_rng(seed)
    device = rng.integers(-1, n_ids, n).astype(np.int32)
    user = np.where(rng.random(n) < 0.5, rng.integers(-1, n_ids, n), -1).astype(np.int32)
    t = rng.integers(0, 50, n).astype(np.int64)  # many ties
    t[rng.random(n) < 0.02] = K.NONE
    ev = rng.integers(-1, 6, n).astype(np.int16)
    row_id = rng.permutation(n).astype(np.int32)  # file positions, not the array order
    rows = np.lexsort((row_id, t)).astype(np.int32)  # (t, row_id) order
    return rows, t, ev, user, device, row_id


@pytest.mark.parametrize("parts", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_sort_by_actor_is_a_stable_sort_however_cut(monkeypatch, parts, seed):
    monkeypatch.setattr(K, "n_parts", lambda n: parts)
    rows, t, ev, user, device, _ = _rows(seed)
    none = np.zeros(0, np.int32)
    reason, o, a_o, t_o, ev_o = K.first_reasons(
        rows, t, ev, user, device, none, np.zeros(0, np.bool_), K.NONE, K.NONE, 400, False
    )
    actor = np.where(device >= 0, device, user)
    good = rows[reason[rows] == K.KEPT]
    expect = good[np.argsort(actor[good], kind="stable")]
    assert o.tolist() == expect.tolist()
    assert a_o.tolist() == actor[expect].tolist() and t_o.tolist() == t[expect].tolist()
    assert len(ev_o) == 0  # the events in actor order serve near duplicates only
    # the same with the rows counted in their own order (a subset: not every position)
    sub = rows[:-1]
    reason2, o2, *_ = K.first_reasons(
        sub, t, ev, user, device, none, np.zeros(0, np.bool_), K.NONE, K.NONE, 400, True
    )
    good2 = sub[reason2[sub] == K.KEPT]
    assert o2.tolist() == good2[np.argsort(actor[good2], kind="stable")].tolist()


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_sort_by_person_of_the_kept_rows(monkeypatch, parts):
    monkeypatch.setattr(K, "n_parts", lambda n: parts)
    rows, t, ev, user, device, row_id = _rows(7)
    keep = np.zeros(len(t), np.int8)
    keep[::5] = K.BOT_BEHAVIOUR  # removed by cleaning
    kept = rows[keep[rows] == 0]
    person = np.where(user >= 0, user, device)
    ok = kept[(person[kept] >= 0) & (t[kept] != K.NONE)]
    expect = ok[np.argsort(person[ok], kind="stable")]
    ts, rid, evs, rank, codes = K.person_order(kept, t, user, device, row_id, ev, 400)
    assert rid.tolist() == row_id[expect].tolist() and ts.tolist() == t[expect].tolist()
    assert evs.tolist() == ev[expect].tolist()
    assert codes[rank].tolist() == person[expect].tolist()


def _log_table(n: int = 9000, seed: int = 3) -> pa.Table:
    rng = np.random.default_rng(seed)
    dev = rng.integers(0, 700, n)
    cust = np.where(rng.random(n) < 0.5, 10**12 + dev % 300, -1)
    t = np.sort(1_767_225_600_000_000 + rng.integers(0, 86_400, n) * 1_000_000)
    ev = rng.choice(np.array(["home", " search", "cart", None], dtype=object), n)
    ua = rng.choice(np.array(["Mozilla/5.0", "python-requests/2.32"], dtype=object), n)
    return pa.table(
        {
            "device_id": pa.array(dev),
            "customer_id": pa.array(cust, mask=cust < 0),
            "ts": pa.array(t * 1000, pa.timestamp("ns", tz="UTC")),
            "event_name": pa.array(ev),
            "user_agent": pa.array(ua),
        }
    )


def _fetch(path):
    eng = pr.traces.DuckDBEngine()
    log = pr.traces.read_events(
        path,
        columns={"user_id": "customer_id", "timestamp": "ts", "event": "event_name"},
        engine=eng,
    )
    enc, ua, ua_values = ca.fetch(log, want_ua=True)
    return enc, ua, ua_values


def test_row_groups_side_by_side_equal_batches_in_order(tmp_path, monkeypatch):
    path = tmp_path / "events.parquet"
    pq.write_table(_log_table(), path, row_group_size=1000)  # nine row groups
    used = []
    real = _direct.read

    def read(*args):
        used.append(args[1]["path"])
        return real(*args)

    monkeypatch.setattr(_direct, "read", read)
    whole = _fetch(str(path))
    monkeypatch.setattr(_direct, "GROUP_MAX", 500)  # row groups too large: batch by batch
    monkeypatch.setattr(ca, "BATCH_ROWS", 700)
    batched = _fetch(str(path))
    assert len(used) == 2  # both read directly
    a, b = whole[0], batched[0]
    for name in ("row_id", "t", "ev", "rows"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.events == b.events
    for name in ("user", "device"):  # codes in order of first appearance, batch by batch
        ids_a = [a.ids[int(c)].as_py() if c >= 0 else None for c in getattr(a, name)]
        ids_b = [b.ids[int(c)].as_py() if c >= 0 else None for c in getattr(b, name)]
        assert ids_a == ids_b, name
    assert np.array_equal(whole[1], batched[1])
    assert whole[2].to_pylist() == batched[2].to_pylist()


@pytest.mark.parametrize("login_only", [False, True])
def test_device_links_read_in_array_order_equal_those_in_time_order(login_only):
    """The links between devices and customers do not depend on the rows' order: read from
    cleaning's outcome in the order of the arrays, they equal those read in time order."""
    rows, t, ev, user, device, _ = _rows(5, n_ids=60)
    ev = np.abs(ev) % 3
    keep = np.zeros(len(t), np.int8)
    keep[::4] = K.EXACT
    kept = rows[keep[rows] == 0]
    login = np.array([False, True, False]) if login_only else np.zeros(0, np.bool_)
    expect = K.device_links(kept, user, device, ev, login, 60)
    got = K.device_links(kept, user, device, ev, login, 60, keep)
    assert all(np.array_equal(a, b) for a, b in zip(expect, got))
    wrong = keep.copy()
    wrong[kept[0]] = K.EXACT  # an outcome that does not match the rows: not trusted
    got = K.device_links(kept, user, device, ev, login, 60, wrong)
    assert all(np.array_equal(a, b) for a, b in zip(expect, got))
