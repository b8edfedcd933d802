"""Benchmark: raking and driver importance at scale (prints figures; not a test).

    python benchmarks/weighting.py            # the two cases below
    python benchmarks/weighting.py --quick    # smaller sizes, for a smoke run

1. Raking 1,000,000 respondents on 4 margins (3, 2, 6 and 4 levels), from unequal design
   weights, with svy's raking on the same problem for comparison.
2. Shapley/LMG importance of 12 drivers on 5,000 respondents with 500 bootstrap replicates
   (Rao-Wu, drawn by svy): 501 weighted correlation matrices and R² of 4,096 subsets each.

Wall time from ``time.perf_counter`` (one untraced run); peak memory is the peak of
Python-tracked allocations (``tracemalloc``, which numpy reports to) during a second run of the
step; the process' peak resident set size is printed at the end.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd

import parcours_research as pr


def measure(label, fn):
    """Run ``fn`` twice: untraced for the wall time, then under tracemalloc for the peak
    (tracing slows allocation-heavy code, so it does not time)."""
    t0 = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<58} {wall:8.2f} s   peak {peak / 2**20:8.1f} MiB")
    return out


def raking_case(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {
            "persona": rng.choice(["connecte", "prudent", "senior"], n, p=[0.5, 0.3, 0.2]),
            "channel": rng.choice(["digital", "physical"], n, p=[0.6, 0.4]),
            "region": rng.choice(["idf", "north", "south", "west", "east", "overseas"], n),
            "design_w": rng.lognormal(0, 0.5, n),
        }
    )
    # associated margins (seniors are older and less digital), so raking needs several sweeps
    senior = (data["persona"] == "senior").to_numpy()
    ages = np.array(["18-34", "35-54", "55-64", "65+"])
    data["age_band"] = np.where(
        senior,
        rng.choice(ages, n, p=[0.02, 0.08, 0.3, 0.6]),
        rng.choice(ages, n, p=[0.3, 0.4, 0.2, 0.1]),
    )
    data.loc[senior & (rng.random(n) < 0.5), "channel"] = "physical"
    margins = {
        "persona": {"connecte": 0.4, "prudent": 0.35, "senior": 0.25},
        "channel": {"digital": 0.5, "physical": 0.5},
        "region": {k: 1 / 6 for k in ["idf", "north", "south", "west", "east", "overseas"]},
        "age_band": {"18-34": 0.25, "35-54": 0.3, "55-64": 0.25, "65+": 0.2},
    }
    return data, margins


def driver_case(n: int, p: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    cov = 0.3 * np.ones((p, p)) + 0.7 * np.eye(p)
    x = np.clip(np.round(3.5 + rng.multivariate_normal(np.zeros(p), cov, n)), 1, 5)
    y = np.clip(np.round(3.5 + (x - 3.5) @ np.linspace(0.4, 0.02, p) + rng.normal(0, 0.8, n)), 1, 5)
    x[rng.random((n, p)) < 0.2] = np.nan  # touchpoints not experienced
    df = pd.DataFrame(x, columns=[f"sat_{j:02d}" for j in range(p)])
    df["overall_sat"] = y
    df["weight"] = rng.uniform(0.5, 2.0, n)
    return df


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    args = ap.parse_args(argv)
    n_rake = 100_000 if args.quick else 1_000_000
    n_drv, p, n_boot = (1_000, 12, 50) if args.quick else (5_000, 12, 500)

    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}")
    import svy  # noqa: F401  (import once, outside the timings)

    data, margins = raking_case(n_rake)
    res = measure(
        f"rake: {n_rake:,} respondents, 4 margins",
        lambda: pr.weighting.rake(data, margins, weight="design_w"),
    )
    print(
        f"    converged={res.converged} in {res.n_iter} iterations; Kish deff {res.design_effect:.3f}"
    )
    res_b = measure(
        f"rake, bounds (0.3, 3): {n_rake:,} respondents",
        lambda: pr.weighting.rake(data, margins, weight="design_w", bounds=(0.3, 3.0)),
    )
    print(f"    converged={res_b.converged} in {res_b.n_iter} iterations")

    def svy_rake():
        import polars as pl

        sample = svy.Sample(pl.from_pandas(data), svy.Design(wgt="design_w"))
        return sample.weighting.rake(shares=margins, tol=1e-10, max_iter=1000)

    measure(f"svy rake (reference): {n_rake:,} respondents", svy_rake)

    df = driver_case(n_drv, p)
    cols = [f"sat_{j:02d}" for j in range(p)]
    # one-time warm-up of svy's replicate-weight machinery (lazy imports), outside the timings
    pr.satisfaction.drivers(df.head(200), "overall_sat", cols[:3], n_boot=2)
    drv = measure(
        f"drivers: Shapley, {p} drivers, {n_drv:,} resp., {n_boot} boot",
        lambda: pr.satisfaction.drivers(df, "overall_sat", cols, weight="weight", n_boot=n_boot),
    )
    print(f"    R2 = {drv.r2:.3f}; top driver {drv.summary.driver[0]}")
    measure(
        f"drivers: relative weights, same data, {n_boot} boot",
        lambda: pr.satisfaction.drivers(
            df, "overall_sat", cols, weight="weight", n_boot=n_boot, method="relative_weights"
        ),
    )
    measure(
        f"drivers: Shapley + dominance, {n_boot} boot",
        lambda: pr.satisfaction.drivers(
            df, "overall_sat", cols, weight="weight", n_boot=n_boot, dominance=True
        ),
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident set size of the process: {rss:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
