"""Recall and precision of the scrubber, per entity type, on the labelled corpus.

    python benchmarks/privacy.py                 # tests/data/privacy/corpus.jsonl
    python benchmarks/privacy.py --no-ner        # structured detectors and patterns only

Goals (issue 16): recall >= 0.98 for the structured identifiers (e-mail, phone, IBAN, NIR,
card, SIRET), >= 0.90 for names, precision >= 0.90 for every entity. The corpus is written by
``benchmarks/privacy_corpus.py`` (Faker fr_FR / en_GB, seeded); how a value counts as found
is described in :func:`parcours_research.privacy_scrub.evaluate`.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import pandas as pd

from parcours_research.privacy import Scrubber
from parcours_research.privacy_scrub import evaluate, ner_backend

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "privacy" / "corpus.jsonl"
STRUCTURED = {"EMAIL", "PHONE", "IBAN", "NIR", "CARD", "SIRET"}
GOALS = {"structured_recall": 0.98, "name_recall": 0.90, "precision": 0.90}


def load(path: Path = CORPUS) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def run(records: list[dict], *, ner: bool = True) -> pd.DataFrame:
    """The scores per language and entity (and over both languages)."""
    parts = []
    for lang in ("fr", "en"):
        recs = [r for r in records if r["language"] == lang]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = Scrubber(ner=ner, language=lang)
            parts.append(evaluate(recs, s).assign(language=lang))
    per_lang = pd.concat(parts, ignore_index=True)
    total = per_lang.groupby("entity", as_index=False)[
        ["n_true", "found", "n_detected", "correct"]
    ].sum()
    total["recall"] = total["found"] / total["n_true"].where(total["n_true"] > 0)
    total["precision"] = total["correct"] / total["n_detected"].where(total["n_detected"] > 0)
    return pd.concat([per_lang, total.assign(language="all")], ignore_index=True)


def misses(table: pd.DataFrame) -> list[str]:
    """The goals not met (empty when all are)."""
    t = table[table["language"] == "all"].set_index("entity")
    out = []
    for e, r in t.iterrows():
        goal = (
            GOALS["structured_recall"]
            if e in STRUCTURED
            else GOALS["name_recall"]
            if e == "NAME"
            else None
        )
        if goal is not None and r["n_true"] > 0 and r["recall"] < goal:
            out.append(f"{e} recall {r['recall']:.3f} < {goal}")
        if r["n_detected"] > 0 and r["precision"] < GOALS["precision"]:
            out.append(f"{e} precision {r['precision']:.3f} < {GOALS['precision']}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Scrubber recall and precision per entity type.")
    p.add_argument("--corpus", type=Path, default=CORPUS)
    p.add_argument("--no-ner", action="store_true", help="without the named-entity model")
    args = p.parse_args(argv)
    records = load(args.corpus)
    t0 = time.perf_counter()
    for lang in ("fr", "en"):
        ner_backend(lang, warn=False)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = run(records, ner=not args.no_ner)
    t_run = time.perf_counter() - t0
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
    print(
        f"\n{len(records)} sentences; models loaded in {t_load:.1f} s, scrubbed and scored in {t_run:.1f} s"
    )
    for lang in ("fr", "en"):
        be = ner_backend(lang, warn=False)
        print(f"  {lang}: {be.detector}" + (f" ({be.missing})" if be.missing else ""))
    bad = misses(table)
    print("goals met" if not bad else "goals NOT met: " + "; ".join(bad))
    return 0 if not bad else 1


if __name__ == "__main__":
    raise SystemExit(main())
