"""The report's figures, written while the next sections compute (private).

Writing a figure (PNG, then SVG: :func:`parcours_research.plot.save`) costs about a quarter
of a report's time, all of it in matplotlib, which holds the GIL: a thread would not help.
On Linux each figure is written by a forked child process instead, which starts with the
figure already in its memory (no pickling) and ends as soon as its files are written; the
report goes on with its next section meanwhile, on the other core. At most
:data:`MAX_CHILDREN` children run at once. The files are those :func:`~.plot.save` writes in
process: the child runs that same function.

Anything unusual falls back to writing the figure in process, so the files are always
written: no ``fork`` on the platform, a child that fails or does not finish within
:data:`CHILD_TIMEOUT` seconds, a file missing afterwards.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

#: figures written at once by child processes (the report's own process draws the next ones)
MAX_CHILDREN = 1
#: seconds a child may take before the figure is written in process instead
CHILD_TIMEOUT = 120.0
FORMATS = ("png", "svg")


def can_fork() -> bool:
    """Whether figures are written by child processes (Linux, where ``fork`` is cheap and
    safe for matplotlib's Agg and SVG backends)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class FigureWriter:
    """Writes figures as PNG and SVG, in child processes when it can (see the module)."""

    def __init__(self, background: bool | None = None):
        self.background = can_fork() if background is None else background
        self._running: list[tuple[int, float, object, Path]] = []
        self._ready = False

    def paths(self, stem: Path) -> list[Path]:
        """The files written for ``stem`` (those :func:`~.plot.save` names)."""
        return [stem.with_name(f"{stem.name}.{fmt}") for fmt in FORMATS]

    def submit(self, fig, stem: Path) -> list[Path]:
        """Write ``fig`` as ``stem.png`` and ``stem.svg``, now or by a child; :meth:`wait`
        makes sure they are written. The figure is closed once written."""
        stem.parent.mkdir(parents=True, exist_ok=True)
        if not self.background:
            return self._in_process(fig, stem)
        self._prepare()
        while len(self._running) >= MAX_CHILDREN:
            self._reap(self._running.pop(0))
        with warnings.catch_warnings():  # Python 3.12+ warns about fork in a threaded process
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: write, then leave at once (no clean-up of the parent's state)
            code = 1
            try:
                from .plot import save

                save(fig, stem, formats=FORMATS)
                code = 0
            finally:
                os._exit(code)
        self._running.append((pid, time.monotonic(), fig, stem))
        return self.paths(stem)

    def wait(self) -> None:
        """Wait for every figure under way (writing in process any a child did not write)."""
        while self._running:
            self._reap(self._running.pop(0))

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

    def _reap(self, job) -> None:
        pid, started, fig, stem = job
        status = None
        while status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw)
            elif time.monotonic() - started > CHILD_TIMEOUT:
                _kill(pid)
                status = -1
            else:
                time.sleep(0.005)
        if status != 0 or not all(p.is_file() for p in self.paths(stem)):
            self._in_process(fig, stem)  # the same files, written here
            return
        import matplotlib.pyplot as plt

        plt.close(fig)


def _kill(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
