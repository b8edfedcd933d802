"""The named-entity model in a process of its own, started by the report.

Loading spaCy's French pipeline costs about 3 s of pure-Python work (compiling its tokenizer's
regular expressions). In a thread of the report it holds the interpreter lock, and the report
waits as long as the load takes. The report starts this worker instead: the model loads on
another core while the traces are read, and the report's
:class:`~parcours_research.privacy_scrub.NerBackend` sends it the texts to scan. The worker runs
the same backend code as the report would in process, so it finds the same persons.

Protocol (one JSON document per line, UTF-8). The worker writes ``{"detector": ..., "missing":
...}`` once its model is loaded; then, for each line ``["text", ...]`` read on its standard
input, it writes ``[[[start, end, entity, detector], ...], ...]`` (one list of spans per text). It
leaves when its standard input closes, which happens when the report's process ends.

``PARCOURS_NER_WORKER=0`` turns the worker off (the model then loads in a thread, as before
0.4.2).
"""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import threading

#: seconds to wait for the worker's model before loading it in process instead
HELLO_TIMEOUT = 120.0


def enabled() -> bool:
    """Whether the report may start a worker (``PARCOURS_NER_WORKER`` is not ``"0"``)."""
    return os.environ.get("PARCOURS_NER_WORKER", "1") != "0"


class NerWorker:
    """A worker process holding the named-entity backend of one language.

    Parameters
    ----------
    language : str
        The study's language (``"fr"``, ``"en"``).
    models : dict
        The spaCy pipeline per language (:data:`~.privacy_scrub.SPACY_MODELS`), passed on so
        that the worker looks for the same model as the report.
    """

    def __init__(self, language: str, models: dict[str, str]):
        env = {**os.environ, "PARCOURS_NER_WORKER": "0", "PARCOURS_COMPILE_HELPER": "0"}
        cmd = [sys.executable, "-m", "parcours_research._ner_worker", language, json.dumps(models)]
        self.language = language
        self.models = dict(models)
        self._lock = threading.Lock()
        self._hello: tuple[str, str] | None = None
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            encoding="utf-8",
        )

    def hello(self, timeout: float = HELLO_TIMEOUT) -> tuple[str, str] | None:
        """``(detector, missing)`` once the worker's model is loaded; None when the worker
        failed or did not answer within ``timeout`` seconds (it is then stopped)."""
        with self._lock:
            if self._hello is None and self._proc.poll() is None:
                ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
                line = self._proc.stdout.readline() if ready else ""
                try:
                    head = json.loads(line)
                    self._hello = (str(head["detector"]), str(head["missing"]))
                except (ValueError, KeyError, TypeError):
                    self._stop()
            return self._hello

    def analyze(self, texts: list[str]) -> list[list[tuple]]:
        """The persons in each text, as ``(start, end, entity, detector)`` tuples.

        Raises
        ------
        RuntimeError
            When the worker has stopped (the caller then scans the texts in process).
        """
        with self._lock:
            try:
                self._proc.stdin.write(json.dumps(texts, ensure_ascii=False) + "\n")
                self._proc.stdin.flush()
                line = self._proc.stdout.readline()
                found = json.loads(line) if line else None
            except (OSError, ValueError):
                found = None
            if found is None or len(found) != len(texts):
                self._stop()
                raise RuntimeError("the named-entity worker stopped")
            return [[tuple(s) for s in doc] for doc in found]

    def close(self) -> None:
        """End the worker (closing its input; killed if it does not leave at once)."""
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        try:
            self._proc.stdin.close()
            self._proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()


def _serve(language: str, models: dict[str, str]) -> None:
    """The worker's loop: load the backend, say what it uses, then answer each line."""
    import warnings

    from . import privacy_scrub as ps

    proto = os.fdopen(os.dup(1), "w", encoding="utf-8")  # the protocol's own copy of stdout
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the protocol
    sys.stdout = sys.stderr
    ps.SPACY_MODELS = dict(models)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backend = ps.NerBackend(language)
    proto.write(json.dumps({"detector": backend.detector, "missing": backend.missing}) + "\n")
    proto.flush()
    for line in io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8"):  # whatever the locale
        texts = json.loads(line)
        spans = backend.spans(texts)
        rows = [[[s.start, s.end, s.entity, s.detector] for s in doc] for doc in spans]
        proto.write(json.dumps(rows, ensure_ascii=False) + "\n")
        proto.flush()


if __name__ == "__main__":  # pragma: no cover - run as a worker process (tests drive it)
    _serve(sys.argv[1], json.loads(sys.argv[2]))
