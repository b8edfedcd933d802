"""The report runs the survey's sections while the event log is prepared in a thread.

``_run_order`` decides the order the sections run in; ``_prepare_traces_soon`` starts the
preparation and leaves any failure to the section that reads the evidence. The page order is
checked on a built report in ``tests/test_report.py``.
"""

from __future__ import annotations

import threading
import warnings
from types import SimpleNamespace

import pytest

import parcours_research as pr
from parcours_research import report
from parcours_research.errors import StudyError

IDS = [sid for sid, _ in report.SECTIONS]


def test_survey_sections_run_first_when_the_study_has_traces():
    order = report._run_order(SimpleNamespace(traces=object()))
    assert sorted(order) == sorted(IDS)  # every section, once
    first = order[: len(report._SURVEY_FIRST)]
    assert first == list(report._SURVEY_FIRST)
    rest = [sid for sid in IDS if sid not in report._SURVEY_FIRST]
    assert order[len(first):] == rest  # the others in the page's order
    assert order[-1] == "summary"  # it reads every other result


def test_page_order_without_traces():
    assert report._run_order(SimpleNamespace(traces=None)) == IDS


def test_survey_first_sections_read_no_later_result():
    # the sections run early must not need what a trace section leaves on the context
    late = {"triangulation", "pyramid", "curves", "conformance", "contacts", "moments"}
    import inspect

    fns = dict(report.SECTIONS)
    for sid in report._SURVEY_FIRST:
        src = inspect.getsource(fns[sid])
        assert not any(f"ctx.{name}" in src for name in late), sid


def test_run_order_follows_a_patched_section_list(monkeypatch):
    few = [("traces", report._s_traces), ("scores", report._s_scores), ("summary", None)]
    monkeypatch.setattr(report, "SECTIONS", few)
    assert report._run_order(SimpleNamespace(traces=object())) == ["scores", "traces", "summary"]


class _FailingOnce:
    """Evidence whose event log fails the first time it is read (as a thread would see it)."""

    def __init__(self):
        self.calls = 0
        self.threads = []

    @property
    def traces(self):
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        raise StudyError("the event log cannot be read")


def test_a_failed_background_preparation_is_raised_by_the_section_that_reads_it():
    ev = _FailingOnce()
    ctx = SimpleNamespace(study=SimpleNamespace(traces=object()), evidence=ev)
    pending = report._prepare_traces_soon(ctx)
    assert pending.settle(timeout=30)
    assert ev.calls == 1 and ev.threads == ["parcours-traces"]  # kept, not raised, in the thread
    assert isinstance(pending.error, StudyError)
    with pytest.raises(StudyError, match="cannot be read"):
        ctx.evidence.traces  # noqa: B018 - the section's read raises it in its own words
    assert ev.calls == 2


def test_no_thread_without_traces():
    ctx = SimpleNamespace(study=SimpleNamespace(traces=None), evidence=None)
    before = threading.active_count()
    assert report._prepare_traces_soon(ctx) is None
    assert threading.active_count() == before


def test_prepared_in_the_background_equals_prepared_in_line(tmp_path):
    study_dir = pr.sample.make_sample(tmp_path / "s", seed=5, n_customers=150, n_prospects=60,
                                      n_respondents=80, n_participants=6)
    shown = warnings.showwarning, warnings._showwarnmsg_impl, warnings.filters
    study = pr.load_study(study_dir)
    ctx = SimpleNamespace(study=study, evidence=pr.prepare(study))
    pending = report._prepare_traces_soon(ctx)
    background = ctx.evidence.traces  # waits for the thread (the evidence's lock)
    assert pending.settle(timeout=60) and pending.error is None
    # pandas enters catch_warnings in both threads; settle leaves the process as it was
    assert (warnings.showwarning, warnings._showwarnmsg_impl, warnings.filters) == shown
    inline = pr.prepare(pr.load_study(study_dir)).traces
    a, b = background.log.to_pandas(), inline.log.to_pandas()
    assert len(a) > 0 and a.equals(b)
    assert background.cleaning.summary.equals(inline.cleaning.summary)
