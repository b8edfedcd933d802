"""Digital traces: read, clean, stitch identities, sessionize, funnels and paths.

>>> import parcours_research as pr
>>> events = pr.traces.read_events(study)                     # doctest: +SKIP
>>> cleaned, log = pr.traces.clean(events)                    # doctest: +SKIP
>>> stitched, conflicts = pr.traces.stitch(cleaned)           # doctest: +SKIP
>>> sessions = pr.traces.sessionize(stitched)                 # doctest: +SKIP
>>> pr.traces.funnel(sessions, steps=[...], window="7D")      # doctest: +SKIP

Every function takes an :class:`EventLog` (lazy, held by DuckDB or Spark) or a pandas
DataFrame with the canonical columns (``row_id, user_id, device_id, timestamp, event,
session_id, touchpoint, user_agent``); see :mod:`.eventlog` for their meaning.
"""

from .clean import BOT_PATTERNS, REASONS, BotRules, Cleaned, CleaningLog, clean
from .coverage import unmapped_events
from .engine import DuckDBEngine, Engine, SparkEngine, default_engine
from .eventlog import CANONICAL, EventLog
from .funnel import ORDERS, funnel, funnel_users
from .ga4_sample import write_ga4_export
from .identity import Stitched, read_identity_map, stitch
from .io import FORMATS, read_events
from .paths import SEPARATOR, TimeToStep, time_to_step, transitions, variants
from .pyramid import pyramid
from .sessions import attach, map_touchpoints, sessionize

__all__ = [
    "BOT_PATTERNS",
    "CANONICAL",
    "FORMATS",
    "ORDERS",
    "REASONS",
    "SEPARATOR",
    "BotRules",
    "Cleaned",
    "CleaningLog",
    "DuckDBEngine",
    "Engine",
    "EventLog",
    "SparkEngine",
    "Stitched",
    "TimeToStep",
    "attach",
    "clean",
    "contact_counts",
    "contact_pressure",
    "default_engine",
    "funnel",
    "funnel_users",
    "map_touchpoints",
    "pyramid",
    "read_events",
    "read_identity_map",
    "sessionize",
    "stitch",
    "time_to_step",
    "transitions",
    "unmapped_events",
    "variants",
    "write_ga4_export",
]


def __getattr__(name: str):
    """``contact_counts`` and ``contact_pressure``: contact pressure joins the survey, so it
    lives above the traces (:mod:`parcours_research.contact`); imported when first asked, as it
    loads scipy (about 1.5 s), which the trace pipeline does not need."""
    if name in ("contact_counts", "contact_pressure"):
        from .. import contact

        return getattr(contact, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
