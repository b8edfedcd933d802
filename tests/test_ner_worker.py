"""The named-entity model in a worker process (``_ner_worker``): the report starts it with
``preload`` so that spaCy's load runs on another core. It must find exactly the persons the
in-process backend finds (the expected spans come from ``NerBackend`` loaded in this process,
with no worker), fall back to loading in process when the worker fails, and say the same thing
when the model is missing."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import parcours_research.privacy_scrub as ps
from parcours_research._ner_worker import NerWorker
from parcours_research.errors import ParcoursWarning

CORPUS = Path(__file__).resolve().parent / "data" / "privacy" / "corpus.jsonl"
MODEL = ps.SPACY_MODELS["fr"]


def _texts() -> list[str]:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]
    return [r["text"] for r in rows if r["language"] == "fr"][:120]


@pytest.fixture
def fresh(monkeypatch):
    """No backend, pipeline or worker left over from another test."""
    for name in ("_BACKENDS", "_NLP", "_PRELOADING", "_WORKERS"):
        monkeypatch.setattr(ps, name, {})
    monkeypatch.delenv("PARCOURS_NER_WORKER", raising=False)
    yield
    for worker in ps._WORKERS.values():
        worker.close()


@pytest.fixture(scope="module")
def local_spans():
    pytest.importorskip("spacy")
    pytest.importorskip(MODEL)
    backend = ps.NerBackend("fr")  # loaded in this process: the reference
    assert backend.available
    return backend.detector, backend.spans(_texts())


def test_the_worker_finds_the_same_persons(fresh, local_spans):
    detector, expected = local_spans
    ps.preload("fr")
    assert "fr" in ps._WORKERS  # the report's preload starts a worker, not a thread
    assert not ps._PRELOADING
    backend = ps.ner_backend("fr")
    assert backend.detector == detector
    assert backend.spans(_texts()) == expected
    assert any(expected)  # the corpus has names: the comparison is not between empty lists


def test_the_worker_can_be_turned_off(fresh, local_spans, monkeypatch):
    monkeypatch.setenv("PARCOURS_NER_WORKER", "0")
    ps.preload("fr")
    assert not ps._WORKERS and MODEL in ps._PRELOADING  # the thread of 0.4.1
    assert ps.ner_backend("fr").spans(_texts()) == local_spans[1]


def test_a_worker_that_stops_is_replaced_by_the_model_in_process(fresh, local_spans):
    ps.preload("fr")
    backend = ps.ner_backend("fr")
    ps._WORKERS["fr"]._proc.kill()  # the worker dies after loading
    ps._WORKERS["fr"]._proc.wait()
    assert backend.spans(_texts()) == local_spans[1]
    assert "fr" not in ps._WORKERS


def test_a_worker_that_never_answers_is_not_waited_for(fresh, local_spans, monkeypatch):
    ps.preload("fr")
    worker = ps._WORKERS["fr"]
    worker._proc.kill()
    worker._proc.wait()
    assert worker.hello(timeout=1) is None
    assert ps.ner_backend("fr").spans(_texts()[:20]) == local_spans[1][:20]


def test_a_worker_that_cannot_start_leaves_the_model_to_the_process(
    fresh, local_spans, monkeypatch
):
    """The report calls preload while it validates the study: a process that cannot be
    started (no memory, a limit on processes) must not fail the report."""
    import parcours_research._ner_worker as nw

    def refuse(*args, **kwargs):
        raise OSError(11, "Resource temporarily unavailable")

    with monkeypatch.context() as m:
        m.setattr(nw.subprocess, "Popen", refuse)
        ps.preload("fr")
    assert not ps._WORKERS and not ps._PRELOADING
    assert ps.ner_backend("fr").spans(_texts()[:20]) == local_spans[1][:20]


def test_a_missing_model_is_said_the_same_way(fresh, monkeypatch):
    pytest.importorskip("spacy")
    models = {"fr": "no_such_model_fr", "en": "no_such_model_en"}
    worker = NerWorker("fr", models)  # preload would not start one for a missing model
    try:
        detector, missing = worker.hello()
    finally:
        worker.close()
    monkeypatch.setattr(ps, "SPACY_MODELS", models)
    local = ps.NerBackend("fr")
    assert (detector, missing) == (local.detector, local.missing)
    assert detector == "none" and "no_such_model_fr is not installed" in missing
    ps._WORKERS["fr"] = NerWorker("fr", models)
    with pytest.warns(ParcoursWarning, match="no_such_model_fr is not installed"):
        backend = ps.ner_backend("fr")
    assert not backend.available and backend.spans(["Sophie Martin"]) == [[]]


def test_the_protocol_carries_any_text(fresh, local_spans):
    """Quotes, newlines, non-Latin letters and an empty text round-trip through JSON lines."""
    ps.preload("fr")
    texts = ['Il a dit "Paul Durand"\nà la ligne', "Ŝtefan — ça «marche»", "", "\u2028Zoé Roux"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        remote = ps.ner_backend("fr").spans(texts)
    ps._WORKERS.clear()
    ps._BACKENDS.clear()
    assert remote == ps.NerBackend("fr").spans(texts)
