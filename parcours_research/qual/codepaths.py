"""Hierarchical code names, and matching them to touchpoints.

QDA tools name a code inside its tree in different ways:

==============  ==================================================  =====================
tool            how a child code is written in its exports          separator read here
==============  ==================================================  =====================
MAXQDA          ``Souscription > Vérification d'identité``          ``" > "``
NVivo           ``Codes\\Souscription\\Vérification d'identité``     ``"\\"`` (root dropped)
Taguette        ``Souscription.Vérification d'identité`` (a tag's    ``"."``, ``"\\"``,
                path is free text; Taguette's own tests use ``\\``)  ``"/"``
ATLAS.ti        ``Souscription: Vérification d'identité`` (the       ``": "``, ``"::"``
                "category: code" prefix convention)
==============  ==================================================  =====================

A ``.`` or ``/`` between two digits (``v2.0``, ``24/7``) or followed by a space (``M. Dupont``)
does not split. A REFI-QDA codebook (``.qdc``) or project (``.qdpx``) gives the tree itself.

:class:`CodePaths` maps a code to ``(touchpoint, stage)``, in this order:

1. the full path in the code map (``code_map``; any separator, case and accents ignored);
2. the whole name equal to a touchpoint id or label;
3. the **leaf**: a code-map entry or a touchpoint id/label; when it names several touchpoints,
   a parent naming a stage picks the one in that stage;
4. the nearest parent that names a touchpoint (a *family*, as in REFI-QDA projects);
5. a part naming a stage gives the stage only.

Two readings that disagree are **ambiguous** and reported, never resolved silently: a leaf
naming several touchpoints that no parent separates, or a leaf mapped to one touchpoint under a
parent that names another. The fix is always the same: add the full path to ``code_map``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from .schema import CodeMapper, normalise_key

__all__ = ["SEPARATORS", "split_code", "CodePaths", "CodeMatch"]

#: Separators read in code names by default (every tool's but ATLAS.ti's ``": "``).
SEPARATORS: tuple[str, ...] = (" > ", "\\", "/", ".")
_ROOTS = {"codes", "nodes", "noeuds", "codesystem", "code_system", "systeme_de_codes"}


@lru_cache(maxsize=32)
def _pattern(separators: tuple[str, ...]) -> re.Pattern:
    parts = []
    for sep in separators:
        if sep in (".", "/"):
            # not between digits (v2.0, 24/7), not before a space (M. Dupont), not doubled
            parts.append(rf"(?<![\d{re.escape(sep)}]){re.escape(sep)}(?![\s\d{re.escape(sep)}])")
        elif sep.strip() == ">":
            parts.append(r"\s*>\s*")
        else:
            parts.append(re.escape(sep))
    return re.compile("|".join(parts)) if parts else re.compile(r"(?!x)x")


def split_code(name, separators: Sequence[str] = SEPARATORS) -> tuple[str, ...]:
    """The parts of a hierarchical code name, root first (``"A > B"`` -> ``("A", "B")``).

    Empty parts are dropped, and a leading ``Codes``/``Nodes`` root (NVivo) too. A name without
    a separator gives a one-part tuple; a missing name gives ``()``.
    """
    if name is None or name is pd.NA or (isinstance(name, float) and name != name):
        return ()
    s = str(name).strip()
    parts = [p.strip() for p in _pattern(tuple(separators)).split(s)]
    parts = [p for p in parts if p]
    if len(parts) > 1 and normalise_key(parts[0]) in _ROOTS:
        parts = parts[1:]
    return tuple(parts) or ((s,) if s else ())


@dataclass(frozen=True)
class CodeMatch:
    """What a code maps to: touchpoint and stage ids, or the reason it is ambiguous."""

    touchpoint: str | None = None
    stage: str | None = None
    ambiguous: str | None = None


class CodePaths:
    """Map hierarchical code names to touchpoints (see the module docstring for the rules).

    Parameters
    ----------
    mapper : CodeMapper
        The code map and the journey's touchpoint and stage names.
    separators : sequence of str
        Separators read in code names (default :data:`SEPARATORS`).
    codebook : Codebook, optional
        A REFI-QDA codebook (:func:`~parcours_research.qual.codebook.read_codebook`): a code
        written without its parents in the excerpts gets them from the codebook.
    """

    def __init__(self, mapper: CodeMapper, separators: Sequence[str] = SEPARATORS, codebook=None):
        self.mapper = mapper
        self.separators = tuple(separators)
        self.tp_candidates: dict[str, set[str]] = {}
        journey = mapper.journey
        if journey is not None:
            for t in journey.touchpoints:
                for k in (t.id, t.label.fr, t.label.en):
                    self.tp_candidates.setdefault(normalise_key(k), set()).add(t.id)
        self.tree: dict[str, list[tuple[str, ...]]] = {}
        if codebook is not None:
            for path in codebook.paths(self.separators):
                self.tree.setdefault(normalise_key(path[-1]), []).append(path)
        self._cache: dict[str, CodeMatch] = {}

    # ---- paths ---------------------------------------------------------------------------
    def path(self, code) -> tuple[str, ...]:
        """The code's parts, root first, completed from the codebook when it knows the code."""
        parts = split_code(code, self.separators)
        if len(parts) == 1 and normalise_key(parts[0]) in self.tree:
            known = self.tree[normalise_key(parts[0])]
            if len({tuple(map(normalise_key, p)) for p in known}) == 1:
                return known[0]
        return parts

    # ---- matching --------------------------------------------------------------------------
    def match(self, code) -> CodeMatch:
        """The touchpoint and stage of ``code``, or why it is ambiguous."""
        if code is None or code is pd.NA:
            return CodeMatch()
        key = str(code)
        if key not in self._cache:
            self._cache[key] = self._match(key)
        return self._cache[key]

    def _table(self, name: str) -> str | None:
        table = self.mapper.table
        for k in (name, normalise_key(name)):
            if table.get(k) is not None:
                return table[k]
        return None

    def _names(self, name: str) -> set[str]:
        """Touchpoints a single name designates (code map first, then ids and labels)."""
        tp = self._table(name)
        if tp is not None:
            return {tp}
        return set(self.tp_candidates.get(normalise_key(name), set()))

    def _stages(self, parts: Iterable[str]) -> set[str]:
        keys = self.mapper.stage_keys
        return {keys[normalise_key(p)] for p in parts if normalise_key(p) in keys}

    def _match(self, code: str) -> CodeMatch:
        m = self.mapper
        whole = self._names(code)
        if len(whole) == 1:  # rules 1-2: the full path in the code map, or the whole name
            tp = whole.pop()
            return CodeMatch(tp, m.stage(tp))
        parts = self.path(code)
        if len(parts) <= 1:
            return self._single(code, parts)
        full = self._table(" > ".join(parts))
        if full is not None:
            return CodeMatch(full, m.stage(full))
        parents = parts[:-1]
        stages = self._stages(parents)
        for depth, name in enumerate(reversed(parts)):  # leaf first, then nearest parent
            found = self._names(name)
            if stages and len(found) > 1:
                found = {t for t in found if m.stage(t) in stages} or found
            if len(found) > 1:
                return CodeMatch(ambiguous=f"its part {name!r} names touchpoints {sorted(found)}")
            if found:
                tp = found.pop()
                if depth == 0:
                    clash = self._parent_clash(tp, parents)
                    if clash:
                        return CodeMatch(ambiguous=clash)
                return CodeMatch(tp, m.stage(tp))
        for name in reversed(parts):  # rule 5: the nearest part naming a stage
            named = self._stages([name])
            if named:
                return CodeMatch(None, named.pop())
        return CodeMatch()

    def _single(self, code: str, parts: tuple[str, ...]) -> CodeMatch:
        found = self._names(parts[0]) if parts else set()
        if len(found) > 1:
            return CodeMatch(ambiguous=f"it names touchpoints {sorted(found)}")
        tp, stage = self.mapper.map(code)
        return CodeMatch(tp, stage)

    def _parent_clash(self, tp: str, parents: Sequence[str]) -> str | None:
        """Why the leaf's touchpoint disagrees with a parent naming another touchpoint."""
        for p in reversed(parents):
            other = self._names(p)
            if len(other) == 1 and tp not in other:
                return (
                    f"its leaf names touchpoint {tp!r} but its parent {p!r} names {other.pop()!r}"
                )
        return None

    def problem_fix(self, code) -> str:
        """The fix to print for an ambiguous ``code``."""
        path = " > ".join(self.path(code))
        return f"add the full path to the code map, e.g. code_map: {{{path!r}: <touchpoint id>}}"


def canonical_path(code, separators: Sequence[str] = SEPARATORS) -> str | None:
    """The code's parts joined with ``" > "`` (``None`` for a missing code)."""
    parts = split_code(code, separators)
    return " > ".join(parts) if parts else None
