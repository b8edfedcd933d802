"""Old spellings of the public API, kept working for one release (private).

When a public argument is renamed (``level=`` -> ``confidence=``) or becomes keyword-only, the
old call keeps working for one release and says, in a :class:`FutureWarning`, what to write
instead. Every such change in the kit goes through :func:`deprecated_args`, so they all warn
the same way and the test of the vocabulary (``tests/test_vocabulary.py``) can list them from
the ``__deprecated_args__`` attribute of each wrapped function.

>>> @deprecated_args(renamed={"level": "confidence"}, positional=("confidence",))
... def interval(data, *, confidence=0.95):
...     return confidence
>>> interval([1], level=0.9)                                  # doctest: +SKIP
FutureWarning: interval(): level= is deprecated; use confidence= (same meaning). ...
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence

__all__ = ["deprecated_args", "warn_deprecated", "NEXT_RELEASE"]

#: The release in which the old spellings stop working.
NEXT_RELEASE = "0.5"  # postponed from 0.3, then 0.4: 0.4.0 removes nothing (see CHANGELOG)


def warn_deprecated(where: str, old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn (FutureWarning) that ``old`` is deprecated in ``where`` and ``new`` replaces it.

    Used by :func:`deprecated_args` and by deprecated attributes of result objects.
    """
    warnings.warn(
        f"{where}: {old} is deprecated; use {new} (same meaning). {old} stops working in "
        f"release {NEXT_RELEASE}.",
        FutureWarning,
        stacklevel=stacklevel,
    )


def _public_name(func: Callable) -> str:
    module = func.__module__.removeprefix("parcours_research.")
    module = module.split("._")[0] if "._" in module else module  # friction._stats -> friction
    parts = [p for p in module.split(".") if not p.startswith("_")]
    mods = {"qual", "traces", "friction", "plot", "satisfaction", "weighting", "curves"}
    head = next((p for p in parts if p in mods), parts[0] if parts else "")
    return f"pr.{head}.{func.__name__}" if head else func.__name__


def deprecated_args(
    *, renamed: Mapping[str, str] | None = None, positional: Sequence[str] = ()
) -> Callable:
    """Decorator: accept a function's old spellings for one release, with a FutureWarning.

    Parameters
    ----------
    renamed : dict, optional
        ``{old keyword: new keyword}``. A call with the old keyword runs as with the new one;
        passing both is an error.
    positional : sequence of str
        Keyword-only parameters that used to be positional, in their old order after the
        positional-or-keyword ones: a call passing them by position still works.

    The wrapped function keeps its signature (``inspect.signature`` shows only the new
    names) and gains ``__deprecated_args__ = {"renamed": {...}, "positional": (...)}``.
    """
    renamed = dict(renamed or {})
    positional = tuple(positional)

    def decorate(func: Callable) -> Callable:
        sig = inspect.signature(func)
        params = sig.parameters
        for old, new in renamed.items():
            if new not in params or old in params:
                raise TypeError(f"deprecated_args: {func.__name__} must have {new!r}, not {old!r}")
        for name in positional:
            if name not in params or params[name].kind is not inspect.Parameter.KEYWORD_ONLY:
                raise TypeError(f"deprecated_args: {name!r} is not keyword-only in {func.__name__}")
        n_pos = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params.values())
        where = f"{_public_name(func)}()"

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            if len(args) > n_pos:
                args, kwargs = _positional(where, args, kwargs, n_pos, positional)
            for old, new in renamed.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{where} got both {old}= (deprecated) and {new}=; pass {new}= only."
                        )
                    kwargs[new] = kwargs.pop(old)
                    warn_deprecated(where, f"{old}=", f"{new}=")
            return func(*args, **kwargs)

        wrapper.__deprecated_args__ = {"renamed": renamed, "positional": positional}
        return wrapper

    return decorate


def _positional(where: str, args: tuple, kwargs: dict, n_pos: int, positional: tuple):
    extra = args[n_pos:]
    if len(extra) > len(positional):
        raise TypeError(
            f"{where} takes {n_pos} positional argument(s) but {len(args)} were given; "
            "pass the others by keyword."
        )
    names = positional[: len(extra)]
    kwargs = dict(kwargs)
    for name, value in zip(names, extra):
        if name in kwargs:
            raise TypeError(f"{where} got multiple values for argument {name!r}")
        kwargs[name] = value
    shown = ", ".join(f"{n}=..." for n in names)
    warnings.warn(
        f"{where}: passing {', '.join(names)} by position is deprecated; write {shown}. "
        f"Positional use stops working in release {NEXT_RELEASE}.",
        FutureWarning,
        stacklevel=4,
    )
    return args[:n_pos], kwargs
