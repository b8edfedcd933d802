"""First call after an install: how long numba's compilation of the trace kernels takes.

    python benchmarks/first_run.py                    # 3 cold + 3 warm runs, medians
    python benchmarks/first_run.py --repeat 5         # more runs
    python benchmarks/first_run.py --baseline /tmp/old  # also an older checkout, alternated
    python benchmarks/first_run.py --no-helper        # also without the helper process

Each run is a fresh Python process that imports the package, loads the sample study
(``pr.datasets.sample_dir()``, about 51k events) and runs ``read_events``, ``clean``, ``stitch``,
``sessionize``, ``funnel``, ``transitions`` and ``variants``. A *cold* run points
``NUMBA_CACHE_DIR`` at a new, empty folder (what a first call after an install meets); the
*warm* run that follows reuses that folder (later sessions). Times run from the import of the
package to the end of the pipeline; the difference of the cold and warm medians is the time the
first call spends compiling (also shown step by step). CPU time is the process's and its
children's, the helper process that compiles ahead on a cold cache included.

The per-kernel table comes from numba's ``numba:compile`` events (fired on a cache miss only):
wall time of each kernel's compilation in the cold runs (median), with the nested ones (a
kernel called by another) counted inside their caller, and its thread. It lists what the
process compiles itself; the kernels that the helper process compiles ahead are not in it
(a step that waits for them shows the wait in the step table).

With ``--baseline DIR`` (the package of older code, e.g. ``mkdir /tmp/old && git archive HEAD
parcours_research | tar -x -C /tmp/old``) the same runs are made with that code, alternated
with the current one (both meet the same load), results checked equal, and the ratios printed:
on a shared machine only ratios from one run mean much.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# -- the child: one run of the pipeline ---------------------------------------------------------
def _listen() -> list:
    """Record numba's compilations (start, end, name, thread, depth) as they happen."""
    import threading

    from numba.core import event as nev

    records: list = []
    depth = threading.local()

    class Listener(nev.Listener):
        def on_start(self, ev):
            d = getattr(depth, "n", 0)
            depth.n = d + 1
            ev.data["_t0"] = time.perf_counter()
            ev.data["_depth"] = d

        def on_end(self, ev):
            depth.n -= 1
            disp = ev.data["dispatcher"]
            records.append(
                {
                    "kernel": getattr(disp, "__qualname__", str(disp)),
                    "module": getattr(disp.py_func, "__module__", ""),
                    "seconds": time.perf_counter() - ev.data["_t0"],
                    "thread": threading.current_thread().name,
                    "nested": ev.data["_depth"] > 0,
                }
            )

    nev.register("numba:compile", Listener())
    return records


def _steps(pr, study) -> tuple[dict, dict]:
    """The pipeline, timed step by step: ``(seconds per step, results)``."""
    steps: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        steps[name], t = now - t, now

    log = pr.traces.read_events(study)
    lap("read_events")
    cleaned, clog = pr.traces.clean(log)
    lap("clean")
    stitched, _ = pr.traces.stitch(cleaned)
    lap("stitch")
    sessions = pr.traces.sessionize(stitched)
    lap("sessionize")
    fun = pr.traces.funnel(sessions)
    lap("funnel")
    tr = pr.traces.transitions(sessions)
    lap("transitions")
    va = pr.traces.variants(sessions, top=10)
    lap("variants")
    result = {
        "kept": int(clog.n_kept),
        "funnel": [int(x) for x in fun["converted"]],
        "n_transitions": int(tr["n"].sum()),
        "top_n": [int(x) for x in va["n"]],
    }
    return steps, result


def child(study_dir: str) -> None:
    """Run the pipeline once; print a JSON line with the times and the compilations."""
    import resource

    t0 = time.perf_counter()
    records = _listen()
    import parcours_research as pr

    study = pr.load_study(study_dir)
    t1 = time.perf_counter()
    steps, result = _steps(pr, study)
    t2 = time.perf_counter()
    out = {"total": t2 - t0, "pipeline": t2 - t1, "steps": steps, "result": result}
    out |= {"compiled": records, "package": str(Path(pr.__file__).parent)}
    # a helper process compiling ahead (0.4.1) counts in the CPU time: wait for it (untimed)
    kernels = sys.modules.get("parcours_research.traces._kernels")
    helper = getattr(kernels, "_HELPER", {}).get(None)
    if helper is not None:
        helper.wait()
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    out["cpu"] = sum(u.ru_utime + u.ru_stime for u in usage)
    print("FIRST_RUN " + json.dumps(out), flush=True)


# -- the parent ---------------------------------------------------------------------------------
def run_once(code: Path, cache: str, study_dir: str, helper: bool = True) -> dict:
    """One child process on the checkout ``code`` with ``NUMBA_CACHE_DIR=cache``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(code))
    env["PARCOURS_COMPILE_HELPER"] = "1" if helper else "0"
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", study_dir],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({code}):\n{proc.stderr[-3000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("FIRST_RUN "))
    out = json.loads(line[len("FIRST_RUN ") :])
    if Path(out["package"]).parent != code:
        raise SystemExit(f"the child imported {out['package']}, not the package of {code}")
    out["wall"] = out["total"]  # from the import of the package to the end of the pipeline
    return out


def pair(code: Path, study_dir: str, helper: bool = True) -> tuple[dict, dict]:
    """A cold run (empty cache) and the warm run after it."""
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        cold = run_once(code, cache, study_dir, helper)
        warm = run_once(code, cache, study_dir, helper)
    return cold, warm


def kernel_table(colds: list[dict]) -> list[tuple[str, float, str, bool]]:
    """Median compile wall time of each kernel over the cold runs, largest first."""
    per: dict[str, list[float]] = {}
    info: dict[str, tuple[str, bool]] = {}
    for run in colds:
        seen: dict[str, float] = {}
        for r in run["compiled"]:
            key = f"{r['module'].rsplit('.', 1)[-1]}.{r['kernel']}"
            seen[key] = seen.get(key, 0.0) + r["seconds"]
            info[key] = (r["thread"], r["nested"])
        for key, s in seen.items():
            per.setdefault(key, []).append(s)
    rows = [(k, statistics.median(v), *info[k]) for k, v in per.items()]
    return sorted(rows, key=lambda x: -x[1])


def summary(name: str, runs: list[tuple[dict, dict]]) -> dict:
    """Print and return the medians of one checkout's runs."""
    med = statistics.median
    cold, warm = med(c["wall"] for c, _ in runs), med(w["wall"] for _, w in runs)
    cold_cpu, warm_cpu = med(c["cpu"] for c, _ in runs), med(w["cpu"] for _, w in runs)
    here = med(sum(r["seconds"] for r in c["compiled"] if not r["nested"]) for c, _ in runs)
    print(
        f"{name:>9}: cold {cold:6.2f} s  warm {warm:6.2f} s  compilation (cold - warm) "
        f"{cold - warm:5.2f} s wall, {cold_cpu - warm_cpu:5.2f} s CPU (helper included); "
        f"compiling in this process {here:5.2f} s"
    )
    steps = {
        k: med(c["steps"][k] for c, _ in runs) - med(w["steps"][k] for _, w in runs)
        for k in runs[0][0]["steps"]
    }
    print("           cold - warm by step: " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
    return {"cold": cold, "warm": warm, "compile": cold - warm, "cpu": cold_cpu - warm_cpu}


def _args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeat", type=int, default=3, help="cold + warm pairs per checkout")
    p.add_argument("--baseline", type=Path, help="an older checkout to compare against")
    p.add_argument(
        "--no-helper", action="store_true", help="also the current code without its helper process"
    )
    p.add_argument("--study", help="study folder (default: the bundled sample)")
    p.add_argument("--child", metavar="STUDY", help=argparse.SUPPRESS)
    return p.parse_args()


def main() -> None:
    args = _args()
    if args.child:
        child(args.child)
        return
    sys.path.insert(0, str(ROOT))
    import parcours_research as pr

    study_dir = str(args.study or pr.datasets.sample_dir(ROOT))
    codes = {"current": ROOT} | ({"no helper": ROOT} if args.no_helper else {})
    codes |= {"baseline": args.baseline.resolve()} if args.baseline else {}
    runs: dict[str, list] = {k: [] for k in codes}
    for i in range(args.repeat):
        for name, code in codes.items():  # alternated: both meet the same load
            runs[name].append(pair(code, study_dir, helper=name != "no helper"))
            c, w = runs[name][-1]
            print(
                f"  run {i + 1} {name}: cold {c['wall']:.2f} s, warm {w['wall']:.2f} s", flush=True
            )
    results = {name: r[-1][1]["result"] for name, r in runs.items()}
    if len({json.dumps(r, sort_keys=True) for r in results.values()}) > 1:
        raise SystemExit(f"results differ: {results}")
    print(f"\nmedians of {args.repeat} runs, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    s = {name: summary(name, r) for name, r in runs.items()}
    for name in [n for n in s if n != "baseline"] if "baseline" in s else []:
        b, c = s["baseline"], s[name]
        print(
            f"    {name} / baseline: cold {c['cold'] / b['cold']:.2f}, warm "
            f"{c['warm'] / b['warm']:.2f}, compilation {c['compile'] / b['compile']:.2f} (wall), "
            f"{c['cpu'] / b['cpu']:.2f} (CPU)"
        )
    for name, r in runs.items():
        print(
            f"\ncompilation per kernel ({name}, cold runs, median wall s; nested: inside a caller)"
        )
        for key, sec, thread, nested in kernel_table([c for c, _ in r]):
            print(f"  {key:<40} {sec:6.3f}  {thread}{'  (nested)' if nested else ''}")


if __name__ == "__main__":
    main()
