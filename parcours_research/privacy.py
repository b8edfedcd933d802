"""Privacy: scrub personal details from free text, pseudonymise participant ids.

Interview excerpts and survey comments often hold names, e-mail addresses and phone numbers.
:func:`scrub` replaces them with placeholders (``[NAME]``, ``[EMAIL]``, ``[PHONE]``) before
anything is shown in a notebook, a widget or a report; :func:`pseudonymise` turns participant
or customer ids into stable pseudonyms with a keyed hash (HMAC-SHA256) and a study-specific
salt, so that the same person gets the same pseudonym across files of one study and an
unrelated one in another study.

What the scrubber finds
-----------------------
- **E-mail addresses**: ``local@domain.tld``.
- **Phone numbers**: French numbers written ``06 12 34 56 78``, ``06.12.34.56.78``,
  ``0612345678``, ``06-12-34-56-78``, ``+33 6 12 34 56 78``, ``+33 (0)6 12 34 56 78``,
  ``0033 6 12 34 56 78``; international numbers starting with ``+`` or ``00`` (8 to 15
  digits); North-American ``(555) 123-4567``. Dates (``12.03.2024``), amounts (``1 250``) and
  years are left alone: a French number needs a leading 0 and ten digits.
- **Names**: every name in ``names`` (whole words, case-insensitive, full names and each of
  their parts of three letters or more), and capitalised words after a civility or an
  introduction: ``Mme X``, ``Madame X``, ``M. X``, ``Monsieur X``, ``Mlle X``, ``Dr X``,
  ``Me X``, ``Mr/Mrs/Ms X``, ``je m'appelle X``, ``moi c'est X``, ``mon nom est X``,
  ``my name is X``. The civility stays (``Mme [NAME]``) so the quote still reads.

The heuristics are deliberately greedy on names listed by the study and careful elsewhere:
a scrubber cannot find every name in free text, so keep the study's list of participant names
up to date and read quotes before publishing them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from .errors import StudyError

__all__ = [
    "EMAIL",
    "PHONE",
    "NAME",
    "Scrubber",
    "scrub",
    "scrub_frame",
    "pseudonymise",
    "make_salt",
]

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
NAME = "[NAME]"

_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
# A capitalised name token: "Dupont", "DUPONT", "Le-Gall", "N'Diaye", "O’Brien".
_NAME_TOKEN = rf"[{_UPPER}](?:[{_LOWER}{_UPPER}]|['’\-][{_UPPER}{_LOWER}])+"
# Up to three tokens ("Marie", "Marie Dubois", "Jean-Pierre Le Gall").
_NAME_SEQ = rf"{_NAME_TOKEN}(?:\s+{_NAME_TOKEN}){{0,2}}"

_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")

_SEP = r"[ \t.\-\u00a0]?"
_PHONE_RES = [
    # French: international prefix +33 / 0033, optional (0), then 9 digits in pairs or not.
    re.compile(rf"(?<![\w+])(?:\+|00)33{_SEP}(?:\(0\){_SEP})?[1-9](?:{_SEP}\d{{2}}){{4}}(?!\w)"),
    # French national: 0X XX XX XX XX (10 digits, leading 0).
    re.compile(rf"(?<![\w+])0[1-9](?:{_SEP}\d{{2}}){{4}}(?!\w)"),
    # International: +CC or 00CC, then groups of digits, 8-15 digits in total (checked below).
    re.compile(
        rf"(?<![\w+])(?:\+|00)[1-9]\d{{0,2}}{_SEP}(?:\(\d{{1,4}}\){_SEP})?\d{{1,4}}(?:{_SEP}\d{{1,4}}){{1,5}}(?!\w)"
    ),
    # North American: (555) 123-4567 / 555-123-4567.
    re.compile(r"(?<![\w(])(?:\(\d{3}\)\s?|\d{3}[-.])\d{3}[-.]\d{4}(?!\w)"),
]

_CIVILITY = (
    r"(?:M\.|MM\.|Mme\.?|Mmes\.?|Mlle\.?|Mlles\.?|Madame|Monsieur|Mademoiselle|Messieurs|"
    r"Mesdames|Dr\.?|Docteur|Docteure|Pr\.?|Professeur|Professeure|Ma[iî]tre|Me|"
    r"Mr\.?|Mrs\.?|Ms\.?|Miss)"
)
_INTRO = (
    r"(?:je\s+m['’]appelle|moi\s+c['’]est|mon\s+nom\s+est|mon\s+nom\s+c['’]est|"
    r"mon\s+pr[ée]nom\s+(?:est|c['’]est)|je\s+me\s+nomme|my\s+name\s+is|i\s+am\s+called|"
    r"i['’]m\s+called|call\s+me|appelez-moi)"
)
_CIVILITY_RE = re.compile(rf"(?<![\w.])({_CIVILITY})(\s+)({_NAME_SEQ})")
_INTRO_RE = re.compile(rf"(?<!\w)((?i:{_INTRO}))(\s+)({_NAME_SEQ})")


def _fold(text: str) -> str:
    """Lower-case and strip accents (for matching names written with or without them)."""
    nfkd = unicodedata.normalize("NFKD", text)
    return "".join(c for c in nfkd if not unicodedata.combining(c)).casefold()


def _name_variants(names: Iterable) -> list[str]:
    out: set[str] = set()
    for raw in names:
        if raw is None or (isinstance(raw, float) and pd.isna(raw)) or raw is pd.NA:
            continue
        name = " ".join(str(raw).split())
        if len(name) < 2:
            continue
        out.add(name)
        for part in re.split(r"[\s]+", name):
            part = part.strip(".,;:()")
            if len(part) >= 3 and any(ch.isalpha() for ch in part):
                out.add(part)
    # Longest first so that "Marie Dubois" is replaced before "Marie".
    return sorted(out, key=lambda s: (-len(s), s))


def _accent_insensitive(name: str) -> str:
    """A regex matching ``name`` with or without accents, case-insensitively."""
    parts = []
    for ch in name:
        base = _fold(ch)
        if ch.isspace():
            parts.append(r"\s+")
        elif base != ch.casefold() and base:
            # é -> [eé], etc.
            parts.append(f"(?:{re.escape(base)}|{re.escape(ch.casefold())})")
        elif ch in "'’":
            parts.append("['’]")
        else:
            parts.append(re.escape(ch.casefold()))
    return "".join(parts)


@dataclass(frozen=True)
class Scrubber:
    """Replace e-mail addresses, phone numbers and names in text with placeholders.

    Parameters
    ----------
    names : iterable of str
        Known names (participants, interviewers, staff named in the study). Matched as whole
        words, case- and accent-insensitively; each part of a full name of three letters or
        more is matched on its own too.
    emails, phones, heuristics : bool, default True
        Which detectors run. ``heuristics`` covers civilities (``Mme X``) and introductions
        (``je m'appelle X``).

    Examples
    --------
    >>> s = Scrubber(names=["Marie Dubois"])
    >>> s("Marie m'a écrit à marie.d@example.org, rappelez-la au 06 12 34 56 78.")
    "[NAME] m'a écrit à [EMAIL], rappelez-la au [PHONE]."
    """

    names: tuple[str, ...] = ()
    emails: bool = True
    phones: bool = True
    heuristics: bool = True
    _names_re: re.Pattern | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        names = tuple(self.names) if not isinstance(self.names, str) else (self.names,)
        object.__setattr__(self, "names", names)
        variants = _name_variants(names)
        if variants:
            pattern = "|".join(_accent_insensitive(v) for v in variants)
            rx = re.compile(rf"(?<!\w)(?:{pattern})(?!\w)", re.IGNORECASE)
        else:
            rx = None
        object.__setattr__(self, "_names_re", rx)

    def __call__(self, text):
        """Scrub one text; missing values are returned unchanged."""
        if text is None or text is pd.NA or (isinstance(text, float) and pd.isna(text)):
            return text
        out = str(text)
        if self.emails:
            out = _EMAIL_RE.sub(EMAIL, out)
        if self.phones:
            for rx in _PHONE_RES:
                out = rx.sub(_phone_sub, out)
        if self.heuristics:
            out = _CIVILITY_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{NAME}", out)
            out = _INTRO_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{NAME}", out)
        if self._names_re is not None:
            out = self._names_re.sub(NAME, out)
        return out

    def scrub_series(self, texts: pd.Series) -> pd.Series:
        """Scrub every text of a Series (index, name and missing values kept)."""
        return texts.map(self, na_action="ignore").astype("string")


def _phone_sub(m: re.Match) -> str:
    digits = sum(ch.isdigit() for ch in m.group(0))
    return PHONE if 8 <= digits <= 15 else m.group(0)


def scrub(
    text,
    names: Iterable[str] = (),
    *,
    emails: bool = True,
    phones: bool = True,
    heuristics: bool = True,
):
    """Replace e-mail addresses, phone numbers and names in ``text`` with placeholders.

    Parameters
    ----------
    text : str, Series or iterable of str
        One text, or many (a Series keeps its index; a list gives a list).
    names : iterable of str
        Known names to remove (see :class:`Scrubber`).
    emails, phones, heuristics : bool, default True
        Which detectors run.

    Returns
    -------
    str, Series or list
        The scrubbed text(s): ``[EMAIL]``, ``[PHONE]`` and ``[NAME]`` stand for what was removed.
    """
    s = Scrubber(tuple(names), emails=emails, phones=phones, heuristics=heuristics)
    if isinstance(text, pd.Series):
        return s.scrub_series(text)
    if isinstance(text, str) or text is None or text is pd.NA:
        return s(text)
    if isinstance(text, Iterable):
        return [s(t) for t in text]
    return s(text)


def scrub_frame(
    data: pd.DataFrame, columns: Iterable[str] = ("text",), names: Iterable[str] = (), **kwargs
) -> pd.DataFrame:
    """A copy of ``data`` with the free-text ``columns`` scrubbed (see :func:`scrub`)."""
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise StudyError(
            f"scrub_frame: column(s) {missing} are not in the data; it has {list(data.columns)}."
        )
    s = Scrubber(tuple(names), **kwargs)
    out = data.copy()
    for c in columns:
        out[c] = s.scrub_series(out[c])
    return out


def make_salt(nbytes: int = 16) -> str:
    """A fresh random salt (hex) to store in ``study.yml`` under ``privacy: {salt: ...}``."""
    return secrets.token_hex(nbytes)


def _check_salt(salt) -> bytes:
    if salt is None or (isinstance(salt, (str, bytes)) and len(salt) == 0):
        raise StudyError(
            "pseudonymise needs a study-specific salt: pass salt=study.privacy_salt, or store one "
            "made with pr.privacy.make_salt() under `privacy: {salt: ...}` in study.yml."
        )
    if isinstance(salt, bytes):
        return salt
    if isinstance(salt, str):
        return salt.encode("utf-8")
    raise StudyError(f"salt must be a string or bytes, not {type(salt).__name__}.")


def pseudonymise(ids, salt, *, length: int = 12, prefix: str = "P-"):
    """Stable pseudonyms for participant or customer ids.

    Each id becomes ``prefix + HMAC-SHA256(key=salt, message=str(id))`` in hexadecimal,
    truncated to ``length`` characters. The same id and salt always give the same pseudonym;
    another salt gives unrelated ones, and without the salt the id cannot be recovered by
    hashing guesses. Keep the salt out of published material.

    Parameters
    ----------
    ids : str, Series, Index or iterable
        The ids. Missing values stay missing.
    salt : str or bytes
        The study-specific secret (``study.privacy_salt``).
    length : int, default 12
        Hex characters kept (8 to 64). 12 characters (48 bits) keep collisions negligible for
        studies of up to millions of ids.
    prefix : str, default "P-"

    Returns
    -------
    str, Series (same index and name) or list, like ``ids``.
    """
    key = _check_salt(salt)
    if not isinstance(length, int) or not 8 <= length <= 64:
        raise StudyError(f"length={length!r} is not valid: it must be an integer from 8 to 64.")

    def one(v):
        if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)):
            return pd.NA
        digest = hmac.new(key, str(v).encode("utf-8"), hashlib.sha256).hexdigest()
        return prefix + digest[:length]

    if isinstance(ids, pd.Series):
        return ids.map(one).astype("string")
    if isinstance(ids, pd.Index):
        return pd.Index([one(v) for v in ids], dtype="string", name=ids.name)
    if isinstance(ids, (str, int)) or ids is None or ids is pd.NA:
        return one(ids)
    if isinstance(ids, Iterable):
        return [one(v) for v in ids]
    return one(ids)
