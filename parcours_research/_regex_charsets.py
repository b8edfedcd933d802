"""Each distinct character class of a regular expression optimised once (private).

spaCy's French tokenizer builds one pattern of 1.4 million characters (``TOKEN_MATCH`` of
``spacy.lang.fr.tokenizer_exceptions``): about 230 alternatives, most repeating the same
class of every Unicode letter. Python's compiler optimises each occurrence of a class anew
(``re._compiler._optimize_charset``, pure Python over every code point of the class): about
2.5 s of the 3-4 s that loading the French pipeline takes, for the same few hundred results.

:func:`shared_charsets` memoises that function for the duration of a block: the same class
(and case handling) gives the same optimised class, which the compiler then emits as before.
It is a pure function of its arguments (the class, and the case-folding functions and table
the compiler passes, compared by identity), so the compiled program is the one Python would
have built, word for word (``tests/test_regex_charsets.py`` compares the compiled code of
spaCy's pattern and of awkward ones with and without the memo). When the compiler does not
have the function with the expected arguments (another Python), the block runs unchanged.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
_ACTIVE = {"depth": 0, "original": None}
_ARGS = ["charset", "iscased", "fixup", "fixes"]


def _compiler():
    """Python's regular-expression compiler module when it has the expected function."""
    try:
        from re import _compiler as compiler

        original = compiler._optimize_charset
        if list(inspect.signature(original).parameters) != _ARGS:
            return None
    except (ImportError, AttributeError, TypeError, ValueError):  # another Python
        return None
    return compiler


def _memoised(original):
    memo: dict = {}

    def optimize_charset(charset, iscased=None, fixup=None, fixes=None):
        try:
            key = (tuple(charset), iscased, fixup, id(fixes))
            hit = memo.get(key)
        except TypeError:  # an unhashable class item: as Python does
            return original(charset, iscased, fixup, fixes)
        if hit is None:
            hit = memo[key] = original(charset, iscased, fixup, fixes)
        out, hascased = hit
        return list(out), hascased  # a list of its own for each caller, as the original

    return optimize_charset


@contextmanager
def shared_charsets() -> Iterator[None]:
    """Within the block, Python compiles each distinct character class once (see the module).

    Blocks may nest and run in several threads: the memo is installed by the first block to
    enter and removed, with everything it holds, by the last to leave.
    """
    compiler = _compiler()
    if compiler is None:
        yield
        return
    with _LOCK:
        if _ACTIVE["depth"] == 0:
            _ACTIVE["original"] = compiler._optimize_charset
            compiler._optimize_charset = _memoised(compiler._optimize_charset)
        _ACTIVE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _ACTIVE["depth"] -= 1
            if _ACTIVE["depth"] == 0:
                compiler._optimize_charset = _ACTIVE["original"]
                _ACTIVE["original"] = None
