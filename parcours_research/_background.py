"""Work started in a thread while the caller goes on, joined with the warnings state repaired.

The report prepares the event log in a thread while the survey's sections run
(:func:`parcours_research.report._write_report`). Both threads run pandas, and pandas enters
``warnings.catch_warnings`` all the time (``pandas_dtype``; ``align`` even records). In Python
3.11 that context manager swaps process-wide state and restores it on exit, so two threads
entering and leaving it out of order can leave a dead recorder installed as the way warnings
are shown: every later warning of the process would then vanish. :meth:`Background.settle`
joins the thread, then puts back the functions that show warnings and the filter list as they
were when the work started, if they were swapped meanwhile. The caller settles at a point where
it is in no ``catch_warnings`` of its own that it entered after :func:`start`.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable

#: the work running now (a set of :class:`Background`); see :func:`busy`
_RUNNING: set = set()


def busy() -> bool:
    """Whether some work of this module is running in a thread. The report's figure writer
    does not fork then: a child forked while another thread is inside OpenBLAS or the
    engine can inherit a lock that nobody will release (the figures wait in its queue)."""
    return bool(_RUNNING)


class Background:
    """A call running in a daemon thread; see the module."""

    def __init__(self, work: Callable[[], object], name: str):
        self._state = _warning_state()
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self.error: BaseException | None = None
        _RUNNING.add(self)
        self._thread.start()

    def _run(self, work: Callable[[], object]) -> None:
        try:
            work()
        except BaseException as e:  # noqa: BLE001 - kept for the caller, who decides
            self.error = e
        finally:
            _RUNNING.discard(self)

    def settle(self, timeout: float | None = None) -> bool:
        """Wait for the work (at most ``timeout`` seconds), then repair the warnings state.
        True when the work has ended."""
        self._thread.join(timeout)
        _restore(self._state)
        return not self._thread.is_alive()


def start(work: Callable[[], object], name: str) -> Background:
    """Run ``work()`` in a daemon thread named ``name``; its exception is kept in ``.error``."""
    return Background(work, name)


def _warning_state() -> tuple:
    return warnings.filters, warnings.showwarning, warnings._showwarnmsg_impl


def _restore(state: tuple) -> None:
    filters, show, impl = state
    if warnings.showwarning is not show or warnings._showwarnmsg_impl is not impl:
        warnings.showwarning, warnings._showwarnmsg_impl = show, impl
    if warnings.filters is not filters:
        warnings.filters = filters
        warnings._filters_mutated()


def gather(calls: list[tuple[str, Callable[[], object]]], beside: set[str]) -> dict:
    """Run ``calls`` (``(key, function)`` pairs) and return ``{key: result}``: those named in
    ``beside`` one after the other in a thread, the others in the caller meanwhile. Every call
    runs to its end; then the first exception in ``calls``' order is raised, as if they had
    run one after the other (which they do when ``beside`` names none or all of them)."""
    side = [(k, f) for k, f in calls if k in beside]
    if not side or len(side) == len(calls):
        return {k: f() for k, f in calls}
    out: dict = {}
    errors: dict = {}

    def run_side() -> None:
        for k, f in side:
            try:
                out[k] = f()
            except Exception as e:  # noqa: BLE001 - raised below, in the calls' order
                errors[k] = e

    job = start(run_side, "parcours-beside")
    try:
        for k, f in calls:
            if k not in beside:
                try:
                    out[k] = f()
                except Exception as e:  # noqa: BLE001 - raised below, in the calls' order
                    errors[k] = e
    finally:
        job.settle()
    for k, _ in calls:
        if k in errors:
            raise errors[k]
    return out
