"""Speed of the qualitative pipeline: CSV and REFI-QDA import/export, scrubbing, analyses.

Run: ``python benchmarks/qual_io.py [n_excerpts]`` (default 20,000). Prints seconds per step
and throughput. Nothing here is asserted; CI runs the tests, not this script.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import parcours_research as pr
import parcours_research.qual  # noqa: F401  (import outside the timings)
from parcours_research.errors import ParcoursWarning


def synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tps = ["signup", "id_verification", "billing", "claim", "app_usage", "call_centre"]
    n_part = max(2, n // 40)
    part = rng.integers(0, n_part, n)
    base = [
        "C'était long, j'ai attendu trois semaines pour la vérification.",
        "Mon conseiller, M. Martin, m'a rappelée le lendemain, très bien.",
        "Écrivez-moi à claire.dubois@example.fr ou au 06 12 34 56 78.",
        "Rien de particulier à dire sur cette étape, ça s'est bien passé.",
    ]
    df = pd.DataFrame(
        {
            "excerpt_id": [f"E{i:06d}" for i in range(n)],
            "participant": [f"P{p:04d}" for p in part],
            "customer_id": [f"C{p:06d}" for p in part],
            "persona": np.array(["senior", "connecte", "prudent", "explorateur"])[part % 4],
            "touchpoint": rng.choice(tps, n),
            "valence": rng.integers(-2, 3, n).astype(float),
            "coder": rng.choice(["anne", "bruno"], n),
            "text": [f"{base[i % 4]} ({i})" for i in range(n)],
        }
    )
    df["code"] = df["touchpoint"]
    return df


def timed(label: str, fn, n: int):
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    print(f"{label:<34} {dt:8.3f} s   {n / dt:12,.0f} excerpts/s")
    return out


def main(n: int = 20_000) -> None:
    warnings.simplefilter("ignore", ParcoursWarning)
    df = synthetic(n)
    print(f"{n:,} excerpts, {df['participant'].nunique():,} participants")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "excerpts.csv"
        df.to_csv(csv, index=False)
        ex = timed("read_excerpts (CSV)", lambda: pr.qual.read_excerpts(csv), n)
        q = Path(tmp) / "excerpts.qdpx"
        timed("write_qdpx", lambda: pr.qual.write_qdpx(ex, q), n)
        print(f"{'  .qdpx size':<34} {q.stat().st_size / 1e6:8.2f} MB")
        timed("read_qdpx", lambda: pr.qual.read_qdpx(q, excerpt_id="name"), n)
    timed("scrub (texts)", lambda: pr.privacy.scrub(ex["text"], names=["Claire Dubois"]), n)
    timed(
        "pseudonymise (participants)", lambda: pr.privacy.pseudonymise(ex["participant"], "salt"), n
    )
    timed(
        "code_frequencies by touchpoint+persona",
        lambda: pr.qual.code_frequencies(ex, by=["touchpoint", "persona"]),
        n,
    )
    timed(
        "mean_valence by touchpoint+persona",
        lambda: pr.qual.mean_valence(ex, by=["touchpoint", "persona"]),
        n,
    )
    timed("quotes (touchpoint, n=5)", lambda: pr.qual.quotes(ex, touchpoint="id_verification"), n)
    timed(
        "agreement (valence, interval)",
        lambda: pr.qual.agreement(
            ex.assign(excerpt_id=ex["excerpt_id"].str[:-1]).drop_duplicates(
                ["excerpt_id", "coder"]
            ),
            scale_level="interval",
        ),
        n,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
