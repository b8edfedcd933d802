"""Benchmark of the trace pipeline against chDB (ClickHouse), polars, pandas and pm4py.

    python benchmarks/traces.py                       # 1e6 and 1e7 events, every contestant
    python benchmarks/traces.py --sizes 1e6,1e7,3e7   # the sizes of issue 20
    python benchmarks/traces.py --sizes 1e8 --only parcours   # the long run
    python benchmarks/traces.py --ids text --unit us  # text ids, microsecond timestamps
    python benchmarks/traces.py --repeat 5            # more runs of each contestant (median)
    python benchmarks/traces.py --only parcours,old,chdb --against /tmp/old   # an older tree
    python benchmarks/traces.py --bytecode off        # as the shell says (PYTHONDONTWRITEBYTECODE)
    python benchmarks/traces.py --pause 3             # every contestant started cold (see --help)

chDB and polars come with the ``bench`` extra (``pip install -e .[bench]``).

For each size it writes a raw event log (Parquet: device_id, customer_id, ts, event_name,
user_agent; ids BIGINT by default, timestamps time-zone-aware nanoseconds as pandas writes
them) with robots, duplicates and customers on several devices, then runs, each in its own
process (so that peak memory is its own):

- ``parcours``: the package on DuckDB -- clean (robots by user agent and behaviour, exact
  duplicates), stitch, sessionize (30 min), a 5-step funnel in a 7-day window (ClickHouse
  ``windowFunnel`` semantics), transitions within sessions, top 10 variants;
- ``chdb``: the same pipeline in ClickHouse SQL (chDB, in process, two threads): the file
  streamed, one ``GROUP BY`` per actor and one per person with array functions (duplicates,
  robots, sessions, transitions), ``windowFunnel`` on each person's events;
- ``polars``: the same pipeline with polars' lazy API;
- ``pandas``: the same pipeline written with idiomatic pandas (categoricals, sort once,
  groupby/shift);
- ``pm4py``: ``discover_dfg`` and ``get_variants`` on the cleaned, stitched, 30-minute
  sessions (case = ``session_id``, activity = event), prepared once by parcours (not timed):
  pm4py has no cleaning, stitching, sessions or funnels; its time is reading that file,
  ``format_dataframe``, ``discover_dfg`` and ``get_variants``;
- ``floor``: pyarrow reads the person and time columns and NumPy sorts the rows by (person,
  timestamp): what any contestant must at least do;
- ``old``: the package's pipeline from another copy of it (``--against``: a folder holding a
  ``parcours_research`` package, say an earlier release unpacked by ``git archive``), to
  measure a change against the code before it in the same run.

Before any timing, the pipeline runs once on a small log (not timed): numba compiles the kernels
on their first use after an install and caches them on disk, so that every timed run loads them
as a user's second session would. Contestants run in turn, round robin, each up to ``--repeat``
times (3 by default; a contestant is not run again once its runs have taken two minutes). It
prints the median wall time and the largest peak resident memory of each, the ratios of
parcours's time to each other's (all measured in the same run: the machine may be shared), the
targets of issue 20 (at most 0.5x chDB's time at 1e7 and 3e7 events and at most chDB's at 1e6,
within 2x of the floor at 1e7, about 75 bytes of peak memory per event), and whether the
results of every contestant (kept rows, funnel counts, transition count, top variants and their
counts) equal parcours's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EVENTS = [
    "home",
    "search",
    "product_page",
    "simulator",
    "add_to_cart",
    "signup",
    "login",
    "checkout",
    "payment",
    "confirmation",
    "help",
    "faq",
    "contact",
    "account",
    "logout",
    "app_open",
    "app_usage",
    "billing",
    "claim",
    "review",
]
FUNNEL = ["home", "search", "product_page", "add_to_cart", "checkout"]
HUMAN_UA = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36",
]
BOT_UA = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "python-requests/2.32",
]
START_US = 1_767_225_600_000_000  # 2026-01-01 UTC


def _chunk(n: int, seed: int, dev_offset: int):
    """One chunk of ``n`` events: sessions walk a Markov chain over EVENTS."""
    rng = np.random.default_rng(seed)
    k = len(EVENTS)
    trans = rng.dirichlet(np.ones(k) * 0.3, size=k)
    for i in range(9):
        trans[i, i + 1] += 1.5
    cdf = np.cumsum(trans / trans.sum(1, keepdims=True), 1)
    n_sess = int(n / 8) + 1
    lens = np.minimum(rng.geometric(0.1, n_sess), 60)
    cs = np.cumsum(lens)
    keep = int(np.searchsorted(cs, n)) + 1
    lens = lens[:keep].copy()
    lens[-1] -= int(cs[keep - 1] - n)
    n_sess = len(lens)
    n_dev = max(n_sess // 3, 1)
    dev = rng.integers(0, n_dev, n_sess)
    start = START_US + rng.integers(0, 60 * 86400, n_sess) * 1_000_000
    first = np.cumsum(lens) - lens
    ev = np.empty(n, np.int16)
    cur = rng.choice(k, n_sess, p=np.r_[0.5, 0.2, 0.1, [0.2 / (k - 3)] * (k - 3)])
    for pos in range(int(lens.max())):
        alive = lens > pos
        ev[first[alive] + pos] = cur[alive]
        cur = (rng.random(n_sess)[:, None] > cdf[cur]).sum(1).clip(max=k - 1)
    gaps = rng.exponential(40e6, n).astype(np.int64) + 1_000_000
    gaps[first] = 0
    sess = np.repeat(np.arange(n_sess), lens)
    csum = np.cumsum(gaps)
    ts = start[sess] + csum - csum[first][sess]
    d = dev[sess]
    # behavioural robots: 0.5% of devices click every 2 seconds
    robots = rng.random(n_dev) < 0.005
    rob_rows = robots[d]
    order_in = np.arange(n) - first[sess]
    ts = np.where(rob_rows, start[sess] + order_in * 2_000_000, ts)
    # customers: 2 devices per customer on average, logged in on 60% of events
    cust = rng.integers(0, max(n_dev // 2, 1), n_dev)
    logged = rng.random(n) < 0.6
    ua = rng.choice(len(HUMAN_UA) + len(BOT_UA), n_dev, p=[0.4, 0.33, 0.25, 0.01, 0.01])
    ua = np.where(robots, 0, ua)
    # 1% exact duplicates, 0.5% near duplicates (+0.3 s)
    dup = rng.random(n) < 0.01
    near = rng.random(n) < 0.005
    idx = np.r_[np.arange(n), np.flatnonzero(dup), np.flatnonzero(near)]
    shift = np.r_[np.zeros(n + dup.sum(), np.int64), np.full(near.sum(), 300_000)]
    return (
        d[idx] + dev_offset,
        np.where(logged, cust[d] + dev_offset // 2, -1)[idx],
        ts[idx] + shift,
        ev[idx],
        ua[d][idx],
    )


def generate(
    path: Path,
    n: int,
    seed: int = 0,
    chunk: int = 5_000_000,
    quiet: bool = False,
    ids: str = "int",
    unit: str = "ns",
) -> int:
    """Write about ``n`` raw events to ``path`` (Parquet), chunk by chunk (progress on stderr
    unless ``quiet``). ``ids`` is ``"int"`` (BIGINT device and customer ids, as most exports
    have them) or ``"text"`` (``d123``, ``C45``); ``unit`` the unit of the time-zone-aware
    timestamps (``"ns"``, as pandas writes them, ``"us"`` or ``"ms"``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    total = 0
    dev_offset = 0
    uas = pa.array(HUMAN_UA + BOT_UA)
    evs = pa.array(EVENTS)
    for i, start in enumerate(range(0, n, chunk)):
        m = min(chunk, n - start)
        d, c, ts, ev, ua = _chunk(m, seed + i, dev_offset)
        dev_offset += int(d.max()) + 1
        if ids == "text":
            dev_col = pa.array(np.char.add("d", d.astype(str)))
            cust_col = pa.array(np.char.add("C", c.astype(str)), mask=c < 0)
        else:  # customers numbered apart from devices
            dev_col = pa.array(d.astype(np.int64))
            cust_col = pa.array(c.astype(np.int64) + 10**12, mask=c < 0)
        scale = {"ns": 1000, "us": 1, "ms": None}[unit]
        ts_raw = ts * scale if scale else ts // 1000
        table = pa.table(
            {
                "device_id": dev_col,
                "customer_id": cust_col,
                "ts": pa.array(ts_raw, pa.timestamp(unit, tz="UTC")),
                "event_name": pa.DictionaryArray.from_arrays(pa.array(ev.astype(np.int32)), evs),
                "user_agent": pa.DictionaryArray.from_arrays(pa.array(ua.astype(np.int32)), uas),
            }
        )
        order = np.argsort(ts, kind="stable")  # exports come roughly in time order
        table = table.take(pa.array(order))
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=1_000_000)
        total += table.num_rows
        if not quiet:
            print(f"  generated {total:,} rows", file=sys.stderr, flush=True)
    writer.close()
    return total


# ---------------------------------------------------------------------------------------------
def run_parcours(path: str) -> dict:
    """The package on DuckDB: the whole pipeline."""
    import parcours_research as pr

    sessions, clog = _pipeline(path)
    fun = pr.traces.funnel(sessions, steps=FUNNEL, window="7D")
    tr = pr.traces.transitions(sessions)
    va = pr.traces.variants(sessions, top=10)
    return {
        "kept": clog.n_kept,
        "funnel": fun["converted"].tolist(),
        "n_transitions": int(tr["n"].sum()),
        "top_variants": va["variant"].tolist(),
        "top_n": va["n"].tolist(),
    }


def run_pandas(path: str) -> dict:
    """The same pipeline in idiomatic pandas."""
    import pandas as pd

    df = pd.read_parquet(path)
    df["row_id"] = np.arange(len(df))
    for c in ("device_id", "customer_id", "event_name", "user_agent"):
        df[c] = df[c].astype("category")
    df["actor"] = df["device_id"]
    reason = pd.Series("", index=df.index)
    # robots by user agent
    bot_ua = df["user_agent"].cat.categories.str.lower().str.contains(_bot_pattern(), regex=True)
    reason[df["user_agent"].isin(df["user_agent"].cat.categories[bot_ua])] = "bot_user_agent"
    ok = reason.eq("")
    dup = df.duplicated(["device_id", "customer_id", "ts", "event_name", "user_agent"]) & ok
    # robots by behaviour, measured without duplicates
    d = df[ok & ~dup].sort_values(["actor", "ts", "row_id"])
    per_min = d.groupby(["actor", d["ts"].dt.floor("min")], observed=True).size()
    gaps = d.groupby("actor", observed=True)["ts"].diff().dt.total_seconds()
    st = gaps.groupby(d["actor"], observed=True).agg(["mean", "std", "size"])
    cv = st["std"] * np.sqrt((st["size"] - 1) / st["size"]) / st["mean"]
    n_ev = d.groupby("actor", observed=True).size()
    robots = set(per_min[per_min > 30].index.get_level_values(0)) | set(
        cv[(cv < 0.1) & (n_ev >= 20)].index
    )
    reason[ok & df["actor"].isin(list(robots))] = "bot_behaviour"
    reason[reason.eq("") & dup] = "exact_duplicate"
    ev = df[reason.eq("")]
    # stitching by login events
    links = (
        ev.dropna(subset=["customer_id"])
        .groupby(["device_id", "customer_id"], observed=True)
        .size()
    )
    per_dev = links.groupby(level=0, observed=True).size()
    unique = links[links.index.get_level_values(0).isin(per_dev[per_dev == 1].index)].reset_index()
    dev_to_cust = dict(zip(unique["device_id"], unique["customer_id"]))
    user = ev["customer_id"].astype(object)
    user = user.where(user.notna(), ev["device_id"].astype(object).map(dev_to_cust))
    user = user.where(user.notna(), ev["device_id"].astype(object))
    ev = ev.assign(user_id=pd.Categorical(user))
    # sessions
    ev = ev.sort_values(["user_id", "ts", "row_id"])
    g = ev.groupby("user_id", observed=True)["ts"].diff()
    ev["session"] = (g.isna() | (g > pd.Timedelta("30min"))).cumsum()
    # funnel (ClickHouse windowFunnel semantics, by running maxima)
    step = (
        ev["event_name"]
        .map({e: i for i, e in enumerate(FUNNEL, 1)})
        .astype("float")
        .fillna(0)
        .astype(int)
    )
    f = ev[step > 0].assign(step=step[step > 0]).sort_values(["user_id", "ts", "step", "row_id"])
    f["f1"] = f["ts"].where(f["step"].eq(1))
    w = pd.Timedelta("7D")
    for k in range(2, len(FUNNEL) + 1):
        # the latest chain start reaching step k-1 on an earlier row of the same user
        ff = f.groupby("user_id", observed=True)[f"f{k - 1}"].ffill()
        m = ff.groupby(f["user_id"], observed=True).shift()
        f[f"f{k}"] = m.where(f["step"].eq(k) & (f["ts"] <= m + w))
    reached = (
        f.groupby("user_id", observed=True)[[f"f{k}" for k in range(1, 6)]].max().notna().sum()
    )
    # transitions within sessions and variants
    nxt = ev.groupby("session")["event_name"].shift(-1)
    dt = ev.groupby("session")["ts"].shift(-1) - ev["ts"]
    tr = pd.DataFrame({"source": ev["event_name"], "target": nxt, "dt": dt}).dropna()
    tr = tr.groupby(["source", "target"], observed=True)["dt"].agg(["size", "median"])
    codes = ev["event_name"].cat.codes.to_numpy()
    variants = ev.assign(code=codes).groupby("session")["code"].agg(tuple).value_counts()
    names = ev["event_name"].cat.categories.tolist()
    # top 10 by count, ties by name: only the variants as frequent as the 10th need a name
    cut = variants.iloc[min(9, len(variants) - 1)] if len(variants) else 0
    top = [(" > ".join(names[c] for c in v), int(n)) for v, n in variants[variants >= cut].items()]
    top.sort(key=lambda x: (-x[1], x[0]))
    return {
        "kept": int(len(ev)),
        "funnel": [int(x) for x in reached.tolist()],
        "n_transitions": int(tr["size"].sum()),
        "top_variants": [v for v, _ in top[:10]],
        "top_n": [n for _, n in top[:10]],
    }


def _bot_pattern() -> str:
    """The regular expression of parcours's robot user agents (``clean.BOT_PATTERNS``)."""
    import re

    from parcours_research.traces.clean import BOT_PATTERNS

    return "|".join(re.escape(t) for t in BOT_PATTERNS)


def _sql_text(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _chdb_types(path: str) -> dict[str, str]:
    """Column -> Arrow type of the generated log (as text)."""
    import pyarrow.parquet as pq

    return {f.name: str(f.type) for f in pq.read_schema(path)}


def _chdb_structure(path: str) -> str:
    """The file's columns for ClickHouse, event names and user agents as LowCardinality (as
    a ClickHouse user declares a dictionary-encoded text column)."""
    import pyarrow.parquet as pq

    names = {"int64": "Int64", "string": "String", "large_string": "String"}
    cols = []
    for f in pq.read_schema(path):
        t = str(f.type)
        if t.startswith("timestamp"):
            unit = {"s": 0, "ms": 3, "us": 6, "ns": 9}[f.type.unit]
            typ = f"Nullable(DateTime64({unit}, 'UTC'))"
        elif t.startswith("dictionary"):
            typ = "LowCardinality(Nullable(String))"
        else:
            typ = f"Nullable({names[t]})"
        cols.append(f"{f.name} {typ}")
    return ", ".join(cols)


def run_chdb(path: str) -> dict:
    """The same pipeline in ClickHouse SQL (chDB, in process, two threads), written as a
    ClickHouse user would: the file read once by ``file()`` into a Memory table (the rows that
    pass the first checks, with a 128-bit (timestamp, row hash) key), event names as small
    integer codes, one ``GROUP BY`` per actor (exact duplicates dropped from each actor's
    sorted keys, robot behaviour from its sorted timestamps, login links) and one per person
    (events sorted as packed 256-bit then 128-bit numbers, duplicates dropped,
    ``windowFunnel`` on the arrays, transitions and sessions cut with array functions).

    Each step was measured against its alternatives at 1e6 and 1e7 events (GROUP BY on a row
    hash, ``LIMIT 1 BY``, tuples in ``groupArray``, ``windowFunnel`` over the rows, reading
    the file twice, ``indexOf`` instead of ``transform`` for the event codes): these were the
    fastest."""
    from chdb import session as chs

    db = chs.Session()
    day_us, gap_us, minute_us = 86_400_000_000, 30 * 60_000_000, 60_000_000
    src = f"file({_sql_text(path)}, Parquet, {_sql_text(_chdb_structure(path))})"

    def run(sql: str):
        return db.query(sql + " SETTINGS max_threads = 2", "DataFrame")

    # the file read once into memory (measured: reading it twice costs more than keeping it)
    run(f"CREATE TABLE rows ENGINE = Memory AS {_chdb_rows(path, src)}")
    names = sorted(run("SELECT DISTINCT ev FROM rows")["ev"])
    arr = "[" + ", ".join(_sql_text(e) for e in names) + "]"
    # per actor: distinct rows (sorted (ts, hash of the row) keys, each compared with the one
    # before), robot behaviour (more than 30 events in a calendar minute, or at least 20 events
    # with regular gaps), and the customers a device logged in as
    run(
        "CREATE TABLE act ENGINE = Memory AS SELECT actor, "
        "if(length(links) = 1, links[1], NULL) AS link FROM (SELECT actor, "
        "arraySort(groupArray(key)) AS s, arrayFilter((x, y) -> x != y, s, "
        "arrayPushFront(arrayPopBack(s), toUInt128(0))) AS u, "
        "arrayMap(x -> toUInt64(bitShiftRight(x, 64)), u) AS ts, length(u) AS n, "
        f"arrayPopFront(arrayDifference(ts)) AS g, arrayMap(x -> intDiv(x, {minute_us}), ts) AS m, "
        "groupUniqArrayIf(cust, dev IS NOT NULL AND cust IS NOT NULL) AS links "
        "FROM rows GROUP BY actor HAVING NOT ((n > 30 AND arrayExists((a, b) -> a = b, "
        "arraySlice(m, 1, n - 30), arraySlice(m, 31))) OR (n >= 20 AND if(arrayAvg(g) = 0, 0., "
        "arrayReduce('stddevPop', g) / arrayAvg(g)) < 0.1)))"
    )
    # per person (a device seen with exactly one customer belongs to that customer): the rows
    # sorted as 256-bit numbers (ts, row hash, file position, event code), a row dropped when
    # its (ts, row hash) equals the one before (the first in the file is kept), then the events
    # in (ts, file position) order packed as 128-bit numbers (ts << 64 | row << 8 | code)
    conds = ", ".join(f"arrayMap(x -> x = {names.index(e) + 1}, es)" for e in FUNNEL)
    run(
        "CREATE TABLE pp ENGINE = Memory AS SELECT length(w) AS n, level, tr, ss FROM (SELECT "
        "arraySort(groupArray(bitShiftLeft(toUInt256(key), 128) + toUInt64(row_id) * 256 + "
        f"transform(ev, {arr}, range(1, {len(names) + 1})::Array(UInt8), 0::UInt8))) AS z, "
        "arrayMap(x -> toUInt128(bitShiftRight(x, 128)), z) AS h, "
        "arraySort(arrayMap(x -> bitShiftLeft(toUInt128(toUInt64(bitShiftRight(x, 192))), 64) + "
        f"toUInt64(bitAnd(x, {2**64 - 1})), arrayFilter((x, a, b) -> a != b, z, h, "
        "arrayPushFront(arrayPopBack(h), toUInt128(0))))) AS w, "
        "arrayMap(x -> toUInt64(bitShiftRight(x, 64)), w) AS ts, "
        "arrayMap(x -> toUInt8(bitAnd(x, 255)), w) AS es, "
        f"arrayReduce('windowFunnel({7 * day_us})', ts, {conds}) AS level, "
        "arrayPopFront(arrayDifference(ts)) AS g, "
        f"arrayFilter((x, d) -> d <= {gap_us}, arrayZip(arrayPopBack(es), arrayPopFront(es), g), "
        f"g) AS tr, arraySplit((x, d) -> d > {gap_us}, es, arrayPushFront(g, 0)) AS ss "
        "FROM rows INNER JOIN act USING actor GROUP BY coalesce(cust, link, dev))"
    )
    kept = int(run("SELECT sum(n) AS n FROM pp")["n"].iloc[0])
    levels = run("SELECT level, count() AS n FROM pp GROUP BY level")
    by_level = dict(zip(levels["level"].astype(int), levels["n"].astype(int)))
    funnel = [sum(n for lv, n in by_level.items() if lv >= k) for k in range(1, len(FUNNEL) + 1)]
    tr = run(
        f"SELECT arrayElement({arr}, x.1) AS source, arrayElement({arr}, x.2) AS target, "
        "count() AS n, quantileExactInclusive(0.5)(x.3) AS med FROM pp ARRAY JOIN tr AS x "
        "GROUP BY source, target"
    )
    # top 10 by count, ties by name: only the variants as frequent as the 10th need a name
    va = run(
        f"SELECT arrayStringConcat(arrayMap(c -> arrayElement({arr}, c), s), ' > ') AS variant, "
        "n FROM (SELECT s, count() AS n FROM pp ARRAY JOIN ss AS s GROUP BY s "
        "ORDER BY n DESC LIMIT 10 WITH TIES) ORDER BY n DESC, variant ASC LIMIT 10"
    )
    db.cleanup()
    return {
        "kept": kept,
        "funnel": funnel,
        "n_transitions": int(tr["n"].sum()),
        "top_variants": va["variant"].tolist(),
        "top_n": [int(x) for x in va["n"]],
    }


def _chdb_rows(path: str, src: str) -> str:
    """The rows that pass the first checks (timestamp, event and an id present, no robot user
    agent: the regular expression runs on the dictionary of the LowCardinality column), with
    ``actor`` (device, else customer), the event ``ev``, ``key`` = the microsecond timestamp
    ``<< 64`` plus a 64-bit hash of the other columns (equal for exact duplicates) and the file
    position ``row_id``."""
    zero = {c: "''" if "string" in t else "0" for c, t in _chdb_types(path).items()}
    ids = ", ".join(f"{c} IS NULL, ifNull({c}, {zero[c]})" for c in ("device_id", "customer_id"))
    return (
        "SELECT coalesce(device_id, customer_id) AS actor, device_id AS dev, "
        "customer_id AS cust, event_name AS ev, "
        "bitShiftLeft(toUInt128(toUnixTimestamp64Micro(assumeNotNull(ts))), 64) + "
        f"cityHash64({ids}, cityHash64(event_name), cityHash64(user_agent)) AS key, "
        f"_row_number AS row_id FROM {src} WHERE ts IS NOT NULL AND event_name IS NOT NULL "
        "AND actor IS NOT NULL "
        f"AND NOT ifNull(match(lower(user_agent), {_sql_text(_bot_pattern())}), false)"
    )


def run_polars(path: str) -> dict:
    """The same pipeline with polars' lazy API (streaming engine where it applies)."""
    import polars as pl

    minute_us, gap_us, window_us = 60_000_000, 30 * 60_000_000, 7 * 86_400_000_000
    raw = pl.scan_parquet(path, row_index_name="row_id").select(
        "row_id",
        pl.col("device_id").alias("dev"),
        pl.col("customer_id").alias("cust"),
        pl.col("ts").dt.epoch("us").alias("t"),
        pl.col("event_name").cast(pl.Categorical).alias("ev"),
        pl.col("user_agent").alias("ua"),
    )
    # robots by user agent: the regular expression on the distinct user agents only
    uas = raw.select(pl.col("ua").cast(pl.String).unique()).collect()["ua"]
    bot_uas = uas.filter(uas.str.to_lowercase().str.contains(_bot_pattern()).fill_null(False))
    ok = raw.filter(
        pl.col("t").is_not_null()
        & pl.col("ev").is_not_null()
        & (pl.col("dev").is_not_null() | pl.col("cust").is_not_null())
        & ~pl.col("ua").cast(pl.String).is_in(bot_uas.implode()).fill_null(False)
    ).with_columns(pl.coalesce("dev", "cust").alias("actor"))
    uniq = (
        ok.group_by(["actor", "dev", "cust", "t", "ev", "ua"])
        .agg(pl.col("row_id").min())
        .sort(["actor", "t", "row_id"])
        .collect()
    )
    gaps = uniq.lazy().with_columns(pl.col("t").diff().over("actor").alias("g"))
    reg = gaps.group_by("actor").agg(
        pl.len().alias("n"),
        pl.col("g").drop_nulls().std(ddof=0).alias("sd"),
        pl.col("g").drop_nulls().mean().alias("mg"),
    )
    rate = (
        uniq.lazy()
        .group_by(["actor", pl.col("t") // minute_us])
        .len()
        .group_by("actor")
        .agg(pl.col("len").max().alias("mpm"))
    )
    cv = pl.when(pl.col("mg") == 0).then(0.0).otherwise(pl.col("sd") / pl.col("mg"))
    bots = (
        reg.join(rate, on="actor")
        .filter((pl.col("mpm") > 30) | ((pl.col("n") >= 20) & (cv < 0.1)))
        .select("actor")
    )
    kept = uniq.lazy().join(bots, on="actor", how="anti")
    links = (
        kept.filter(pl.col("dev").is_not_null() & pl.col("cust").is_not_null())
        .select("dev", "cust")
        .unique()
        .group_by("dev")
        .agg(pl.col("cust").first(), pl.len().alias("k"))
        .filter(pl.col("k") == 1)
        .select("dev", pl.col("cust").alias("c"))
    )
    people = (
        kept.join(links, on="dev", how="left")
        .select(pl.coalesce("cust", "c", "dev").alias("p"), "t", "row_id", "ev")
        .sort(["p", "t", "row_id"])
        .with_columns(
            ((pl.col("t").diff().over("p").fill_null(gap_us + 1)) > gap_us)
            .cum_sum()
            .alias("session")
        )
        .collect()
    )
    funnel = _polars_funnel(people, window_us)
    nxt = people.lazy().with_columns(
        pl.col("ev").shift(-1).over("session").alias("target"),
        (pl.col("t").shift(-1).over("session") - pl.col("t")).alias("d"),
    )
    tr = (
        nxt.filter(pl.col("target").is_not_null())
        .group_by(["ev", "target"])
        .agg(pl.len().alias("n"), pl.col("d").median().alias("med"))
        .collect()
    )
    va = (
        people.lazy()
        .group_by("session", maintain_order=True)
        .agg(pl.col("ev").cast(pl.String).str.join(" > ").alias("variant"))
        .group_by("variant")
        .len()
        .sort(["len", "variant"], descending=[True, False])
        .head(10)
        .collect()
    )
    return {
        "kept": people.height,
        "funnel": funnel,
        "n_transitions": int(tr["n"].sum()),
        "top_variants": va["variant"].to_list(),
        "top_n": va["len"].to_list(),
    }


def _polars_funnel(people, window_us: int) -> list[int]:
    """ClickHouse ``windowFunnel`` with polars expressions: the latest start of a chain reaching
    step k-1 on an earlier row (rows by person, time, step, row_id), carried forward."""
    import polars as pl

    step = (
        pl.col("ev")
        .cast(pl.String)
        .replace_strict({e: i for i, e in enumerate(FUNNEL, 1)}, default=0, return_dtype=pl.Int8)
    )
    f = (
        people.lazy()
        .with_columns(step.alias("step"))
        .filter(pl.col("step") > 0)
        .sort(["p", "t", "step", "row_id"])
        .with_columns(pl.when(pl.col("step") == 1).then(pl.col("t")).alias("f1"))
    )
    for k in range(2, len(FUNNEL) + 1):
        f = f.with_columns(pl.col(f"f{k - 1}").forward_fill().over("p").alias("_ff"))
        f = f.with_columns(pl.col("_ff").shift(1).over("p").alias("_m"))
        f = f.with_columns(
            pl.when((pl.col("step") == k) & (pl.col("t") <= pl.col("_m") + window_us))
            .then(pl.col("_m"))
            .alias(f"f{k}")
        )
    got = (
        f.group_by("p")
        .agg([pl.col(f"f{k}").max().is_not_null() for k in range(1, len(FUNNEL) + 1)])
        .collect()
    )
    return [int(got[f"f{k}"].sum()) for k in range(1, len(FUNNEL) + 1)]


def run_floor(path: str) -> dict:
    """The floor: read the person and time columns with pyarrow and sort the rows by (person,
    timestamp) with NumPy -- what any engine must at least do."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    tab = pq.read_table(path, columns=["customer_id", "device_id", "ts"])
    person = pc.coalesce(tab.column("customer_id"), tab.column("device_id")).combine_chunks()
    if not pa_is_integer(person.type):
        person = pc.dictionary_encode(person).indices
    t = tab.column("ts").combine_chunks().cast("int64").to_numpy()
    order = np.lexsort((t, person.to_numpy(zero_copy_only=False)))
    return {"rows": int(len(order))}


def pa_is_integer(typ) -> bool:
    import pyarrow.types as pat

    return pat.is_integer(typ)


def _pipeline(path: str):
    import parcours_research as pr

    eng = pr.traces.DuckDBEngine(
        threads=2, memory_limit=os.environ.get("BENCH_DUCKDB_MEMORY", "1500MB")
    )
    log = pr.traces.read_events(
        path,
        columns={"user_id": "customer_id", "timestamp": "ts", "event": "event_name"},
        engine=eng,
    )
    cleaned, clog = pr.traces.clean(log)
    stitched, _ = pr.traces.stitch(cleaned, identity_map=False)
    return pr.traces.sessionize(stitched, gap="30min"), clog


def prepare_pm4py(path: str) -> str:
    """Write the cleaned, stitched sessions for pm4py (not timed): ``session_id, event,
    timestamp`` ordered by session, time and file position."""
    out = path + ".pm4py.parquet"
    if not Path(out).exists() or Path(out).stat().st_mtime < Path(path).stat().st_mtime:
        sessions, _ = _pipeline(path)
        eng = sessions.engine
        eng.con.execute(
            f"COPY (SELECT session_id, event, timestamp FROM {sessions.ref} "
            f"ORDER BY session_id, timestamp, row_id) TO '{out}' (FORMAT parquet)"
        )
    return out


def run_pm4py(path: str) -> dict:
    """pm4py's discover_dfg and get_variants on the cleaned sessions (case = session)."""
    import warnings

    import pandas as pd

    sys._pm4py_welcome_shown = True  # no licence banner on stderr at import
    import pm4py

    df = pd.read_parquet(path)  # the prepared sessions (see prepare_pm4py)
    df = df.rename(
        columns={
            "session_id": "case:concept:name",
            "event": "concept:name",
            "timestamp": "time:timestamp",
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = pm4py.format_dataframe(
            df,
            case_id="case:concept:name",
            activity_key="concept:name",
            timestamp_key="time:timestamp",
        )
        dfg, _, _ = pm4py.discover_dfg(df)
        variants = pm4py.get_variants(df)
    top = sorted(
        ((" > ".join(v), int(n if isinstance(n, int) else len(n))) for v, n in variants.items()),
        key=lambda x: (-x[1], x[0]),
    )[:10]
    return {
        "n_transitions": int(sum(dfg.values())),
        "n_variants": len(variants),
        "top_variants": [v for v, _ in top],
        "top_n": [n for _, n in top],
    }


RUNNERS = {
    "parcours": run_parcours,
    "chdb": run_chdb,
    "polars": run_polars,
    "pandas": run_pandas,
    "pm4py": run_pm4py,
    "floor": run_floor,
}


def _child(which: str, path: str, out: str) -> None:
    if which == "old":  # the older tree is first on PYTHONPATH (see ``measure``)
        which = "parcours"
    if which == "prepare":
        prepare_pm4py(path)
        return
    if which == "warm":  # compile the kernels if numba's cache is stale (once per install)
        run_parcours(path)
        return
    t0, c0 = time.perf_counter(), time.process_time()
    sys0 = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    result = RUNNERS[which](path)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss / 1024
    out_json = {
        "wall_s": wall,
        "cpu_s": cpu,
        "sys_s": usage.ru_stime - sys0,  # mostly first touches of fresh memory (page faults)
        "peak_mb": peak,
        "result": result,
    }
    Path(out).write_text(json.dumps(out_json))


def measure(which: str, path: str, timeout: float) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = fh.name
    if which == "pm4py":  # its input: the cleaned sessions, prepared once and not timed
        prepared = path + ".pm4py.parquet"
        if (
            not Path(prepared).exists()
            or Path(prepared).stat().st_mtime < Path(path).stat().st_mtime
        ):
            print("  preparing the cleaned sessions for pm4py ...", file=sys.stderr, flush=True)
            subprocess.run([sys.executable, __file__, "--child", "prepare", path, out], check=True)
        path = prepared
    print(f"  running {which} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", which, path, out], timeout=timeout, env=_env(which)
    )
    if proc.returncode != 0:
        return {"wall_s": float("nan"), "peak_mb": float("nan"), "result": None, "failed": True}
    data = json.loads(Path(out).read_text())
    data["process_s"] = time.perf_counter() - t0  # with interpreter start-up and imports
    os.unlink(out)
    return data


#: the folder holding the older ``parcours_research`` of the contestant ``old`` (``--against``)
AGAINST: list[str] = []


def _env(which: str) -> dict:
    """The environment of a contestant's process: ``old`` imports the package from
    ``--against``. Python's bytecode cache is on for every contestant, as for an installed
    package (pip compiles its modules at install): a shell with ``PYTHONDONTWRITEBYTECODE``
    set would otherwise make parcours (an editable install) compile its own modules from
    source in every run, about 0.06 s of CPU, while the other contestants' libraries have
    their bytecode from their install. The warm-up run writes it (``--bytecode off`` keeps
    the shell's setting)."""
    env = dict(os.environ)
    if BYTECODE[0]:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    if which != "old":
        return env
    if not AGAINST:
        raise SystemExit("the contestant old needs --against FOLDER")
    env["PYTHONPATH"] = os.pathsep.join([AGAINST[0], os.environ.get("PYTHONPATH", "")])
    return env


#: whether the contestants' processes may use Python's bytecode cache (``--bytecode``)
BYTECODE: list[bool] = [True]


#: issue 20: parcours's wall time at most this share of chDB's, by size (events)
CHDB_TARGET = {1_000_000: 1.0, 10_000_000: 0.5, 30_000_000: 0.5}
#: issue 20: parcours within this many times the floor (numpy read + sort) at 1e7 events
FLOOR_TARGET = 2.0
#: issue 20: peak memory per event no higher than about this (bytes)
BYTES_PER_EVENT = 75
REPEAT_BUDGET_S = 120.0
CONTESTANTS = "parcours,chdb,polars,pandas,pm4py,floor"


def _median_run(runs: list[dict]) -> dict:
    """The run with the median wall time (the upper middle one for an even count), with the
    largest peak memory of all the runs."""
    ok = [r for r in runs if not r.get("failed")]
    if not ok:
        return runs[0]
    ordered = sorted(ok, key=lambda r: r["wall_s"])
    out = dict(ordered[len(ordered) // 2])
    out["peak_mb"] = max(r["peak_mb"] for r in ok)
    return out


def _args():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--sizes", default="1e6,1e7", help="comma-separated event counts, e.g. 1e6,1e7,3e7"
    )
    ap.add_argument("--only", default=CONTESTANTS, help="which contestants")
    ap.add_argument("--ids", default="int", choices=("int", "text"), help="id columns")
    ap.add_argument("--unit", default="ns", choices=("ns", "us", "ms"), help="timestamp unit")
    ap.add_argument("--dir", default=None, help="where to write the generated logs")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each contestant (median reported); runs past 120 s are not repeated",
    )
    ap.add_argument(
        "--against",
        default=None,
        help="a folder holding an older parcours_research package: the contestant old",
    )
    ap.add_argument(
        "--bytecode",
        default="on",
        choices=("on", "off"),
        help="let the contestants use Python's bytecode cache (on, as an installed package; "
        "off: as the shell says, e.g. PYTHONDONTWRITEBYTECODE)",
    )
    ap.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="seconds to wait before each timed process (0: none). On a VM that gives freed "
        "memory back to its host (virtio-balloon free page reporting, after about 2 s), a "
        "process started at once after a large one reuses its still-backed pages, one started "
        "later faults them in from the host; a pause of 3 s starts every contestant cold",
    )
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    return ap.parse_args()


def _runs(who: list[str], path: Path, args) -> dict[str, list[dict]]:
    """Every contestant ``--repeat`` times, round robin, so that a slower or faster spell of the
    machine falls on every contestant alike; a contestant is not run again once its runs have
    taken REPEAT_BUDGET_S (a long run averages the machine's moods by itself). Each round
    starts one contestant further down the list: the first process after a large one (the
    kernels' warm-up, or chDB's 5 GB) pays more system time for fresh memory, 1 to 2.5 s at
    3e7 events on the 2-core VM, so no contestant always pays it."""
    runs: dict[str, list[dict]] = {w: [] for w in who}
    for i in range(max(args.repeat, 1)):
        for w in who[i % len(who) :] + who[: i % len(who)]:
            spent = sum(r["wall_s"] for r in runs[w])
            if i and (spent > REPEAT_BUDGET_S or any(r.get("failed") for r in runs[w])):
                continue
            if args.pause > 0:
                time.sleep(args.pause)
            runs[w].append(measure(w, str(path), args.timeout))
    return runs


def _report(size: int, who: list[str], runs: dict, res: dict) -> None:
    """Times, peaks, ratios against parcours, the targets of issue 20, and the equality of
    the results."""
    for w in who:
        r = res[w]
        walls = ", ".join(f"{x['wall_s']:.2f}" for x in runs[w])
        cpus = sorted(x["cpu_s"] for x in runs[w] if "cpu_s" in x)
        syss = sorted(x["sys_s"] for x in runs[w] if "sys_s" in x)
        in_sys = f", of which system {syss[len(syss) // 2]:.2f} s" if syss else ""
        cpu = f"; CPU {cpus[len(cpus) // 2]:.2f} s (median{in_sys})" if cpus else ""
        print(
            f"{size:>12.0e} {w:>10} {r['wall_s']:>8.2f} {r['peak_mb']:>8.0f}  "
            + ("FAILED" if r.get("failed") else f"median of {len(runs[w])}: {walls}{cpu}"),
            flush=True,
        )
    base = res.get("parcours")
    if not base or base.get("failed"):
        return
    for w in who:
        if w == "parcours" or res[w].get("failed"):
            continue
        ratio = base["wall_s"] / res[w]["wall_s"]
        verdict = ""
        if w == "chdb" and size in CHDB_TARGET:
            ok = ratio <= CHDB_TARGET[size]
            verdict = f"  target <= {CHDB_TARGET[size]}: {'met' if ok else 'NOT met'}"
        if w == "floor" and size == 10_000_000:
            ok = ratio <= FLOOR_TARGET
            verdict = f"  target <= {FLOOR_TARGET}: {'met' if ok else 'NOT met'}"
        print(
            f"{'':>12} {'ratio':>10} parcours/{w} wall = {ratio:.2f}, "
            f"peak = {base['peak_mb'] / res[w]['peak_mb']:.2f}{verdict}",
            flush=True,
        )
    per_event = base["peak_mb"] * 2**20 / size
    print(
        f"{'':>12} {'peak':>10} parcours {base['peak_mb']:.0f} MB = {per_event:.0f} bytes/event "
        f"(target about {BYTES_PER_EVENT}, interpreter and libraries included)",
        flush=True,
    )
    keys = ("kept", "funnel", "n_transitions", "top_variants", "top_n")
    for w in who:
        got = res[w].get("result") if w not in ("parcours", "floor") else None
        if got:
            same = {k: got[k] == base["result"][k] for k in keys if k in got}
            flag = "equal" if all(same.values()) else f"DIFFERENT {same}"
            print(f"{'':>12} {'check':>10} parcours == {w}: {flag}", flush=True)


def main() -> None:
    args = _args()
    if args.child:
        _child(*args.child)
        return
    if args.against:
        AGAINST.append(str(Path(args.against).resolve()))
    BYTECODE[0] = args.bytecode == "on"
    folder = Path(args.dir or tempfile.mkdtemp(prefix="parcours_bench_"))
    folder.mkdir(parents=True, exist_ok=True)
    who = [w.strip() for w in args.only.split(",") if w.strip()]
    try:
        a, b, c = os.getloadavg()
        load = f" (load average {a:.1f} {b:.1f} {c:.1f} on {os.cpu_count()} cores)"
    except OSError:  # pragma: no cover
        load = ""
    print(
        "median wall time of the runs (imports included, interpreter start-up excluded), "
        f"largest peak resident memory{load}; ids {args.ids}, timestamps {args.unit} UTC"
    )
    print(f"{'events':>12} {'contestant':>10} {'wall s':>8} {'peak MB':>8}  notes")
    if "parcours" in who or "old" in who:
        # numba compiles the kernels on their first use after an install or an upgrade and
        # caches them on disk: done here on a small log, not timed (as pm4py's input is
        # prepared beforehand)
        small = folder / f"events_warm_{args.ids}_{args.unit}.parquet"
        if not small.exists():
            generate(small, 20_000, quiet=True, ids=args.ids, unit=args.unit)
        print("  loading the compiled kernels once (not timed) ...", file=sys.stderr, flush=True)
        for w in ("parcours", "old"):
            if w in who:
                subprocess.run(
                    [sys.executable, __file__, "--child", "warm", str(small), ""],
                    check=True,
                    env=_env(w),
                )
    peaks = {}
    for size in [int(float(s)) for s in args.sizes.split(",")]:
        path = folder / f"events_{size:.0e}_{args.ids}_{args.unit}.parquet".replace("+", "")
        if not path.exists():
            t0 = time.perf_counter()
            n = generate(path, size, ids=args.ids, unit=args.unit)
            print(f"  wrote {n:,} rows in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        runs = _runs(who, path, args)
        res = {w: _median_run(runs[w]) for w in who}
        _report(size, who, runs, res)
        if "parcours" in res and not res["parcours"].get("failed"):
            peaks[size] = res["parcours"]["peak_mb"]
    if len(peaks) > 1:
        (n0, p0), (n1, p1) = sorted(peaks.items())[-2:]
        print(
            f"{'':>12} {'memory':>10} parcours: {(p1 - p0) * 2**20 / (n1 - n0):.0f} bytes per "
            f"extra event between {n0:.0e} and {n1:.0e} events",
            flush=True,
        )


if __name__ == "__main__":
    main()
