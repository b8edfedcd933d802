"""Triangulation: a friction point is confirmed when independent sources agree.

:func:`triangulate` runs the trace, survey and interview tests of a study (or takes their
tables), corrects each source's p-values together, and sums up, for every touchpoint and
persona, what each source says:

* ``friction``: at least one of the source's tests is significant (after correction) in the
  worse direction;
* ``contradicts``: a test is significant in the *better* direction and none in the worse one;
* ``none``: tested, nothing significant;
* missing: the source has no test for this touchpoint and persona (no trace step for a
  touchpoint without events, no excerpt, too few ratings).

Confirmation rules (``rule=``):

* ``"two_sources"`` (default): confirmed when at least ``min_sources`` (default 2) sources
  show friction and none contradicts. Two independent kinds of evidence (what people did,
  what they rated, what they told) must point the same way.
* ``"one_source_uncontradicted"``: confirmed when at least one source shows friction, none
  contradicts, and every other source that was tested points the same way (its best test's
  estimate is in the worse direction, even if not significant). More sensitive, for studies
  where one source is thin (a handful of interviews).
* a function ``rule(row) -> bool`` over a row of the summary.

The sources are independent in the sense that they measure different things with different
instruments; they may share people (respondents are customers, interviewees are respondents),
which the rule does not need: it asks for agreement, not for a combined p-value.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import AnalysisError, Problem, check_one_of
from ._table import ALL, TEST_COLUMNS
from .correction import correct

__all__ = ["triangulate", "Triangulation", "RULES", "SOURCES"]

SOURCES = ("traces", "survey", "qual")
RULES = ("two_sources", "one_source_uncontradicted")
_FIELDS = [
    "evidence",
    "test",
    "p_adj",
    "effect",
    "ci_low",
    "ci_high",
    "std_effect",
    "direction",
    "n",
    "mde",
]
_QUOTE_COLUMNS = ["touchpoint", "persona", "rank", "participant", "valence", "text"]


def _apply_rule(summary: pd.DataFrame, rule, min_sources: int, sources: Sequence[str]) -> pd.Series:
    if callable(rule):
        return summary.apply(lambda r: bool(rule(r)), axis=1).astype(bool)
    if rule == "two_sources":
        return (summary["n_friction"] >= min_sources) & (summary["n_contradict"] == 0)
    # one source, the others tested agree in direction
    ok = (summary["n_friction"] >= 1) & (summary["n_contradict"] == 0)
    for s in sources:
        d = summary[f"{s}_direction"]
        tested = summary[f"{s}_evidence"].notna()
        ok &= ~tested | (d == "worse")
    return ok


@dataclass(frozen=True, repr=False)
class Triangulation:
    """Friction evidence per touchpoint and persona from traces, survey and interviews.

    Attributes
    ----------
    summary : DataFrame
        One row per touchpoint and persona: ``touchpoint, stage, persona``, then per source
        ``<source>_evidence`` (``friction``, ``contradicts``, ``none`` or missing),
        ``<source>_test, <source>_p_adj, <source>_effect, <source>_ci_low, <source>_ci_high,
        <source>_std_effect, <source>_direction, <source>_n, <source>_mde``, then
        ``n_sources`` (sources with a test), ``n_friction``, ``n_contradict``, ``agree``
        (every tested source points the same way and none contradicts another),
        ``confirmed``, ``quotes`` (scrubbed, most negative first, joined by ``" | "``).
    tests : DataFrame
        Every test behind it (the tidy test table, corrected as described by ``family``).
    quotes : DataFrame
        The quotes shown: ``touchpoint, persona, rank, participant`` (pseudonymised),
        ``valence, text`` (scrubbed).
    rule : str or callable
    min_sources : int
    family, correction : str
    alpha : float
    """

    summary: pd.DataFrame
    tests: pd.DataFrame
    quotes: pd.DataFrame
    rule: object = "two_sources"
    min_sources: int = 2
    family: str = "source"
    correction: str = "bh"
    alpha: float = 0.05
    sources: tuple = field(default_factory=lambda: SOURCES)

    @property
    def confirmed(self) -> pd.DataFrame:
        """The confirmed friction points (rows of ``summary``)."""
        return self.summary[self.summary["confirmed"]].reset_index(drop=True)

    def _rule_text(self) -> str:
        if callable(self.rule):
            return f"custom rule {getattr(self.rule, '__name__', 'function')}"
        if self.rule == "two_sources":
            return f"friction in >= {self.min_sources} sources, none contradicting"
        return "friction in >= 1 source, the other tested sources pointing the same way"

    def _lines(self) -> list[str]:
        s = self.summary
        lines = [
            f"Triangulation: {len(s)} touchpoint x persona cells, sources {', '.join(self.sources)}; "
            f"{self.correction} correction by {self.family}, alpha {self.alpha:g}",
            f"rule: {self._rule_text()}",
            f"confirmed friction points: {int(s['confirmed'].sum())}",
        ]
        for r in self.confirmed.itertuples():
            ev = ", ".join(
                src for src in self.sources if str(getattr(r, f"{src}_evidence")) == "friction"
            )
            lines.append(f"  - {r.touchpoint} / {r.persona} (friction in {ev})")
        flagged = s[(s["n_friction"] >= 1) & ~s["confirmed"]]
        if len(flagged):
            lines.append(f"flagged by one source only (not confirmed): {len(flagged)}")
        return lines

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        head = "<br>".join(html.escape(x) for x in self._lines())
        cols = [
            "touchpoint",
            "persona",
            *[f"{s}_evidence" for s in self.sources],
            "n_friction",
            "agree",
            "confirmed",
            "quotes",
        ]
        shown = self.summary[(self.summary["n_friction"] >= 1) | self.summary["confirmed"]][cols]
        return f"<p>{head}</p>" + shown.to_html(index=False, na_rep="")


def triangulate(
    study=None,
    *,
    sources: Sequence[str] = SOURCES,
    tables: Mapping[str, pd.DataFrame] | None = None,
    rule: str | Callable = "two_sources",
    min_sources: int = 2,
    include_overall: bool = False,
    family: str = "source",
    correction: str = "bh",
    alpha: float = 0.05,
    alternative: str = "worse",
    n_quotes: int = 3,
    quotes_for: str = "flagged",
    traces_options: Mapping | None = None,
    survey_options: Mapping | None = None,
    qual_options: Mapping | None = None,
    excerpts: pd.DataFrame | None = None,
) -> Triangulation:
    """Triangulate friction evidence from traces, surveys and interviews.

    Parameters
    ----------
    study : Study or Evidence, optional
        The loaded study or its prepared evidence (:func:`parcours_research.prepare`). Its
        trace tests run on the study's engine (``traces: engine:`` in study.yml, or the
        ``engine=`` of ``pr.prepare``: DuckDB or Spark), and only the step counts come back
        from it. Without a study, ``tables`` must hold the test tables; the cells are then the
        touchpoints and personas found in them, and there are no quotes unless ``excerpts``
        is given.
    sources : sequence of str, default ("traces", "survey", "qual")
        Sources to use (those the study lacks are skipped).
    tables : dict, optional
        Precomputed test tables by source (from :func:`test_traces`, :func:`test_survey`,
        :func:`test_qual`); the sources given here are not recomputed. Their p-values are
        corrected again as ``family`` says.
    rule : {"two_sources", "one_source_uncontradicted"} or callable, default "two_sources"
        When a touchpoint and persona is ``confirmed`` (see the module documentation); a
        callable gets a row of the summary and returns a bool.
    min_sources : int, default 2
        Sources needed by ``"two_sources"``.
    include_overall : bool, default False
        Add rows for everyone (persona ``"all"``) besides the personas.
    family : {"source", "test", "all"}, default "source"
        Correction families: all the tests of a source together (default: a source then errs
        at most at level ``alpha`` over the whole study), one per test, or everything at once.
    correction : {"bh", "holm", ...}, default "bh"
    alpha : float, default 0.05
    alternative : {"worse", "two-sided"}, default "worse"
    n_quotes : int, default 3
        Quotes per touchpoint and persona (0 for none).
    quotes_for : {"flagged", "all"}, default "flagged"
        Quote cells flagged by at least one source, or every cell.
    traces_options, survey_options, qual_options : dict, optional
        Extra arguments of :func:`test_traces` (and :func:`trace_counts`),
        :func:`test_survey`, :func:`test_qual`.
    excerpts : DataFrame, optional
        Coded excerpts for the quotes (default: the study's).

    Returns
    -------
    Triangulation
        ``.summary`` (one row per touchpoint and persona), ``.tests``, ``.quotes``,
        ``.confirmed``.
    """
    _check_args(sources, rule, quotes_for, min_sources)
    study, ev = _study_and_evidence(study, tables)
    common = {
        "alternative": alternative,
        "alpha": alpha,
        "correction": correction,
        "family": "source",
    }
    options = {"traces": traces_options, "survey": survey_options, "qual": qual_options}
    parts, used = _source_tables(sources, dict(tables or {}), study, ev, common, options)
    tests = correct(
        pd.concat(parts, ignore_index=True), correction=correction, alpha=alpha, family=family
    )
    grid, cell_personas, tps = _grid(study, tests, include_overall)
    best = _best_rows(tests, cell_personas, tps)
    summary = _summary(grid, best, used, rule, min_sources)
    if (
        excerpts is None
        and n_quotes
        and study is not None
        and study.qual is not None
        and ("qual" in used)
    ):
        excerpts = ev.excerpts  # scrubbed and pseudonymised once
        salt = None
    else:
        salt = study.privacy_salt if study is not None else None
    quotes = _quotes(summary, excerpts, salt, n_quotes, quotes_for)
    return Triangulation(
        summary=summary.reset_index(drop=True),
        tests=tests,
        quotes=quotes,
        rule=rule,
        min_sources=min_sources,
        family=family,
        correction=correction,
        alpha=alpha,
        sources=tuple(used),
    )


def _check_args(sources, rule, quotes_for, min_sources) -> None:
    """Check the arguments of :func:`triangulate`."""
    for s in sources:
        check_one_of("sources", s, SOURCES)
    if not callable(rule):
        check_one_of("rule", rule, RULES)
    check_one_of("quotes_for", quotes_for, ("flagged", "all"))
    if not isinstance(min_sources, int | np.integer) or min_sources < 1:
        raise AnalysisError(f"min_sources={min_sources!r} must be a positive integer.")


def _study_and_evidence(study, tables):
    """The study and its prepared evidence (both None without a study); raises when there is
    neither a loaded study nor tables."""
    from ..evidence import evidence_of

    ev = evidence_of(study) if study is not None else None
    if ev is not None:
        study = ev.study
    if study is not None and ev is None:
        raise AnalysisError(
            "triangulate needs a loaded study (pr.load_study(path)) or tables=.",
            [Problem(f"got {type(study).__name__}")],
        )
    if study is None and not tables:
        raise AnalysisError(
            "triangulate needs a study or tables={source: test table}.",
            [Problem("nothing to triangulate", fix="pass pr.load_study(path)")],
        )
    return study, ev


def _check_table(source: str, table: pd.DataFrame) -> None:
    """Raise when a source's test table lacks the columns triangulation reads."""
    missing = [
        c for c in TEST_COLUMNS + ["direction", "std_effect", "mde"] if c not in table.columns
    ]
    if missing:
        raise AnalysisError(
            f"triangulate: the {source} table lacks columns.",
            [Problem(f"missing column(s) {missing}", fix="pass a table made by pr.friction")],
        )


def _source_tables(sources, tables: dict, study, ev, common: dict, options: dict):
    """Each source's test table (given in ``tables``, else run on the study when it has the
    source's data) and the sources used."""
    from .qual import test_qual
    from .survey import test_survey
    from .traces import test_traces

    runners = {
        "traces": (test_traces, study is not None and study.traces is not None),
        "survey": (test_survey, study is not None and study.responses is not None),
        "qual": (test_qual, study is not None and study.qual is not None),
    }
    from .._background import gather

    def run(s):
        return lambda: runners[s][0](ev, **common, **dict(options[s] or {}))

    # the survey's tests (mostly svy's compiled kernel, outside the interpreter lock) run in a
    # thread while the traces' and the quotes' run here; errors are raised in the sources' order
    ran = gather([(s, run(s)) for s in sources if s not in tables and runners[s][1]], {"survey"})
    used, parts = [], []
    for s in sources:
        if s in tables:
            t = tables[s]
        elif s in ran:
            t = ran[s]
        else:
            continue
        _check_table(s, t)
        used.append(s)
        parts.append(t[t["source"] == s] if "source" in t.columns else t)
    if not parts:
        raise AnalysisError(
            f"Nothing to triangulate: no table and no study data for the sources {list(sources)}."
        )
    return parts, used


def _grid(study, tests: pd.DataFrame, include_overall: bool):
    """The touchpoint x persona cells (with the stage), the cells' personas and touchpoints:
    the study's, else those of the tests."""
    if study is not None:
        personas = list(study.journey.persona_ids)
        tps = [t.id for t in study.journey.touchpoints]
        stage_of = {t.id: t.stage for t in study.journey.touchpoints}
    else:
        personas = [p for p in pd.unique(tests["persona"].dropna()) if p != ALL]
        tps = [t for t in pd.unique(tests["touchpoint"].dropna())]
        stage_of = {}
    cell_personas = ([ALL] if include_overall or not personas else []) + personas
    grid = pd.DataFrame(
        [(tp, p) for tp in tps for p in cell_personas], columns=["touchpoint", "persona"]
    )
    grid.insert(1, "stage", grid["touchpoint"].map(stage_of).astype("string"))
    return grid, cell_personas, tps


def _best_rows(tests: pd.DataFrame, cell_personas: list, tps: list) -> pd.DataFrame:
    """The row that speaks for each source, touchpoint and persona, with its ``evidence``."""
    keys = ["source", "touchpoint", "persona"]
    sub = tests[
        tests["persona"].isin(cell_personas)
        & tests["touchpoint"].isin(tps)
        & tests["p_value"].notna()
    ]
    sub = sub.assign(
        _sw=(sub["significant"] & (sub["direction"] == "worse")).astype(bool),
        _sb=(sub["significant"] & (sub["direction"] == "better")).astype(bool),
    )
    # the row that speaks for a source: its strongest friction test if any, else its strongest
    # test (smallest corrected p-value, ties by the raw one)
    best = (
        sub.sort_values(["_sw", "p_adj", "p_value"], ascending=[False, True, True], kind="stable")
        .drop_duplicates(keys)
        .set_index(keys)
    )
    flags = sub.groupby(keys, sort=False)[["_sw", "_sb"]].any().add_suffix("_any")
    best = best.join(flags)
    best["evidence"] = np.where(
        best["_sw_any"], "friction", np.where(best["_sb_any"], "contradicts", "none")
    )
    return best.rename(columns={"effect_size": "effect"})


def _summary(grid, best, used, rule, min_sources) -> pd.DataFrame:
    """The grid with each used source's evidence columns, the counts, ``agree`` and
    ``confirmed``."""
    summary = grid.copy()
    for s in SOURCES:
        if s not in used:
            continue
        b = (
            best.xs(s, level="source")
            if s in best.index.get_level_values("source")
            else best.iloc[0:0].droplevel(0)
        )
        b = b.reindex(pd.MultiIndex.from_frame(grid[["touchpoint", "persona"]]))
        for k in _FIELDS:
            summary[f"{s}_{k}"] = b[k].to_numpy()
        for k in ("p_adj", "effect", "ci_low", "ci_high", "std_effect", "mde"):
            summary[f"{s}_{k}"] = pd.to_numeric(summary[f"{s}_{k}"], errors="coerce").astype(float)
        summary[f"{s}_n"] = pd.to_numeric(summary[f"{s}_n"], errors="coerce").astype("Int64")
        for k in ("evidence", "test", "direction"):
            summary[f"{s}_{k}"] = summary[f"{s}_{k}"].astype("string")
    ev_cols = [f"{s}_evidence" for s in used]
    evid = summary[ev_cols]
    summary["n_sources"] = evid.notna().sum(axis=1).astype(int)
    summary["n_friction"] = (evid == "friction").fillna(False).sum(axis=1).astype(int)
    summary["n_contradict"] = (evid == "contradicts").fillna(False).sum(axis=1).astype(int)
    dirs = summary[[f"{s}_direction" for s in used]]
    mixed = (dirs == "worse").fillna(False).any(axis=1) & (dirs == "better").fillna(False).any(
        axis=1
    )
    summary["agree"] = (~mixed & (summary["n_contradict"] == 0)).astype(bool)
    summary["confirmed"] = _apply_rule(summary, rule, min_sources, used).astype(bool)
    return summary


def _quotes(summary, excerpts, salt, n_quotes, quotes_for) -> pd.DataFrame:
    """The quotes of the cells (flagged ones, or all): a ``quotes`` column added to
    ``summary``, and the table of quotes shown."""
    qrows = []
    summary["quotes"] = pd.Series(pd.NA, index=summary.index, dtype="string")
    if n_quotes and excerpts is not None:
        from ..qual import quotes as pick_quotes

        want = (
            summary
            if quotes_for == "all"
            else summary[(summary["n_friction"] >= 1) | summary["confirmed"]]
        )
        for i, r in want.iterrows():
            q = pick_quotes(
                excerpts,
                touchpoint=r["touchpoint"],
                persona=None if r["persona"] == ALL else r["persona"],
                n=int(n_quotes),
                valence="negative",
                salt=salt,
            )
            if len(q):
                summary.loc[i, "quotes"] = " | ".join(q["text"].astype(str))
                qrows.append(
                    q.assign(touchpoint=r["touchpoint"], persona=r["persona"])[_QUOTE_COLUMNS]
                )
    if qrows:
        return pd.concat(qrows, ignore_index=True)
    return pd.DataFrame(columns=_QUOTE_COLUMNS)
