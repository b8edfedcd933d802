"""``_background``: work in a thread, joined with the process-wide warnings state repaired.

Python 3.11's ``warnings.catch_warnings`` saves and restores module-level state; two threads
leaving it out of order can leave a dead recorder installed (every later warning then
vanishes). The tests below produce that interleaving deterministically with events.
"""

from __future__ import annotations

import threading
import warnings

import pytest

from parcours_research import _background


def test_result_and_error_are_kept():
    seen = []
    job = _background.start(lambda: seen.append(threading.current_thread().name), "t-ok")
    assert job.settle(timeout=10) and job.error is None and seen == ["t-ok"]

    def fail():
        raise ValueError("boom")

    job = _background.start(fail, "t-fail")
    assert job.settle(timeout=10)
    assert isinstance(job.error, ValueError) and str(job.error) == "boom"


def test_a_dead_recorder_left_by_an_interleaving_is_removed():
    before_show, before_impl = warnings.showwarning, warnings._showwarnmsg_impl
    inside, release = threading.Event(), threading.Event()
    ctx = {}

    def work():
        cm = warnings.catch_warnings(record=True)
        ctx["log"] = cm.__enter__()
        inside.set()
        release.wait(10)
        cm.__exit__(None, None, None)

    job = _background.start(work, "t-race")
    assert inside.wait(10)
    main_cm = warnings.catch_warnings()  # entered while the thread's recorder is installed
    main_cm.__enter__()
    release.set()
    job._thread.join(10)  # the thread leaves first ...
    main_cm.__exit__(None, None, None)  # ... the main thread then restores the recorder
    assert warnings._showwarnmsg_impl is not before_impl  # the race happened: a dead recorder
    assert job.settle(timeout=10)
    assert warnings.showwarning is before_show and warnings._showwarnmsg_impl is before_impl
    with pytest.warns(UserWarning, match="still shown"):
        warnings.warn("still shown", UserWarning, stacklevel=1)
    assert ctx["log"] == []


def test_filters_swapped_by_an_interleaving_are_put_back():
    before = warnings.filters
    inside, release = threading.Event(), threading.Event()

    def work():
        cm = warnings.catch_warnings()
        cm.__enter__()
        warnings.simplefilter("ignore", UserWarning)  # a copy of the list, with one more filter
        inside.set()
        release.wait(10)
        cm.__exit__(None, None, None)

    job = _background.start(work, "t-filters")
    assert inside.wait(10)
    main_cm = warnings.catch_warnings()
    main_cm.__enter__()  # saves the thread's copy
    release.set()
    job._thread.join(10)
    main_cm.__exit__(None, None, None)  # restores the thread's copy, "ignore" included
    assert warnings.filters is not before
    job.settle(timeout=10)
    assert warnings.filters is before
    with pytest.warns(UserWarning, match="not ignored"):
        warnings.warn("not ignored", UserWarning, stacklevel=1)


def test_nothing_changed_when_nothing_raced():
    before = warnings.filters, warnings.showwarning, warnings._showwarnmsg_impl
    job = _background.start(lambda: None, "t-quiet")
    assert job.settle(timeout=10)
    assert (warnings.filters, warnings.showwarning, warnings._showwarnmsg_impl) == before


def _named(value):
    return lambda: (value, threading.current_thread().name)


def test_gather_runs_the_named_calls_in_a_thread_and_keeps_the_results():
    out = _background.gather([("a", _named(1)), ("b", _named(2)), ("c", _named(3))], {"b"})
    assert {k: v[0] for k, v in out.items()} == {"a": 1, "b": 2, "c": 3}
    main = threading.current_thread().name
    assert out["a"][1] == main and out["c"][1] == main
    assert out["b"][1] == "parcours-beside"


@pytest.mark.parametrize("beside", [set(), {"a", "b"}, {"x"}])
def test_gather_without_a_split_runs_everything_in_the_caller(beside):
    out = _background.gather([("a", _named(1)), ("b", _named(2))], beside)
    assert {v[1] for v in out.values()} == {threading.current_thread().name}


def _fail(message):
    def f():
        raise ValueError(message)

    return f


@pytest.mark.parametrize(
    ("calls", "first"),
    [
        ([("a", _fail("a")), ("b", _fail("b"))], "a"),  # the caller's error comes first
        ([("b", _fail("b")), ("a", _fail("a"))], "b"),  # the thread's error comes first
        ([("a", _named(1)), ("b", _fail("b"))], "b"),
        ([("a", _fail("a")), ("b", _named(2))], "a"),
    ],
)
def test_gather_raises_the_first_error_in_the_calls_order(calls, first):
    with pytest.raises(ValueError, match=f"^{first}$"):
        _background.gather(calls, {"b"})


def test_gather_waits_for_the_thread_when_the_caller_fails():
    finished = []

    def slow():
        threading.Event().wait(0.2)
        finished.append(True)

    with pytest.raises(ValueError):
        _background.gather([("a", _fail("a")), ("b", slow)], {"b"})
    assert finished == [True]  # no thread left running after the error


def test_triangulate_raises_the_survey_error_from_its_thread(monkeypatch):
    import parcours_research as pr
    from parcours_research.errors import AnalysisError
    from parcours_research.friction import survey

    seen = []

    def broken(*args, **kwargs):
        seen.append(threading.current_thread().name)
        raise AnalysisError("the survey tests failed")

    monkeypatch.setattr(survey, "test_survey", broken)
    ev = pr.prepare(pr.load_study(pr.datasets.sample_dir()))
    with pytest.raises(AnalysisError, match="the survey tests failed"):
        pr.friction.triangulate(ev)
    assert seen == ["parcours-beside"]
