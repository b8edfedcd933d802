"""The report's figures, written while the next sections compute (private).

Writing a figure (PNG, then SVG: :func:`parcours_research.plot.save`) costs about a quarter
of a report's CPU, all of it in matplotlib, which holds the GIL: a thread would not help.
On Linux the figures are written by forked child processes instead, which start with the
figures already in their memory (no pickling) and end as soon as their files are written;
the report goes on with its next section meanwhile, on the other core. The files are those
:func:`~.plot.save` writes in process: the child runs that same function.

The report never waits for a child while it has sections to run. A figure submitted while a
child is busy joins a queue; the next child (at most :data:`MAX_CHILDREN` at once) takes the
whole queue when the busy one has finished, which the report checks at every figure and
between sections (:meth:`FigureWriter.poll`). One fork for several figures also costs less:
forking a process that holds a study copies its page tables (tens of milliseconds). At the
end (:meth:`FigureWriter.wait`) the report's process, idle by then, writes queued figures
itself while a child writes the others, then the last figures of a running child that the
child has not begun (each figure is claimed by whichever process begins it, :func:`_claim`).

Anything unusual falls back to writing the figure in process, so the files are always
written: no ``fork`` on the platform, a child that fails or does not finish within
:data:`CHILD_TIMEOUT` seconds a figure, a file missing afterwards.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

#: figures written at once by child processes (the report's own process draws the next ones)
MAX_CHILDREN = 1
#: seconds a child may take per figure before its figures are written in process instead
CHILD_TIMEOUT = 120.0
FORMATS = ("png", "svg")


def can_fork() -> bool:
    """Whether figures are written by child processes (Linux, where ``fork`` is cheap and
    safe for matplotlib's Agg and SVG backends)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


@dataclass
class _Job:
    """A child process writing ``figures`` (``(fig, stem)`` pairs, in order)."""

    pid: int
    started: float
    figures: list = field(default_factory=list)


def _threads_busy() -> bool:
    """Whether the report's own threads are at work (no fork then; see ``_background.busy``)."""
    from ._background import busy

    return busy()


class FigureWriter:
    """Writes figures as PNG and SVG, in child processes when it can (see the module)."""

    def __init__(self, background: bool | None = None):
        self.background = can_fork() if background is None else background
        self._queue: list[tuple[object, Path]] = []  # submitted, no child has them yet
        self._running: list[_Job] = []
        self._ready = False

    def paths(self, stem: Path) -> list[Path]:
        """The files written for ``stem`` (those :func:`~.plot.save` names)."""
        return [stem.with_name(f"{stem.name}.{fmt}") for fmt in FORMATS]

    def submit(self, fig, stem: Path) -> list[Path]:
        """Write ``fig`` as ``stem.png`` and ``stem.svg``, now or by a child; :meth:`wait`
        makes sure they are written. The figure is closed once written. Never waits for a
        child: a figure submitted while the children are busy is queued."""
        stem.parent.mkdir(parents=True, exist_ok=True)
        if not self.background:
            return self._in_process(fig, stem)
        self._queue.append((fig, stem))
        self.poll()
        return self.paths(stem)

    def poll(self) -> None:
        """Collect the children that have finished, and give the queued figures to a new
        child when one may start. Returns at once."""
        if not self.background:
            return
        self._collect(block=False)
        if self._queue and len(self._running) < MAX_CHILDREN and not _threads_busy():
            self._start(self._queue)
            self._queue = []

    def wait(self) -> None:
        """Write every figure submitted: the queued ones here (this process has nothing
        else to do) while a child writes the others, then wait for the children (writing in
        process any figure a child did not write)."""
        while self._queue:
            self._collect(block=False)
            if len(self._running) < MAX_CHILDREN and len(self._queue) > 1 and not _threads_busy():
                half = len(self._queue) // 2  # the child takes the first half, we the rest
                self._start(self._queue[:half])
                del self._queue[:half]
            self._in_process(*self._queue.pop())
        while self._running:
            if self._help():
                self._collect(block=False)
            else:
                self._collect(block=True)

    def _help(self) -> bool:
        """Write here the last figure of a running child that nobody has begun (see
        :func:`_claim`): the child writes its figures from the first, this process from the
        last, so both cores work to the end. False when none is left."""
        for job in reversed(self._running):
            for fig, stem in reversed(job.figures):
                if _claim(stem):
                    self._in_process(fig, stem)
                    return True
        return False

    # ---- internals -------------------------------------------------------------------------
    def _in_process(self, fig, stem: Path) -> list[Path]:
        import matplotlib.pyplot as plt

        from .plot import save

        try:
            return save(fig, stem, formats=FORMATS)
        finally:
            plt.close(fig)

    def _prepare(self) -> None:
        """Import what writing needs before the first fork, so that a child imports nothing
        (another thread of the report may hold an import lock when it forks)."""
        if self._ready:
            return
        import io

        from matplotlib.figure import Figure

        from . import plot  # noqa: F401

        for fmt in FORMATS:  # a tiny figure written once loads every module a save needs
            Figure(figsize=(0.1, 0.1)).savefig(io.BytesIO(), format=fmt)

        self._ready = True

    def _start(self, figures: list) -> None:
        """Fork a child that writes ``figures`` one after the other."""
        self._prepare()
        with warnings.catch_warnings():  # Python 3.12+ warns about fork in a threaded process
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: write, then leave at once (no clean-up of the parent's state)
            code = 1
            try:
                from .plot import save

                for fig, stem in figures:
                    if _claim(stem):  # else the report's process has written it
                        save(fig, stem, formats=FORMATS)
                code = 0
            finally:
                os._exit(code)
        self._running.append(_Job(pid, time.monotonic(), list(figures)))

    def _collect(self, *, block: bool) -> None:
        """Finish the jobs whose child has ended (with ``block``, at least the oldest)."""
        for job in list(self._running):
            status = _status(job, wait=block and job is self._running[0])
            if status is None:
                continue
            self._running.remove(job)
            self._finish(job, status)

    def _finish(self, job: _Job, status: int) -> None:
        import matplotlib.pyplot as plt

        for fig, stem in job.figures:
            _claimed(stem).unlink(missing_ok=True)
            if status != 0 or not all(p.is_file() for p in self.paths(stem)):
                self._in_process(fig, stem)  # the same files, written here
            else:
                plt.close(fig)


def _claimed(stem: Path) -> Path:
    return stem.with_name(f"{stem.name}.claim")


def _claim(stem: Path) -> bool:
    """Claim the writing of a child's figure ``stem``: True for the first process that asks
    (the file ``stem.claim`` created exclusively), False for the other. The report's process
    removes the file when the child has ended (:meth:`FigureWriter._finish`)."""
    try:
        os.close(os.open(_claimed(stem), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    return True


def _status(job: _Job, *, wait: bool) -> int | None:
    """The exit code of ``job``'s child (-1: killed after its time), or None while it runs
    (with ``wait``, wait for it)."""
    limit = job.started + CHILD_TIMEOUT * max(1, len(job.figures))
    while True:
        done, raw = os.waitpid(job.pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(raw)
        if time.monotonic() > limit:
            _kill(job.pid)
            return -1
        if not wait:
            return None
        time.sleep(0.002)


def _kill(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
