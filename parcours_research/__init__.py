"""parcours_research: a research kit for customer-journey ("parcours client") studies.

>>> import parcours_research as pr
>>> study = pr.load_study("data/sample")          # doctest: +SKIP

Sub-modules are imported on first use (``pr.weighting``, ``pr.satisfaction``, ``pr.traces``,
``pr.qual``, ``pr.friction``, ``pr.curves``, ``pr.plot``, ``pr.sample``, ``pr.plan``), so that
``import parcours_research`` stays cheap.
"""

from __future__ import annotations

import importlib
import os

# OpenBLAS's idle workers spin about 0.1 s after each threaded call before they sleep; the
# importance sections make one every few milliseconds, so by default a worker spins through
# them and takes the second core from the rest of the report. A shorter spin changes no result
# (only how long an idle thread waits; the blocking of the sums depends on the thread count,
# which is left alone). It takes effect when numpy is first loaded after this line; a value the
# user set is kept.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from .errors import ParcoursWarning, Problem, StudyError

__version__ = "0.4.4"

_SUBMODULES = {
    "journey", "study", "survey", "weighting", "satisfaction", "traces", "qual", "friction",
    "curves", "plot", "sample", "report", "widgets", "cli", "errors", "privacy", "ratings", "evidence",
    "datasets", "plan", "checks", "privacy_record", "privacy_scrub", "workshop", "findings", "outcomes",
    "conformance", "moments", "contact", "next_wave",
}
_LAZY_ATTRS = {
    "load_study": "study", "Study": "study", "JourneyMap": "journey", "make_sample": "sample",
    "prepare": "evidence", "validate": "checks", "privacy_summary": "privacy_record",
}

__all__ = ["ParcoursWarning", "Problem", "StudyError", "__version__", *sorted(_LAZY_ATTRS), *sorted(_SUBMODULES)]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_ATTRS:
        return getattr(importlib.import_module(f".{_LAZY_ATTRS[name]}", __name__), name)
    raise AttributeError(f"module 'parcours_research' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | set(_LAZY_ATTRS))
