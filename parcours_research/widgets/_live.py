"""Live refresh for the workshop apps: a daemon thread polls the shared rating store and calls
back when a rating was added by anyone (this kernel or another participant's)."""

from __future__ import annotations

import threading
from collections.abc import Callable

#: Seconds between two looks at the store.
POLL_SECONDS = 1.0


class Poller:
    """Call ``on_change()`` whenever ``version()`` returns a new value.

    Parameters
    ----------
    version : callable
        Returns a number that changes when the store changes (``RatingLog.version``).
    on_change : callable
        Called (from the polling thread) after a change.
    interval : float
        Seconds between two polls.
    """

    def __init__(self, version: Callable[[], int], on_change: Callable[[], None],
                 interval: float = POLL_SECONDS):
        self._version, self._on_change, self.interval = version, on_change, interval
        self.last = version()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Look once; call back and return True when the store changed."""
        now = self._version()
        if now == self.last:
            return False
        self.last = now
        self._on_change()
        return True

    def start(self) -> Poller:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="parcours-live", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # a store being replaced or a closed widget: try again later
                continue
