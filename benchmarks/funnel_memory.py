"""Benchmark: a funnel on events already in memory (a pandas DataFrame), against chDB and pandas.

    python benchmarks/funnel_memory.py                     # about 3.3 million events
    python benchmarks/funnel_memory.py --events 1e6 --repeat 5
    python benchmarks/funnel_memory.py --order person      # frame sorted by (user, time)

A researcher in a notebook holds the events as a DataFrame (``user_id``, ``timestamp`` in UTC,
``event``; pandas' Arrow-backed strings) and asks for a 5-step funnel in a 7-day window. The
same frame goes to each contestant, in the same process:

- ``parcours``: ``pr.traces.funnel(df, steps=FUNNEL, window="7D")``;
- ``chdb``: ClickHouse's ``windowFunnel(7 days)`` over ``Python(df)`` (chDB reads the frame in
  place), counted per level (``pip install chdb``; skipped with a message when absent);
- ``pandas``: the same definition in idiomatic pandas (sort once, then per step the latest
  chain start before each row, by ``groupby().ffill()`` and ``shift()``).

Each contestant first runs once on a small slice (not timed: numba's kernels and chDB's engine
load), then the contestants run in turn ``--repeat`` times; the median wall and CPU times (the
process's, every thread counted) of each and the ratios to parcours come from that one run (the
wall time of a shared 2-core machine varies by a third from one minute to the next: compare
ratios, not seconds across runs; on a machine busy with other work the CPU ratio is the steadier
one). The funnel counts of every
contestant are checked equal to parcours' before any time is printed.

The rows come in time order by default (as exports do); ``--order person`` sorts them by user
then time, ``--order random`` shuffles them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import pandas as pd

EVENTS = [
    "home", "search", "product_page", "simulator", "add_to_cart", "signup", "login", "checkout",
    "payment", "confirmation", "help", "faq", "contact", "account", "logout",
]  # fmt: skip
FUNNEL = ["home", "search", "product_page", "add_to_cart", "checkout"]
WINDOW_US = 7 * 86_400 * 1_000_000
START_US = 1_767_225_600_000_000  # 2026-01-01 UTC


def make_events(n: int, seed: int = 0, order: str = "time") -> pd.DataFrame:
    """About ``n`` events of customers whose sessions walk a Markov chain over EVENTS (the
    funnel's steps are the likely next ones), over 60 days."""
    rng = np.random.default_rng(seed)
    k = len(EVENTS)
    trans = rng.dirichlet(np.ones(k) * 0.3, size=k)
    for i in range(k - 1):
        trans[i, i + 1] += 1.5
    cdf = np.cumsum(trans / trans.sum(1, keepdims=True), 1)
    lens = np.minimum(rng.geometric(0.12, n // 7 + 1), 50)
    lens = lens[: int(np.searchsorted(np.cumsum(lens), n)) + 1]
    n_sess, m = len(lens), int(lens.sum())
    users = rng.integers(0, max(n_sess // 4, 1), n_sess)
    start = START_US + rng.integers(0, 60 * 86_400, n_sess) * 1_000_000
    first = np.cumsum(lens) - lens
    ev = np.empty(m, np.int16)
    cur = rng.choice(k, n_sess, p=np.r_[0.5, 0.2, [0.3 / (k - 2)] * (k - 2)])
    for pos in range(int(lens.max())):
        alive = lens > pos
        ev[first[alive] + pos] = cur[alive]
        cur = (rng.random(n_sess)[:, None] > cdf[cur]).sum(1).clip(max=k - 1)
    gaps = rng.exponential(40e6, m).astype(np.int64) + 1_000_000
    gaps[first] = 0
    sess = np.repeat(np.arange(n_sess), lens)
    csum = np.cumsum(gaps)
    ts = start[sess] + csum - csum[first][sess]
    user = users[sess]
    if order == "time":
        o = np.argsort(ts, kind="stable")
    elif order == "person":
        o = np.lexsort((ts, user))
    else:
        o = rng.permutation(m)
    import pyarrow as pa

    names = pa.array(np.char.add("C", np.arange(int(user.max()) + 1).astype(str)))

    def text(values: pa.Array, codes: np.ndarray) -> pd.Series:  # pandas' Arrow-backed str
        return pd.Series(values.take(pa.array(codes)).cast(pa.large_string()).to_pandas())

    return pd.DataFrame(
        {
            "user_id": text(names, user[o]),
            "timestamp": pd.to_datetime(ts[o], unit="us", utc=True),
            "event": text(pa.array(EVENTS), ev[o]),
        }
    )


# -- contestants: each returns the number of persons who reached steps 1..5 ----------------------
def run_parcours(df: pd.DataFrame) -> list[int]:
    import parcours_research as pr

    return pr.traces.funnel(df, steps=FUNNEL, window="7D")["converted"].tolist()


_CHDB_SQL = """
SELECT level, count() AS n FROM (
  SELECT user_id, windowFunnel({window})(toUInt64(toUnixTimestamp64Micro(timestamp)), {conds}) AS level
  FROM Python(__df__) GROUP BY user_id) GROUP BY level ORDER BY level
"""


def run_chdb(df: pd.DataFrame) -> list[int]:
    import chdb

    conds = ", ".join(f"event = '{e}'" for e in FUNNEL)
    sql = _CHDB_SQL.format(window=WINDOW_US, conds=conds).replace("__df__", "df")
    res = chdb.query(sql, "DataFrame")
    per_level = dict(zip(res["level"].astype(int), res["n"].astype(int)))
    return [sum(v for lv, v in per_level.items() if lv >= k) for k in range(1, len(FUNNEL) + 1)]


def run_pandas(df: pd.DataFrame) -> list[int]:
    """ClickHouse's windowFunnel in pandas: a step-k event continues the latest chain start that
    reached step k-1 on an earlier row of the person, when within the window."""
    step = df["event"].map({e: i for i, e in enumerate(FUNNEL, 1)}).fillna(0).astype(int)
    f = df[step > 0].assign(step=step[step > 0], row_id=np.flatnonzero(step > 0))
    f = f.sort_values(["user_id", "timestamp", "step", "row_id"], kind="stable")
    f["f1"] = f["timestamp"].where(f["step"].eq(1))
    w = pd.Timedelta(microseconds=WINDOW_US)
    g = f.groupby("user_id", sort=False)
    for k in range(2, len(FUNNEL) + 1):
        m = g[f"f{k - 1}"].ffill().groupby(f["user_id"], sort=False).shift()
        f[f"f{k}"] = m.where(f["step"].eq(k) & (f["timestamp"] <= m + w))
    cols = [f"f{k}" for k in range(1, len(FUNNEL) + 1)]
    return [int(x) for x in f.groupby("user_id", sort=False)[cols].max().notna().sum()]


RUNNERS = {"parcours": run_parcours, "chdb": run_chdb, "pandas": run_pandas}


def _available(who: list[str]) -> list[str]:
    out = []
    for w in who:
        if w == "chdb":
            try:
                import chdb  # noqa: F401
            except ImportError:
                print("chdb is not installed (pip install chdb): skipped", flush=True)
                continue
        out.append(w)
    return out


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "?"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=float, default=3.3e6)
    ap.add_argument("--order", choices=("time", "person", "random"), default="time")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="parcours,chdb,pandas")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    who = _available([w.strip() for w in args.only.split(",") if w.strip()])
    t0 = time.perf_counter()
    df = make_events(int(args.events), args.seed, args.order)
    print(
        f"{len(df):,} events of {df['user_id'].nunique():,} persons in memory ({args.order} "
        f"order), made in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    small = df.iloc[:20_000]
    for w in who:  # not timed: kernels and engines load once per process
        RUNNERS[w](small)
    walls: dict[str, list[float]] = {w: [] for w in who}
    cpus: dict[str, list[float]] = {w: [] for w in who}
    results: dict[str, list[int]] = {}
    for _ in range(max(args.repeat, 1)):
        for w in who:
            t0, c0 = time.perf_counter(), time.process_time()
            results[w] = RUNNERS[w](df)
            walls[w].append(time.perf_counter() - t0)
            cpus[w].append(time.process_time() - c0)
    ref = results.get("parcours")
    for w in who:
        if ref is not None and results[w] != ref:
            print(f"MISMATCH: {w} counts {results[w]}, parcours {ref}", flush=True)
            return 1
    print(f"funnel counts (steps 1-5), equal for {', '.join(who)}: {next(iter(results.values()))}")
    med = {w: statistics.median(v) for w, v in walls.items()}
    cpu = {w: statistics.median(v) for w, v in cpus.items()}
    print(
        f"{'contestant':>10} {'wall s':>8} {'cpu s':>8}  wall of each run (load average {_load()})"
    )
    for w in who:
        runs = ", ".join(f"{x:.3f}" for x in walls[w])
        print(f"{w:>10} {med[w]:>8.3f} {cpu[w]:>8.3f}  {runs}")
    if "parcours" in med:
        for w in who:
            if w != "parcours":
                print(
                    f"{'ratio':>10} parcours / {w}: wall {med['parcours'] / med[w]:.2f}x, "
                    f"cpu {cpu['parcours'] / cpu[w]:.2f}x"
                )
        if "chdb" in med:
            ok = med["parcours"] <= 1.5 * med["chdb"]
            print(f"{'target':>10} parcours within 1.5x of chdb: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
