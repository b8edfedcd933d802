"""``purpose:`` of the touchpoints in study.yml (one purpose per interaction, seed 002).

Each touchpoint may name the purpose of the interaction (``purpose: inform``, a free id), and
the study may label its purposes at the top level::

    purposes:
      inform: {fr: Informer, en: Inform}
      support: Aider

When ``purposes:`` is given, every touchpoint's purpose must be one of its ids. Read by
:func:`parcours_research.study.load_study` into ``Study.purposes`` (``{touchpoint: purpose}``)
and ``Study.purpose_labels`` (``{purpose: Label}``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from .journey import Label

_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def touchpoint_purposes(raw: Mapping) -> dict[str, str]:
    """``{touchpoint id: purpose id}`` of the touchpoints that name one."""
    out = {}
    for t in raw.get("touchpoints") or []:
        if isinstance(t, Mapping) and t.get("purpose") is not None and t.get("id") is not None:
            out[str(t["id"])] = str(t["purpose"])
    return out


def purpose_labels(raw: Mapping) -> dict[str, Label]:
    """``{purpose id: Label}``: the labels of ``purposes:``, and the id itself for a purpose
    a touchpoint names without a label."""
    given = raw.get("purposes")
    labels = (
        {str(k): Label.parse(v, str(k)) for k, v in given.items()}
        if isinstance(given, Mapping)
        else {}
    )
    for p in touchpoint_purposes(raw).values():
        labels.setdefault(p, Label(p, p))
    return labels


def check_purposes(raw: Mapping, ck) -> None:
    """Report purpose ids that are not ids, and purposes missing from ``purposes:``."""
    given = raw.get("purposes")
    known = [str(k) for k in given] if isinstance(given, Mapping) else None
    for k in known or []:
        if not _ID.match(k):
            ck.add(
                f"purposes.{k}",
                f"{k!r} is not a valid id",
                "ids start with a letter and hold only letters, digits and underscores",
            )
    for i, t in enumerate(raw.get("touchpoints") or []):
        if not isinstance(t, Mapping) or t.get("purpose") is None:
            continue
        p = t["purpose"]
        key = f"touchpoints[{i}].purpose"
        if not isinstance(p, str) or not _ID.match(p):
            ck.add(
                key,
                f"{p!r} is not a valid purpose id",
                "write a short id such as inform, transact, support",
            )
        elif known is not None and p not in known:
            near = difflib.get_close_matches(p, known, n=1, cutoff=0.6)
            hint = f"did you mean {near[0]!r}? " if near else ""
            ck.add(
                key,
                f"purpose {p!r} is not listed under `purposes:`",
                f"{hint}use one of {', '.join(known)} or add it to `purposes:`",
            )
