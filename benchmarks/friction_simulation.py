"""Benchmark and simulation report for the friction tests.

Runs the friction pipeline (trace, survey and interview tests, Benjamini–Hochberg within each
source, triangulation) on many small generated studies, with no effect (false alarms) and with a
planted friction point (power), and prints the shares and the time per study.

    python benchmarks/friction_simulation.py                 # 200 null + 60 planted studies
    python benchmarks/friction_simulation.py --null 1000 --planted 300 --workers 2
    python benchmarks/friction_simulation.py --plan          # and pr.plan.power on the same design
    python benchmarks/friction_simulation.py --seeds 10 --null-studies 50 --null 0 --planted 0
                                        # full-size sample studies (parcours sample) through the kit

``--plan`` runs :func:`parcours_research.plan.power` on the benchmark's design with the same
effect and as many studies (its own seeds), and compares the two powers (two-proportion z test):
they must agree within Monte Carlo error. ``--seeds N`` writes the sample study of seeds 1..N at
full size (their planted effects drawn from the seed), triangulates each and compares with
``truth.json``; ``--null-studies K`` does the same for K null sample studies (``--null``).
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

ALPHA = 0.05


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
    ap.add_argument(
        "--plan", action="store_true", help="compare with pr.plan.power on the same design"
    )
    ap.add_argument("--seeds", type=int, default=0, help="full-size sample studies of seeds 1..N")
    ap.add_argument("--null-studies", type=int, default=0, help="full-size null sample studies")
    ap.add_argument(
        "--calibrate",
        nargs=3,
        metavar=("K", "CELL", "SIZE"),
        help="power at CELL (touchpoint:persona) for a friction of SIZE: K full sample studies "
        "against pr.plan.power on data/sample with K studies",
    )
    args = ap.parse_args(argv)
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    if args.seeds or args.null_studies:
        _sample_studies(args.seeds, args.null_studies)
    if args.calibrate:
        _calibrate(
            int(args.calibrate[0]), args.calibrate[1], float(args.calibrate[2]), args.workers
        )
    if args.null or args.planted:
        _simulation(args)
    return 0


def _simulation(args) -> None:
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
    if args.plan:
        _compare_with_plan(planted, len(planted), args.workers)


def _compare_with_plan(planted: pd.DataFrame, n: int, workers: int) -> None:
    """pr.plan.power on the benchmark's design: the same power within Monte Carlo error."""
    import parcours_research as pr

    d = sim.SimDesign(planted=True)
    t0 = time.perf_counter()
    res = pr.plan.power(
        sim.SimDesign(),
        cells=[(d.tps[d.touchpoint], d.personas[d.persona])],
        n_sim=n,
        n_jobs=workers,
        seed=20261206,
    )
    row = res.planted.iloc[0]
    p1, p2 = float(planted["confirmed_planted"].mean()), float(row["power"])
    pooled = (p1 + p2) / 2
    se = math.sqrt(max(pooled * (1 - pooled), 1e-9) * 2 / n)
    z = (p1 - p2) / se
    print(
        f"pr.plan.power on the same design ({n} studies, {time.perf_counter() - t0:.1f} s): power {p2:.3f} "
        f"[{row['power_ci_low']:.3f}, {row['power_ci_high']:.3f}] against the benchmark's {p1:.3f}; "
        f"difference {p1 - p2:+.3f}, z = {z:+.2f} (|z| < 2.58: agree at the 1% level)"
    )


def _calibrate(k: int, cell: str, size: float, workers: int) -> None:
    """The fast simulator against the full one: power at one cell, both ways."""
    import tempfile
    from pathlib import Path

    import parcours_research as pr

    tp, persona = cell.split(":")
    t0 = time.perf_counter()
    hits = 0
    for seed in range(k):
        with tempfile.TemporaryDirectory() as tmp:
            out = pr.sample.make_sample(
                Path(tmp) / "s", seed=5000 + seed, friction=[f"{cell}:{size}"]
            )
            tri = pr.friction.triangulate(pr.load_study(out), n_quotes=0)
        hits += bool(
            ((tri.confirmed["touchpoint"] == tp) & (tri.confirmed["persona"] == persona)).any()
        )
    full = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = pr.plan.power(
        pr.datasets.sample_dir(),
        effect=size,
        cells=[(tp, persona)],
        n_sim=k,
        n_jobs=workers,
        seed=7,
    )
    row = res.planted.iloc[0]
    lo, hi = pr.plan._wilson(hits, k, 0.95)
    print(
        f"power at {cell}, size {size}: full sample studies {hits / k:.2f} [{lo:.2f}, {hi:.2f}] "
        f"({k} studies, {full:.0f} s); pr.plan.power on data/sample {row['power']:.2f} "
        f"[{row['power_ci_low']:.2f}, {row['power_ci_high']:.2f}] ({time.perf_counter() - t0:.0f} s)"
    )


def _sample_studies(n_seeds: int, n_null: int) -> None:
    """Full-size sample studies through load_study and triangulate, against truth.json."""
    import json
    import tempfile
    from pathlib import Path

    import parcours_research as pr

    def run(seed, effects):
        with tempfile.TemporaryDirectory() as tmp:
            out = pr.sample.make_sample(Path(tmp) / "s", seed=seed, effects=effects)
            truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
            tri = pr.friction.triangulate(pr.load_study(out), n_quotes=0)
        planted = {(f["touchpoint"], f["persona"]) for f in truth["friction"]}
        return planted, set(zip(tri.confirmed["touchpoint"], tri.confirmed["persona"], strict=True))

    t0 = time.perf_counter()
    ok, pairs = 0, set()
    for seed in range(1, n_seeds + 1):
        planted, confirmed = run(seed, "seed")
        ok += planted == confirmed
        pairs |= planted
        print(f"  seed {seed}: planted {sorted(planted)}, confirmed {sorted(confirmed)}")
    if n_seeds:
        print(
            f"{ok}/{n_seeds} seeds recovered exactly; {len(pairs)} touchpoint x persona pairs planted "
            f"({time.perf_counter() - t0:.0f} s)"
        )
    false = sum(bool(run(1000 + s, "null")[1]) for s in range(n_null))
    if n_null:
        from scipy.stats import binom

        bound = int(binom.isf(0.01, n_null, ALPHA))  # P(X > bound) <= 1% when the rate is alpha
        print(
            f"{n_null} null sample studies: {false} with a confirmed friction (one-sided binomial bound at "
            f"alpha {ALPHA}, 1%: at most {bound})"
        )


if __name__ == "__main__":
    sys.exit(main())
