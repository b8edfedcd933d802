"""The report's figure writer never makes the report wait for a child (issue 20): figures
submitted while a child is busy are queued, the next child takes the whole queue, and at the
end the report's process writes queued figures itself while a child writes the others.

Whoever writes a figure, its files are those ``plot.save`` writes in process (the expected
bytes come from ``plot.save`` run in this test).
"""

from __future__ import annotations

import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

import parcours_research as pr
from parcours_research import _report_figures
from parcours_research._report_figures import FigureWriter, can_fork

pytestmark = pytest.mark.skipif(
    not can_fork(), reason="figures are written in process without fork"
)


def _figure(k: int):
    fig, ax = plt.subplots(layout="constrained")
    ax.plot([0, 1, 2], [1, 3 + k, 2])
    ax.set_title(f"figure {k}, a title long enough to move the layout")
    return fig


def _recording_save(monkeypatch, log_dir, gate=None):
    """``plot.save`` that notes which process wrote each figure; with ``gate``, a child
    waits for that file before writing (it stays busy until the test opens the gate)."""
    real = pr.plot.save
    parent = os.getpid()

    def save(fig, stem, **kw):
        if gate is not None and os.getpid() != parent:
            deadline = time.monotonic() + 60
            while not gate.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        (log_dir / f"{stem.name}.pid").write_text(str(os.getpid()))
        return real(fig, stem, **kw)

    monkeypatch.setattr(pr.plot, "save", save)


def _writers(log_dir, names) -> dict:
    return {n: int((log_dir / f"{n}.pid").read_text()) for n in names}


def test_figures_submitted_while_a_child_writes_are_queued_then_batched(tmp_path, monkeypatch):
    gate = tmp_path / "gate"
    _recording_save(monkeypatch, tmp_path, gate)
    writer = FigureWriter(background=True)
    for k in range(3):
        writer.submit(_figure(k), tmp_path / "out" / f"f{k}")
    assert len(writer._running) == 1 and len(writer._running[0].figures) == 1  # f0's child
    assert [stem.name for _, stem in writer._queue] == ["f1", "f2"]  # submit did not wait
    gate.touch()
    first = writer._running[0].pid
    while writer._queue:  # what the report does between sections, until f0's child ends
        writer.poll()
        time.sleep(0.01)
    # the queue went to one new child, both figures
    assert [j.pid for j in writer._running] != [first]
    if writer._running:  # (unless that child has already finished too)
        assert [stem.name for _, stem in writer._running[0].figures] == ["f1", "f2"]
    second = writer._running[0].pid if writer._running else None
    writer.wait()  # (this process may write f2, or f1 and f2, that the child has not begun)
    pids = _writers(tmp_path, ["f0", "f1", "f2"])
    assert pids["f0"] == first
    assert {pids["f1"], pids["f2"]} <= {second, os.getpid()}
    assert not list(tmp_path.rglob("*.claim"))


def test_at_the_end_the_report_writes_part_of_the_queue_itself(tmp_path, monkeypatch):
    gate = tmp_path / "gate"
    _recording_save(monkeypatch, tmp_path, gate)
    writer = FigureWriter(background=True)
    for k in range(5):
        writer.submit(_figure(k), tmp_path / "out" / f"f{k}")
    gate.touch()
    writer.wait()
    pids = _writers(tmp_path, [f"f{k}" for k in range(5)])
    assert pids["f4"] == os.getpid()  # the last queued one: written here, no fork for it
    assert pids["f0"] != os.getpid()
    assert not writer._queue and not writer._running
    for k in range(5):
        assert all(p.is_file() for p in writer.paths(tmp_path / "out" / f"f{k}"))


def test_queued_figures_are_those_written_in_process(tmp_path):
    writer = FigureWriter(background=True)
    figs = [_figure(k) for k in range(4)]
    got = [writer.submit(fig, tmp_path / "w" / f"f{k}") for k, fig in enumerate(figs)]
    writer.wait()
    assert not {f.number for f in figs} & set(plt.get_fignums())  # closed once written
    for k, paths in enumerate(got):
        expected = pr.plot.save(_figure(k), tmp_path / "here" / f"f{k}")
        assert paths[0].read_bytes() == expected[0].read_bytes()  # PNG: byte for byte
        svg, svg_here = paths[1].read_text(), expected[1].read_text()
        assert svg.count("<path") == svg_here.count("<path")


def test_a_batch_whose_child_fails_is_written_by_the_report(tmp_path, monkeypatch):
    parent = os.getpid()
    real = pr.plot.save

    def save(fig, stem, **kw):
        if os.getpid() != parent and stem.name == "f2":
            raise RuntimeError("the child fails on its second figure")
        return real(fig, stem, **kw)

    monkeypatch.setattr(pr.plot, "save", save)
    monkeypatch.setattr(_report_figures, "MAX_CHILDREN", 0)  # no child while submitting
    writer = FigureWriter(background=True)
    stems = [tmp_path / f"f{k}" for k in range(4)]
    for k, stem in enumerate(stems):
        writer.submit(_figure(k), stem)
    assert len(writer._queue) == 4
    monkeypatch.setattr(_report_figures, "MAX_CHILDREN", 1)
    writer.poll()  # one child for f0..f3; it fails at f2
    writer.wait()
    for stem in stems:
        assert all(p.is_file() and p.stat().st_size > 0 for p in writer.paths(stem))


def test_poll_without_background_does_nothing(tmp_path):
    writer = FigureWriter(background=False)
    paths = writer.submit(_figure(0), tmp_path / "f")
    writer.poll()
    writer.wait()
    assert all(p.is_file() for p in paths)


def test_no_full_collection_while_the_report_runs_and_thresholds_restored():
    import gc

    from parcours_research.report import _few_full_collections, build_report

    before = gc.get_threshold()
    with _few_full_collections():
        assert gc.get_threshold()[:2] == before[:2] and gc.get_threshold()[2] >= 1_000_000
    assert gc.get_threshold() == before
    with pytest.raises(ValueError), _few_full_collections():
        raise ValueError("a failing report")
    assert gc.get_threshold() == before
    assert build_report.__wrapped__.__name__ == "build_report"  # the decorator keeps the API


def test_no_child_is_forked_while_a_report_thread_works(tmp_path, monkeypatch):
    # a fork while another thread is inside OpenBLAS or DuckDB can leave the child (and that
    # thread) waiting for a lock forever: figures wait in the queue until the thread is done
    import threading

    from parcours_research import _background

    _recording_save(monkeypatch, tmp_path)
    release = threading.Event()
    job = _background.start(lambda: release.wait(30), "t-busy")
    writer = FigureWriter(background=True)
    writer.submit(_figure(0), tmp_path / "f0")
    writer.poll()
    assert writer._running == [] and len(writer._queue) == 1  # queued, no child
    release.set()
    assert job.settle(timeout=30)
    writer.poll()
    assert writer._queue == [] and len(writer._running) == 1  # the child takes it now
    child = writer._running[0].pid
    writer.wait()
    assert _writers(tmp_path, ["f0"])["f0"] in (child, os.getpid())  # whoever began it
    assert all(p.is_file() for p in writer.paths(tmp_path / "f0"))


def test_at_the_end_the_report_writes_the_figures_a_child_has_not_begun(tmp_path, monkeypatch):
    """The child begins with its first figure (and waits there until this process has written
    ``f1``); this process, idle at the end, claims and writes the last ones; each figure is
    written once, by one process, and no claim file is left."""
    out = tmp_path / "out"
    _recording_save(monkeypatch, tmp_path, gate=tmp_path / "f1.pid")
    monkeypatch.setattr(_report_figures, "MAX_CHILDREN", 0)  # no child while submitting
    writer = FigureWriter(background=True)
    for k in range(3):
        writer.submit(_figure(k), out / f"f{k}")
    monkeypatch.setattr(_report_figures, "MAX_CHILDREN", 1)
    writer.poll()  # one child for f0, f1, f2
    child = writer._running[0].pid
    deadline = time.monotonic() + 60
    while not (out / "f0.claim").exists() and time.monotonic() < deadline:
        time.sleep(0.01)  # the child has begun f0
    writer.wait()
    pids = _writers(tmp_path, ["f0", "f1", "f2"])
    assert pids == {"f0": child, "f1": os.getpid(), "f2": os.getpid()}
    for k in range(3):
        expected = pr.plot.save(_figure(k), tmp_path / "here" / f"f{k}")
        assert writer.paths(out / f"f{k}")[0].read_bytes() == expected[0].read_bytes()
    assert not list(tmp_path.rglob("*.claim"))
