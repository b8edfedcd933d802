"""How many times the event log was read and cleaned in this process.

The prepared evidence of a study (:mod:`parcours_research.evidence`) reads and cleans its event
log once per configuration; the tests hold every analysis, notebook and the report to it by
reading :data:`CALLS` (``{"read_events": n, "clean": n}``) before and after.
"""

from __future__ import annotations

from collections import Counter

#: Calls so far, by function name.
CALLS: Counter = Counter()


def note(what: str) -> None:
    """Count one call of ``what``."""
    CALLS[what] += 1
