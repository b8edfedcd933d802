"""Benchmark: the whole study report on a large synthetic study.

Generates (once, cached under benchmarks/out/) a sample study of about 1,000,000 events and 5,000
respondents, then times ``parcours report`` on it (wall time and peak memory of the process).
Goal (issue 7): under a minute on a 2-core machine.

    python benchmarks/report.py                 # ~1e6 events, 5,000 respondents
    python benchmarks/report.py --customers 10000 --respondents 2000   # smaller
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import parcours_research as pr
from parcours_research.report import build_report

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=48_000, help="customers (about 20 events each)")
    ap.add_argument("--prospects", type=int, default=24_000)
    ap.add_argument("--respondents", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--out", type=Path, default=HERE / "out")
    args = ap.parse_args(argv)

    study_dir = args.out / f"study_c{args.customers}_r{args.respondents}_s{args.seed}"
    if not (study_dir / "study.yml").exists():
        t0 = time.perf_counter()
        print(f"generating {study_dir.name} ...", flush=True)
        pr.sample.make_sample(study_dir, seed=args.seed, n_customers=args.customers, n_prospects=args.prospects,
                              n_respondents=args.respondents, overwrite=True)
        print(f"  generated in {time.perf_counter() - t0:.1f} s", flush=True)
    truth = json.loads((study_dir / "truth.json").read_text())
    print(f"study: {truth['events']['n_rows']:,} events, {args.respondents:,} respondents, "
          f"{args.customers:,} customers", flush=True)

    t0 = time.perf_counter()
    res = build_report(study_dir, args.out / "report", n_boot=args.n_boot, seed=0, progress=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(res.timings.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    print(f"report: {wall:.1f} s wall, peak RSS {peak:,.0f} MiB  (goal: < 60 s) -> {res.path}")
    return 0 if wall < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
