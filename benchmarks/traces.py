"""Benchmark of the trace pipeline against pandas and pm4py on synthetic event logs.

    python benchmarks/traces.py                 # 1e6 and 1e7 events
    python benchmarks/traces.py --sizes 1e6     # one size
    python benchmarks/traces.py --sizes 1e8 --only parcours   # the long run
    python benchmarks/traces.py --repeat 5      # more runs of each contestant (median)

For each size it writes a raw event log (Parquet: device_id, customer_id, ts, event_name,
user_agent) with robots, duplicates and customers on several devices, then runs, each in its own
process (so that peak memory is its own):

- ``parcours``: the package on DuckDB -- clean, stitch, sessionize (30 min), a 5-step funnel in a
  7-day window, transitions within sessions, top 10 variants;
- ``pandas``: the same pipeline written with idiomatic pandas (categoricals, sort once,
  groupby/shift);
- ``pm4py``: ``discover_dfg`` and ``get_variants`` on the same data as the transitions and
  variants of ``parcours``: the cleaned, stitched, 30-minute sessions (case = ``session_id``,
  activity = event, ties in time kept in file order). pm4py has no cleaning, identity
  stitching, sessions or funnels, so a preparation step (not timed) writes those events to
  ``<log>.pm4py.parquet`` once; pm4py's time is reading that file (columns ``session_id,
  event, timestamp``), ``format_dataframe``, ``discover_dfg`` and ``get_variants``. It is the
  same work as the transitions and variants steps of the pipeline, on fewer rows than the
  whole pipeline reads. Its transition counts and top variants are checked against parcours.

Before any timing, the pipeline runs once on a small log (not timed): numba compiles the kernels
on their first use after an install and caches them on disk, so that every timed run loads them
as a user's second session would. Contestants run in turn, each up to ``--repeat`` times (3 by default; a contestant is not run
again once its runs have taken two minutes). It prints the median wall time and the largest peak
resident memory of each, the ratios of the medians, and whether the targets of
issue 8 are met on 1e7 events: the whole pipeline at least 2.5 times faster than pandas and 8
times faster than pm4py, with a peak under 2 GB. Results of parcours and pandas are compared
(kept rows, funnel counts, transition counts, top variants) so that the race is fair.
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


def generate(path: Path, n: int, seed: int = 0, chunk: int = 5_000_000, quiet: bool = False) -> int:
    """Write about ``n`` raw events to ``path`` (Parquet), chunk by chunk (progress on stderr
    unless ``quiet``)."""
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
        dev_txt = pa.array(np.char.add("d", d.astype(str)))
        cust_txt = pa.array(np.char.add("C", c.astype(str)), mask=c < 0)
        table = pa.table(
            {
                "device_id": dev_txt,
                "customer_id": cust_txt,
                "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
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
    bot_ua = (
        df["user_agent"]
        .cat.categories.str.lower()
        .str.contains("bot|crawl|spider|python-requests|curl/|wget|headless")
    )
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
    d = df[reason.eq("")].sort_values(["actor", "event_name", "ts", "row_id"])
    gap = d.groupby(["actor", "event_name"], observed=True)["ts"].diff()
    reason[d.index[gap <= pd.Timedelta("1s")]] = "near_duplicate"
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


RUNNERS = {"parcours": run_parcours, "pandas": run_pandas, "pm4py": run_pm4py}


def _child(which: str, path: str, out: str) -> None:
    if which == "prepare":
        prepare_pm4py(path)
        return
    if which == "warm":  # compile the kernels if numba's cache is stale (once per install)
        run_parcours(path)
        return
    t0 = time.perf_counter()
    result = RUNNERS[which](path)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(out).write_text(json.dumps({"wall_s": wall, "peak_mb": peak, "result": result}))


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
    proc = subprocess.run([sys.executable, __file__, "--child", which, path, out], timeout=timeout)
    if proc.returncode != 0:
        return {"wall_s": float("nan"), "peak_mb": float("nan"), "result": None, "failed": True}
    data = json.loads(Path(out).read_text())
    data["process_s"] = time.perf_counter() - t0  # with interpreter start-up and imports
    os.unlink(out)
    return data


TARGETS = {"pandas": 2.5, "pm4py": 8.0}  # issue 8: parcours at least this many times faster
PEAK_TARGET_MB = 2048
REPEAT_BUDGET_S = 120.0


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


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--sizes", default="1e6,1e7", help="comma-separated event counts (1e8 on request)"
    )
    ap.add_argument("--only", default="parcours,pandas,pm4py", help="which contestants")
    ap.add_argument("--dir", default=None, help="where to write the generated logs")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each contestant (median reported); runs past 120 s are not repeated",
    )
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(*args.child)
        return
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
        f"largest peak resident memory{load}"
    )
    print(f"{'events':>12} {'contestant':>10} {'wall s':>8} {'peak MB':>8}  notes")
    if "parcours" in who:
        # numba compiles the kernels on their first use after an install or an upgrade and
        # caches them on disk: done here on a small log, not timed (as pm4py's input is
        # prepared beforehand)
        small = folder / "events_warm.parquet"
        if not small.exists():
            generate(small, 20_000, quiet=True)
        print("  loading the compiled kernels once (not timed) ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, __file__, "--child", "warm", str(small), ""], check=True)
    for size in [int(float(s)) for s in args.sizes.split(",")]:
        path = folder / f"events_{size:.0e}.parquet".replace("+", "")
        if not path.exists():
            t0 = time.perf_counter()
            n = generate(path, size)
            print(f"  wrote {n:,} rows in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        # round robin, so that a slower or faster spell of the machine falls on every
        # contestant alike; a contestant is run again until it has taken REPEAT_BUDGET_S (a long
        # run averages the machine's moods by itself)
        runs: dict[str, list[dict]] = {w: [] for w in who}
        for i in range(max(args.repeat, 1)):
            for w in who:
                spent = sum(r["wall_s"] for r in runs[w])
                if i and (spent > REPEAT_BUDGET_S or any(r.get("failed") for r in runs[w])):
                    continue
                runs[w].append(measure(w, str(path), args.timeout))
        res = {w: _median_run(runs[w]) for w in who}
        for w in who:
            r = res[w]
            walls = ", ".join(f"{x['wall_s']:.2f}" for x in runs[w])
            print(
                f"{size:>12.0e} {w:>10} {r['wall_s']:>8.2f} {r['peak_mb']:>8.0f}  "
                + ("FAILED" if r.get("failed") else f"median of {len(runs[w])}: {walls}"),
                flush=True,
            )
        base = res.get("parcours")
        if not base or base.get("failed"):
            continue
        for w in who:
            if w == "parcours" or res[w].get("failed"):
                continue
            ratio = res[w]["wall_s"] / base["wall_s"]
            verdict = ""
            if w in TARGETS and size == 10_000_000:  # the targets are for 1e7 events
                ok = ratio >= TARGETS[w]
                verdict = f"  target >= {TARGETS[w]}x: {'met' if ok else 'NOT met'}"
            print(
                f"{'':>12} {'ratio':>10} {w}/parcours wall = {ratio:.2f}x, "
                f"peak = {res[w]['peak_mb'] / base['peak_mb']:.2f}x{verdict}",
                flush=True,
            )
        if size <= 10_000_000:
            ok = base["peak_mb"] < PEAK_TARGET_MB
            goal = f"target (1e7 events) < {PEAK_TARGET_MB} MB: {'met' if ok else 'NOT met'}"
        else:  # the issue asks that 1e8 events complete within the machine's memory
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
            ok = base["peak_mb"] < total
            goal = f"completes within this machine's {total / 1024:.0f} GB: {'yes' if ok else 'no'}"
        print(f"{'':>12} {'peak':>10} parcours {base['peak_mb']:.0f} MB  {goal}", flush=True)
        pd_res = res.get("pandas", {}).get("result")
        if pd_res:
            same = {
                k: pd_res[k] == base["result"][k]
                for k in ("kept", "funnel", "n_transitions", "top_variants", "top_n")
            }
            print(f"{'':>12} {'check':>10} parcours == pandas: {same}", flush=True)
        pm = res.get("pm4py", {}).get("result")
        if pm:
            same = {
                k: pm[k] == base["result"][k] for k in ("n_transitions", "top_variants", "top_n")
            }
            print(f"{'':>12} {'check':>10} parcours == pm4py: {same}", flush=True)


if __name__ == "__main__":
    main()
