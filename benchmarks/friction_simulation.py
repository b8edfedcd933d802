"""Benchmark and simulation report for the friction tests.

Runs the friction pipeline (trace, survey and interview tests, Benjamini–Hochberg within each
source, triangulation) on many small generated studies, with no effect (false alarms) and with a
planted friction point (power), and prints the shares and the time per study.

    python benchmarks/friction_simulation.py                 # 200 null + 60 planted studies
    python benchmarks/friction_simulation.py --null 1000 --planted 300 --workers 2
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from parcours_research.friction import _simulate as sim


def _run(args):
    design, seed = args
    return sim.run_one(design, seed)


def _many(design, n, entropy, workers):
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(entropy).spawn(n)]
    jobs = [(design, s) for s in seeds]
    if workers <= 1:
        return pd.DataFrame([_run(j) for j in jobs])
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
        return pd.DataFrame(list(ex.map(_run, jobs, chunksize=max(1, n // (4 * workers)))))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--null", type=int, default=200)
    ap.add_argument("--planted", type=int, default=60)
    ap.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    args = ap.parse_args(argv)
    os.environ.setdefault("POLARS_MAX_THREADS", "1")

    t0 = time.perf_counter()
    c0 = time.process_time()
    null = _many(sim.SimDesign(), args.null, 20260501, args.workers)
    wall_null = time.perf_counter() - t0
    planted = _many(sim.SimDesign(planted=True), args.planted, 20260502, args.workers)
    wall = time.perf_counter() - t0
    n = len(null)
    se = math.sqrt(0.05 * 0.95 / n)
    print(
        f"{n} null studies, {len(planted)} planted, {args.workers} worker(s): {wall:.1f} s wall "
        f"({wall_null / max(n, 1) * args.workers:.3f} s per study per worker; parent CPU "
        f"{time.process_time() - c0:.1f} s)"
    )
    print(f"false alarms (any significant test in the source, BH, alpha 0.05; MC se {se:.3f}):")
    for s in ("traces", "survey", "qual"):
        print(
            f"  {s:7s} {null[f'{s}_any'].mean():.3f}   tests per study {null[f'{s}_m'].median():.0f}"
        )
    print(f"  confirmed (two sources) {null['confirmed_any'].mean():.3f}")
    d = sim.SimDesign(planted=True)
    print(
        f"power, planted friction (conversion {d.conversion:.2f} -> {d.conversion - d.conversion_drop:.2f}, "
        f"latent rating {d.rating_shift:+.1f}, negative excerpts {d.negative:.2f} -> {d.negative_share:.2f}):"
    )
    for s in ("traces", "survey", "qual"):
        print(f"  {s:7s} {planted[f'{s}_planted'].mean():.3f}")
    print(
        f"  confirmed {planted['confirmed_planted'].mean():.3f}; another cell confirmed "
        f"{planted['confirmed_other'].mean():.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
