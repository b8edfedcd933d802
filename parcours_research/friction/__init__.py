"""Friction points: significance tests across traces, surveys and interviews, triangulated.

A friction point is a touchpoint where customers drop off, are dissatisfied, or tell of a bad
experience. This module tests each of these, per touchpoint and persona, with tests a
researcher can defend, corrects for the many comparisons, reports effect sizes with intervals
and the minimum detectable effect (so that "not significant" is not read as "no problem"), and
confirms a friction point only when independent sources agree.

>>> import parcours_research as pr
>>> study = pr.load_study("data/sample")                       # doctest: +SKIP
>>> tri = pr.friction.triangulate(study)                        # doctest: +SKIP
>>> tri.confirmed[["touchpoint", "persona"]]                    # doctest: +SKIP

Entry points, each returning one tidy table with the columns :data:`TEST_COLUMNS` then
:data:`EXTRA_COLUMNS`:

* :func:`test_traces`: drop-off per funnel step and touchpoint (against the other personas,
  the previous period, and step targets when given), from :func:`trace_counts`, whose counts
  are those of :func:`parcours_research.traces.funnel` (one funnel definition);
* :func:`test_survey`: satisfaction below target, below the journey's own level, and persona
  differences (design-based t tests; Rao–Scott F for answer distributions, :func:`rao_scott`);
* :func:`test_qual`: share of negative interview excerpts against the study's baseline;
* :func:`test_paths`: satisfaction and NPS by the path respondents actually took;
* :func:`test`: any of them by name; :func:`correct`: (re)correct a table by family.

:func:`triangulate` puts the sources together (:class:`Triangulation`).

Columns of a test table
-----------------------
touchpoint, persona (``"all"`` for everyone), source (``traces``, ``survey``, ``qual``,
``paths``), test, statistic (z, t, F, the exact test's proportion or odds ratio: see
``method``), p_value, p_adj (within ``family``), family, effect_size (the difference, see
``effect_measure``), ci_low, ci_high (its interval at ``confidence``), n (users, ratings or excerpts
in the group), significant (``p_adj < alpha``); then direction (``worse``/``better``/``none``),
friction (significant and worse), step, group, comparison, method, estimate, reference, n_ref,
effect_measure, std_effect (Cohen's h, the SMD or d_z: ``std_measure``), std_ci_low,
std_ci_high, odds_ratio, or_ci_low, or_ci_high, mde and mde_std (minimum detectable effect at
``alpha`` with ``power``, raw and standardised), df, df2, alternative, correction.
"""

from __future__ import annotations

from ._table import ALL, EXTRA_COLUMNS, TEST_COLUMNS
from .correction import CORRECTIONS, correct
from .counts import trace_counts
from .paths import customer_paths, test_paths
from .qual import test_qual
from .survey import rao_scott, test_survey
from .traces import test_traces
from .triangulate import RULES, SOURCES, Triangulation, triangulate

__all__ = [
    "ALL",
    "CORRECTIONS",
    "EXTRA_COLUMNS",
    "RULES",
    "SOURCES",
    "TEST_COLUMNS",
    "Triangulation",
    "correct",
    "customer_paths",
    "rao_scott",
    "test",
    "test_paths",
    "test_qual",
    "test_survey",
    "test_traces",
    "trace_counts",
    "triangulate",
]

_RUNNERS = {"traces": test_traces, "survey": test_survey, "qual": test_qual, "paths": test_paths}


def test(data, source: str = "all", **options):
    """Run the friction tests of one source (or of every source of a study) as one table.

    Parameters
    ----------
    data : Study or DataFrame
        A loaded study, or the data of one source (step counts, survey responses, excerpts;
        for ``"paths"`` pass ``paths=`` too).
    source : {"all", "traces", "survey", "qual", "paths"}, default "all"
        ``"all"`` (a study only) runs traces, survey and qual when the study has them, each
        corrected within its own families.
    **options
        Passed to :func:`test_traces`, :func:`test_survey`, :func:`test_qual` or
        :func:`test_paths`.

    Returns
    -------
    DataFrame
        The tidy test table (see the module documentation for its columns).
    """
    from ..errors import AnalysisError, check_one_of

    check_one_of("source", source, ["all", *_RUNNERS])
    if source != "all":
        return _RUNNERS[source](data, **options)
    if not hasattr(data, "journey"):
        raise AnalysisError(
            "source='all' needs a loaded study; pass source='traces', 'survey' or 'qual' "
            "for a DataFrame."
        )
    import pandas as pd

    parts = []
    if data.traces is not None:
        parts.append(test_traces(data, **options))
    if data.responses is not None:
        parts.append(test_survey(data, **options))
    if data.qual is not None:
        parts.append(test_qual(data, **options))
    return (
        pd.concat(parts, ignore_index=True)
        if parts
        else test_traces(pd.DataFrame(columns=["step", "touchpoint", "persona", "n", "k"]))
    )


test.__test__ = False  # not a pytest test


def __getattr__(name: str):
    if name == "reach":  # removed: it was a second funnel definition
        raise AttributeError(
            "pr.friction.reach was removed: it anchored the funnel window on the first step-1 "
            "event, which disagreed with pr.traces.funnel. Use pr.traces.funnel_users(events, "
            "steps=..., window=...) for each user's furthest step, or "
            "pr.friction.trace_counts for step counts."
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
