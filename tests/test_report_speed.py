"""The report's speed-ups change no result (issue 20): the event log read once into memory,
validate's one pass over the events, figures written by child processes and laid out once.

The expected values come from the code paths they replace, run in the same test: the lazy
file view (every pass reads the file) and ``plot.save`` in process.
"""

from __future__ import annotations

import os
import shutil

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

import parcours_research as pr
from parcours_research import evidence
from parcours_research._report_figures import FigureWriter, can_fork
from parcours_research.checks import validate

SAMPLE = pr.datasets.sample_dir()


def _study(tmp_path):
    shutil.copytree(SAMPLE, tmp_path / "study")
    return tmp_path / "study"


def _read_into_memory(log) -> bool:
    """Whether the log's file view reads a table (the file read once) rather than the file:
    the kept table ``_pr_read_*``, directly or through the view that numbers its rows
    (``_pr_kept_*``, when the file was read on every core)."""
    sql = log.engine.con.execute(
        "SELECT sql FROM duckdb_views() WHERE view_name = ?", [log._origin["src"]]
    ).fetchall()[0][0]
    return ("_pr_read" in sql or "_pr_kept" in sql) and "read_csv" not in sql


def test_log_read_once_gives_the_same_validation_and_cleaning(tmp_path, monkeypatch):
    root = _study(tmp_path)
    kept = validate(root)
    log = evidence.raw_events(kept.study)
    assert _read_into_memory(log)
    ev = pr.prepare(kept.study)
    # the lazy view: every pass reads the file
    monkeypatch.setattr(evidence, "_keep_read", lambda log, study: None)
    lazy = validate(root)
    assert not _read_into_memory(evidence.raw_events(lazy.study))
    ev_lazy = pr.prepare(lazy.study)
    assert kept.sources.equals(lazy.sources) and kept.summary.equals(lazy.summary)
    assert ev.traces.cleaning.summary.equals(ev_lazy.traces.cleaning.summary)
    assert ev.traces.conflicts.equals(ev_lazy.traces.conflicts)
    cols = ["row_id", "user_id", "session_id", "touchpoint", "persona"]
    a = ev.traces.log.to_pandas()[cols].sort_values("row_id", ignore_index=True)
    b = ev_lazy.traces.log.to_pandas()[cols].sort_values("row_id", ignore_index=True)
    assert a.equals(b)


def test_large_or_remote_logs_stay_lazy(tmp_path, monkeypatch):
    monkeypatch.setattr(evidence, "KEEP_READ_BYTES", 10)  # any real file is over it
    v = validate(_study(tmp_path))
    assert not _read_into_memory(evidence.raw_events(v.study))


def _figure():
    fig, ax = plt.subplots(layout="constrained")
    ax.plot([0, 1, 2], [1, 3, 2])
    ax.set_title("a title long enough to move the layout")
    ax.set_ylabel("share of customers")
    return fig


@pytest.mark.skipif(not can_fork(), reason="figures are written in process without fork")
def test_figures_written_by_a_child_are_those_written_in_process(tmp_path):
    writer = FigureWriter(background=True)
    paths = writer.submit(_figure(), tmp_path / "child" / "f")
    writer.wait()
    expected = pr.plot.save(_figure(), tmp_path / "here" / "f")
    assert [p.name for p in paths] == [p.name for p in expected] == ["f.png", "f.svg"]
    assert paths[0].read_bytes() == expected[0].read_bytes()  # PNG: byte for byte
    assert paths[1].read_text().count("<path") == expected[1].read_text().count("<path")


@pytest.mark.skipif(not can_fork(), reason="figures are written in process without fork")
def test_a_failing_child_leaves_the_figure_to_the_report(tmp_path, monkeypatch):
    parent = os.getpid()
    real = pr.plot.save

    def save(fig, stem, **kw):
        if os.getpid() != parent:
            raise RuntimeError("the child fails")
        return real(fig, stem, **kw)

    monkeypatch.setattr(pr.plot, "save", save)
    writer = FigureWriter(background=True)
    paths = writer.submit(_figure(), tmp_path / "f")
    writer.wait()
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)


def test_save_lays_out_once_and_keeps_the_figure_layout(tmp_path):
    fig = _figure()
    engine = fig.get_layout_engine()
    paths = pr.plot.save(fig, tmp_path / "f")
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert fig.get_layout_engine() is engine  # shown later, the figure lays itself out again
