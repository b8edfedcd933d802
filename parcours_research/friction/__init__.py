"""Friction points: significance tests across traces, surveys and interviews, triangulated."""

from ._table import ALL, EXTRA_COLUMNS, TEST_COLUMNS
from .correction import correct
from .survey import rao_scott, test_survey
from .traces import test_traces

__all__ = ["ALL", "EXTRA_COLUMNS", "TEST_COLUMNS", "correct", "rao_scott", "test_survey", "test_traces"]
from .qual import test_qual  # noqa: E402
from .counts import trace_counts  # noqa: E402
