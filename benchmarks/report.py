"""Benchmark: the whole study report on a large synthetic study.

Generates (once, cached under benchmarks/out/) a sample study of about 1,000,000 events and 5,000
respondents, then times ``parcours report`` on it (wall time and peak memory of the process).

    python benchmarks/report.py                          # ~1e6 events, 5,000 respondents
    python benchmarks/report.py --customers 10000 --respondents 2000   # smaller
    python benchmarks/report.py --against 01bd3a7 --repeat 3            # this tree vs a commit
    python benchmarks/report.py --against 01bd3a7 --bytecode off       # as the shell says

``--against REF`` checks ``REF`` out in a temporary git worktree and times both trees in the same
run, alternating (REF, this tree, REF, ...), each run in a fresh process; it prints the median
of each and their ratio. Each tree first builds a small report, untimed, so that numba's
compiled loops are in its cache. Compare ratios from one run: the wall time of a 2-core machine
varies by a third from one minute to the next.

Each run also prints the CPU seconds it used (the report's process and the figure writers it
forked; not the name model's worker, which ends with the process) and the median of wall /
CPU: 0.5 when two cores work all the time, 1.0 when one does. A slower spell of the machine
raises the CPU seconds and the wall time together; wall / CPU says how well the report keeps
both cores busy.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _study(args) -> Path:
    import parcours_research as pr

    study_dir = args.out / f"study_c{args.customers}_r{args.respondents}_s{args.seed}"
    if not (study_dir / "study.yml").exists():
        t0 = time.perf_counter()
        print(f"generating {study_dir.name} ...", flush=True)
        pr.sample.make_sample(study_dir, seed=args.seed, n_customers=args.customers,
                              n_prospects=args.prospects, n_respondents=args.respondents,
                              overwrite=True)
        print(f"  generated in {time.perf_counter() - t0:.1f} s", flush=True)
    truth = json.loads((study_dir / "truth.json").read_text())
    print(f"study: {truth['events']['n_rows']:,} events, {args.respondents:,} respondents, "
          f"{args.customers:,} customers", flush=True)
    return study_dir


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the figure writers;
    not the name model's worker, which ends with the process)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


# the timed child: ``_cpu`` is the function above, the same in both modes
_CHILD = "import json, resource, sys, time\n" + inspect.getsource(_cpu) + """
from parcours_research.report import build_report
t0, c0 = time.perf_counter(), _cpu()
res = build_report(sys.argv[1], sys.argv[2], n_boot=int(sys.argv[3]), seed=0, progress=False)
wall, used = time.perf_counter() - t0, _cpu() - c0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall": wall, "cpu": used, "peak_mib": peak,
                  "sections": dict(zip(res.timings["section"], res.timings["seconds"]))}))
"""


#: whether the report's processes may use Python's bytecode cache (``--bytecode``)
BYTECODE = [True]


def _env(tree: Path) -> dict:
    """The child's environment: ``tree`` first on the path and, unless ``--bytecode off``,
    Python's bytecode cache on, as for an installed package (pip compiles its modules at
    install); a shell with ``PYTHONDONTWRITEBYTECODE`` would otherwise have every fresh
    process compile the kit's modules from source, while its dependencies read theirs. The
    untimed warm-up report writes it."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    if BYTECODE[0]:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _run(tree: Path, study: Path, out: Path, n_boot: int) -> dict:
    env = _env(tree)
    done = subprocess.run([sys.executable, "-c", _CHILD, str(study), str(out), str(n_boot)],
                          env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode:
        raise SystemExit(f"the report failed in {tree}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _compare(args, study: Path) -> int:
    work = Path(tempfile.mkdtemp(prefix="parcours_bench_"))
    other = work / "ref"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(other), args.against],
                   check=True, capture_output=True)
    try:
        trees = {args.against: other, "this tree": ROOT}
        small = ROOT / "data" / "sample"
        for k, tree in enumerate(trees.values()):  # untimed: fill numba's cache of each tree
            _run(tree, small, work / f"warm_{k}", 50)  # one folder per tree: a report refuses another's
        runs: dict[str, list[dict]] = {name: [] for name in trees}
        for i in range(args.repeat):
            for name, tree in trees.items():
                r = _run(tree, study, work / f"out_{i}_{len(runs[name])}_{name.replace(' ', '_')}", args.n_boot)
                runs[name].append(r)
                print(f"  {name:>10}: {r['wall']:.1f} s, CPU {r['cpu']:.1f} s, peak {r['peak_mib']:,.0f} MiB",
                      flush=True)
        med = {name: statistics.median(r["wall"] for r in rs) for name, rs in runs.items()}
        for name, rs in runs.items():
            secs = {k: statistics.median(r["sections"][k] for r in rs) for k in rs[0]["sections"]}
            other = statistics.median(r["wall"] - sum(r["sections"].values()) for r in rs)
            cpu = statistics.median(r["cpu"] for r in rs)
            print(f"{name}: median {med[name]:.1f} s (CPU {cpu:.1f} s, wall / CPU "
                  f"{statistics.median(r['wall'] / r['cpu'] for r in rs):.2f}); sections: "
                  + ", ".join(f"{k} {v:.1f}" for k, v in secs.items())
                  + f"; outside the sections (validate, last figures, page) {other:.1f}")
        print(f"ratio {args.against} / this tree: {med[args.against] / med['this tree']:.2f}x")
        return 0
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)],
                       capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=48_000, help="customers (about 20 events each)")
    ap.add_argument("--prospects", type=int, default=24_000)
    ap.add_argument("--respondents", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument("--against", help="a git commit to time in the same run (e.g. HEAD~1)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each tree with --against")
    ap.add_argument("--bytecode", choices=("on", "off"), default="on",
                    help="let the reports use Python's bytecode cache (on, as an installed package; "
                    "off: as the shell says, e.g. PYTHONDONTWRITEBYTECODE)")
    args = ap.parse_args(argv)
    BYTECODE[0] = args.bytecode == "on"
    study = _study(args)
    if args.against:
        return _compare(args, study)
    from parcours_research.report import build_report

    t0, c0 = time.perf_counter(), _cpu()
    res = build_report(study, args.out / "report", n_boot=args.n_boot, seed=0, progress=True)
    wall, used = time.perf_counter() - t0, _cpu() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(res.timings.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    print(f"outside the sections (validate, last figures, page): {wall - res.timings['seconds'].sum():.2f} s")
    print(f"report: {wall:.1f} s wall, {used:.1f} s CPU (wall / CPU {wall / used:.2f}), peak RSS "
          f"{peak:,.0f} MiB -> {res.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
