"""The report's validation in two steps (``checks.PendingValidation``): the event log's pass
over its rows (kept in the engine's memory, counted by event name) runs in the thread that then
prepares the log, while the survey's sections run. What it finds must be exactly what
``validate`` finds (the reference here: the same study, validated in one go by the public
function), and a report of a study with problems must fail with the same error as before,
whatever else failed meanwhile.
"""

from __future__ import annotations

import dataclasses
import gzip
import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest
import yaml

import parcours_research as pr
from parcours_research import report as rep
from parcours_research.checks import PendingValidation
from parcours_research.errors import StudyError

EVENTS = "traces/events.csv.gz"
HEADER = b"device_id,customer_id,ts,event_name,user_agent,page\n"


@pytest.fixture
def study(small_study_template, tmp_path) -> Path:
    d = tmp_path / "study"
    shutil.copytree(small_study_template, d)
    return d


def _edit(d: Path, change) -> None:
    p = d / "study.yml"
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    change(data)
    p.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _header_only(d: Path) -> None:
    (d / EVENTS).write_bytes(gzip.compress(HEADER))


def _zero_byte(d: Path) -> None:
    (d / EVENTS).write_bytes(b"")


def _bad_timestamps(d: Path) -> None:
    """A tenth of the rows with a timestamp nobody can read (a warning of the log's check)."""
    lines = gzip.decompress((d / EVENTS).read_bytes()).decode().splitlines(keepends=True)
    head, rows = lines[0], lines[1:]
    cols = head.rstrip("\n").split(",")
    at = cols.index("ts")
    for i in range(0, len(rows), 10):
        parts = rows[i].rstrip("\n").split(",")
        parts[at] = "not a time"
        rows[i] = ",".join(parts) + "\n"
    (d / EVENTS).write_bytes(gzip.compress((head + "".join(rows)).encode()))


def _unmapped(d: Path) -> None:
    _edit(
        d,
        lambda y: [t.__setitem__("events", []) for t in y["touchpoints"] if t["id"] == "app_usage"],
    )


def _broken_identity(d: Path) -> None:
    (d / "traces/identity.csv").write_bytes(b"\xff\xfe\x00garbage\x00\n\x00")


def _no_traces(d: Path) -> None:
    _edit(d, lambda y: y.pop("traces"))


def _broken_survey(d: Path) -> None:
    (d / "survey/responses.csv").write_text("respondent_id\n", encoding="utf-8")


CASES = {
    "as_is": [],
    "unmapped_events": [_unmapped],
    "bad_timestamps": [_bad_timestamps],
    "header_only_then_identity": [_header_only, _broken_identity],
    "zero_byte_log": [_zero_byte],
    "survey_and_log": [_broken_survey, _header_only, _unmapped],
    "no_traces": [_no_traces],
}


def _same(got, want) -> None:
    pd.testing.assert_frame_equal(got.summary, want.summary)
    pd.testing.assert_frame_equal(got.sources, want.sources)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(
    "in_thread", [True, False], ids=["counted_in_a_thread", "counted_at_the_end"]
)
def test_the_pending_validation_is_validate(study, case, in_thread):
    for change in CASES[case]:
        change(study)
    want = pr.validate(study)  # the reference: the public function, in one go
    pending = PendingValidation(study)
    if in_thread:  # as the report runs it
        errors = []

        def count():
            try:
                pending.count_events()
            except Exception as e:  # noqa: BLE001 - found again by result()
                errors.append(e)

        t = threading.Thread(target=count)
        t.start()
        t.join()
    got = pending.result()
    _same(got, want)
    assert pending.result() is got  # computed once
    if case != "as_is":  # the cases are what they say: each has a problem
        assert len(want.summary) or "absent" in set(want.sources["status"])


def test_errors_known_at_once_stop_the_report_before_any_section(study, tmp_path, monkeypatch):
    assert not PendingValidation(study).errors_so_far
    _broken_survey(study)
    assert PendingValidation(study).errors_so_far
    ran = []
    monkeypatch.setattr(rep, "_write_report", lambda *a, **k: ran.append(a))
    with pytest.raises(StudyError) as err:
        rep.build_report(study, tmp_path / "r", n_boot=200, progress=False)
    assert [p.message for p in err.value.problems] == [
        p.message for p in pr.validate(study).problems("error")
    ]
    assert ran == [] and not (tmp_path / "r").exists()


@pytest.fixture
def sample(sample_dir, tmp_path) -> Path:
    """The kit's sample study (its survey is large enough for every section)."""
    d = tmp_path / "sample"
    shutil.copytree(sample_dir, d)
    return d


def test_a_report_of_a_log_with_problems_fails_as_validate_does(sample, tmp_path):
    study = sample
    _header_only(study)
    want = pr.validate(study)
    out = tmp_path / "report"
    with pytest.raises(StudyError) as err:
        rep.build_report(study, out, n_boot=200, progress=False)
    assert [p.message for p in err.value.problems] == [p.message for p in want.problems("error")]
    assert "holds no event" in str(err.value)
    assert not out.exists()  # nothing half written


def test_the_study_problems_come_before_a_section_that_failed(study, tmp_path, monkeypatch):
    """A survey section that fails while the log is counted: with a log that has problems, the
    report raises the study's problems (as when validate ran before everything), and the
    section's error is kept as their context; with a sound log, the section's error."""

    def broken(ctx, sec):
        raise RuntimeError("a section failed")

    monkeypatch.setattr(
        rep, "SECTIONS", [(s, broken if s == "scores" else f) for s, f in rep.SECTIONS]
    )
    with pytest.raises(RuntimeError, match="a section failed"):
        rep.build_report(study, tmp_path / "a", n_boot=200, progress=False)
    _header_only(study)
    with pytest.raises(StudyError, match="holds no event") as err:
        rep.build_report(study, tmp_path / "b", n_boot=200, progress=False)
    assert isinstance(err.value.__context__, RuntimeError)


def test_the_log_is_counted_in_the_thread_that_prepares_it(sample, tmp_path, monkeypatch):
    seen = []
    count = PendingValidation.count_events

    def spy(self):
        seen.append(threading.current_thread().name)
        return count(self)

    monkeypatch.setattr(PendingValidation, "count_events", spy)
    res = rep.build_report(sample, tmp_path / "r", n_boot=200, progress=False)
    assert seen == ["parcours-traces"]
    assert res.path.exists()


def test_loaded_is_called_with_the_study_before_any_source_is_checked(study, monkeypatch):
    import parcours_research.checks as checks

    order = []
    monkeypatch.setattr(
        checks,
        "CHECKS",
        [(src, lambda r, src=src, f=f: (order.append(src), f(r))[1]) for src, f in checks.CHECKS],
    )
    pending = PendingValidation(study, loaded=lambda s: order.append(("loaded", s.name)))
    assert order[0] == ("loaded", pending.study.name)
    assert order[1:] == [src for src, _ in checks.CHECKS if src != "events"]  # (left for later)
    _same(pending.result(), pr.validate(study))  # the hook changes nothing found


def test_loaded_is_not_called_when_study_yml_is_broken(study):
    (study / "study.yml").write_text("journey: [\n", encoding="utf-8")
    called = []
    pending = PendingValidation(study, loaded=called.append)
    assert pending.study is None and called == []
    assert pending.result().problems("error")


def test_the_report_starts_the_name_model_before_validating(study, tmp_path, monkeypatch):
    """The name model (a worker process) loads while the study is validated, not after."""
    import parcours_research.checks as checks
    import parcours_research.privacy_scrub as ps

    events = []
    monkeypatch.setattr(ps, "preload", lambda lang: events.append(("preload", lang)))
    monkeypatch.setattr(
        checks,
        "CHECKS",
        [(src, lambda r, src=src, f=f: (events.append(src), f(r))[1]) for src, f in checks.CHECKS],
    )
    monkeypatch.setattr(rep, "_write_report", lambda *a, **k: (_ for _ in ()).throw(KeyError))
    with pytest.raises(KeyError):
        rep.build_report(study, tmp_path / "r", n_boot=200, progress=False)
    assert events[0] == ("preload", pr.load_study(study).journey.language)
    assert events[1] == checks.CHECKS[0][0]


def test_no_name_model_for_a_study_without_free_text(study, monkeypatch):
    study_obj = pr.load_study(study)
    assert rep._has_free_text(study_obj)  # the template has interviews
    study_obj.qual = None
    study_obj.instrument = dataclasses.replace(
        study_obj.instrument,
        questions=tuple(q for q in study_obj.instrument.questions if q.type != "text"),
    )
    started = []
    monkeypatch.setattr("parcours_research.privacy_scrub.preload", started.append)
    rep._preload_names(study_obj)
    assert started == []


def test_open_survey_answers_are_known_from_study_yml_alone(study):
    """The report asks before the responses are read: a survey with open questions has free
    text to scrub even when no response is loaded yet (``_has_free_text`` looked at the
    responses before the name model started early)."""
    study_obj = pr.load_study(study, read_responses=False)
    study_obj.qual = None
    assert study_obj.responses is None
    assert any(q.type == "text" for q in study_obj.instrument.questions)
    assert rep._has_free_text(study_obj)
