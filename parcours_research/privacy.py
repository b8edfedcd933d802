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

- **Bank and identity numbers**: IBANs (any country, checked with ``stdnum.iban``), French
  social-security numbers (NIR, ``stdnum.fr.nir``), payment cards (Luhn), SIRET/SIREN;
  placeholders ``[IBAN]``, ``[NIR]``, ``[CARD]``, ``[SIRET]``.
- **Postal addresses**: French street patterns (``12 bis rue de la Paix, 75002 Paris``) and
  British ones (``Flat 3, 12 Acacia Road, SW1A 1AA``): ``[ADDRESS]``.
- **Names after a role noun**: ``Ma conseillère Sophie Martin``, ``mon mari Paul``, and after
  ``Je suis`` / ``I am``.
- **Names found by a model** (``ner=True`` or ``"auto"``): persons found by Microsoft Presidio
  with spaCy's ``fr_core_news_sm`` / ``en_core_web_sm`` for the ``language`` given; when the
  model is not installed, a :class:`~parcours_research.errors.ParcoursWarning` says so and
  the other detectors still run (see :mod:`parcours_research.privacy_scrub`).

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
    "ID_COLUMNS",
    "Scrubber",
    "pseudonymise_ids",
    "is_pseudonym",
    "scrub",
    "scrub_frame",
    "study_scrubber",
    "pseudonymise",
    "make_salt",
]

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
NAME = "[NAME]"

#: Columns that hold identifiers of people or their devices: pseudonymised in every output.
ID_COLUMNS = (
    "customer_id",
    "user_id",
    "device_id",
    "respondent_id",
    "participant",
    "participant_id",
    "session_id",
    "anonymous_id",
    "client_id",
    "visitor_id",
    "account_id",
    "email",
    "e_mail",
    "user_pseudo_id",
)

_PSEUDONYM_RE = re.compile(r"P-[0-9a-f]{8,64}")
_PARTICLES = {
    "de",
    "du",
    "des",
    "la",
    "le",
    "d",
    "l",
    "van",
    "von",
    "der",
    "den",
    "da",
    "di",
    "del",
    "della",
    "dos",
    "das",
    "ben",
    "bin",
    "el",
    "al",
    "y",
    "e",
    "mac",
    "o",
}
_NAME_LIKE = re.compile(r"^[^\W\d_][\w'’\-]*\.?$")


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
    """Replace personal data in text with placeholders.

    Parameters
    ----------
    names : iterable of str
        Known names (participants, interviewers, staff named in the study). Matched as whole
        words, case- and accent-insensitively; each part of a full name of three letters or
        more is matched on its own too.
    emails, phones, heuristics : bool, default True
        Which detectors run. ``heuristics`` covers civilities (``Mme X``), introductions
        (``je m'appelle X``, ``Je suis X``) and role nouns (``ma conseillère X``).
    identifiers : bool, default True
        IBAN, NIR, payment cards, SIRET/SIREN (checksums from ``python-stdnum``).
    addresses : bool, default True
        Postal addresses (French and British street patterns).
    ner : bool or "auto", default False
        Also find persons with Presidio and spaCy's pipeline for ``language``. When the model
        is missing a :class:`~parcours_research.errors.ParcoursWarning` says so (once) and the
        other detectors still run.
    language : {"fr", "en"}, default "fr"
        Language of the texts (the study's ``language:``): the spaCy pipeline and the
        default region of phone numbers.
    keep : iterable of str
        Words the model must not take for names (the study's labels); split into words.

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
    identifiers: bool = True
    addresses: bool = True
    ner: bool | str = False
    language: str = "fr"
    keep: frozenset = frozenset()
    _names_re: re.Pattern | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        names = tuple(self.names) if not isinstance(self.names, str) else (self.names,)
        object.__setattr__(self, "names", names)
        words = {
            w.casefold() for k in self.keep for w in re.split(r"[\W\d_]+", str(k)) if len(w) >= 3
        }
        object.__setattr__(self, "keep", frozenset(words))
        variants = _name_variants(names)
        if variants:
            pattern = "|".join(_accent_insensitive(v) for v in variants)
            rx = re.compile(rf"(?<!\w)(?:{pattern})(?!\w)", re.IGNORECASE)
        else:
            rx = None
        object.__setattr__(self, "_names_re", rx)

    # ---- detection -------------------------------------------------------------------------
    @property
    def ner_backend(self):
        """The named-entity backend (None when ``ner`` is off)."""
        if not self.ner:
            return None
        from .privacy_scrub import ner_backend

        return ner_backend(self.language)

    def _entities(self) -> set[str]:
        keep = set()
        if self.emails:
            keep.add("EMAIL")
        if self.phones:
            keep.add("PHONE")
        if self.identifiers:
            keep |= {"IBAN", "NIR", "CARD", "SIRET"}
        if self.addresses:
            keep.add("ADDRESS")
        return keep

    def spans(self, text: str, ner_spans=()) -> list:
        """The personal data found in one text: non-overlapping
        :class:`~parcours_research.privacy_scrub.Span` objects (``ner_spans``: the model's)."""
        from .privacy_scrub import Span, name_spans, resolve, structured_spans

        keep = self._entities()
        found = [sp for sp in structured_spans(text, language=self.language) if sp.entity in keep]
        if self.heuristics:
            found += name_spans(text, self._names_re)
        elif self._names_re is not None:
            found += [
                Span(m.start(), m.end(), "NAME", "known names")
                for m in self._names_re.finditer(text)
            ]
        found += [sp for sp in ner_spans if _plausible_name(text[sp.start : sp.end], self.keep)]
        return resolve(found)

    def detect(self, texts) -> list[list]:
        """The spans of every text (one list per text; the model runs in batches)."""
        texts = ["" if _missing(t) else str(t) for t in texts]
        be = self.ner_backend
        ner = be.spans(texts) if be is not None else [[] for _ in texts]
        return [self.spans(t, n) for t, n in zip(texts, ner)]

    # ---- scrubbing -------------------------------------------------------------------------
    def __call__(self, text):
        """Scrub one text; missing values are returned unchanged."""
        if _missing(text):
            return text
        return self.scrub_many([text])[0]

    def scrub_many(self, texts) -> list:
        """Scrub many texts at once (missing values kept); the model runs in batches."""
        from .privacy_scrub import redact

        texts = list(texts)
        spans = self.detect(texts)
        return [t if _missing(t) else redact(str(t), sp) for t, sp in zip(texts, spans)]

    def scrub_series(self, texts: pd.Series) -> pd.Series:
        """Scrub every text of a Series (index, name and missing values kept)."""
        out = pd.Series(
            self.scrub_many(texts.tolist()), index=texts.index, name=texts.name, dtype=object
        )
        return out.astype("string")

    @property
    def detectors(self) -> pd.DataFrame:
        """Which detector finds which entity: ``entity, detector, placeholder, active``."""
        from .privacy_scrub import PLACEHOLDERS

        be = self.ner_backend
        if be is None:
            model = "named entities: off"
        elif be.available:
            model = f"named entities: {be.detector}"
        else:
            model = f"named entities: MISSING ({be.missing})"
        rows = [
            ("EMAIL", "regular expression", self.emails),
            ("PHONE", "patterns (fr, international, uk) + phonenumbers", self.phones),
            ("IBAN", "stdnum.iban (ISO 7064 mod 97)", self.identifiers),
            ("NIR", "stdnum.fr.nir (control key)", self.identifiers),
            ("CARD", "Luhn check (stdnum.luhn)", self.identifiers),
            ("SIRET", "Luhn check (SIRET; SIREN after the word)", self.identifiers),
            ("ADDRESS", "street patterns (fr, uk) and UK postcodes", self.addresses),
            ("NAME", "civility / introduction / role-noun patterns", self.heuristics),
            ("NAME", f"known names ({len(self.names)})", bool(self.names)),
            ("NAME", model, be is not None and be.available),
        ]
        return pd.DataFrame(
            [(e, d, PLACEHOLDERS[e], bool(a)) for e, d, a in rows],
            columns=["entity", "detector", "placeholder", "active"],
        )


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v))


def _plausible_name(s: str, keep=frozenset()) -> bool:
    """A model's person span worth removing: starts with a capital, holds no placeholder, and
    is not made only of the study's own words (``keep``: "Page produit", "Vérification")."""
    words = [w for w in re.split(r"[\W\d_]+", s) if w]
    if words and all(w.casefold() in keep for w in words):
        return False
    if any(w.islower() and w not in _PARTICLES for w in words):
        return False  # "Wilkinson Cliffs and the assessor": a name is capitalised words
    from .privacy_scrub import _NOT_NAMES

    s = s.strip()
    if len(s) < 2 or "[" in s or "]" in s or not s[0].isupper():
        return False
    return s.casefold() not in _NOT_NAMES


def scrub(
    text,
    names: Iterable[str] = (),
    *,
    emails: bool = True,
    phones: bool = True,
    heuristics: bool = True,
    **kwargs,
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
    **kwargs
        ``identifiers=``, ``addresses=``, ``ner=``, ``language=`` (see :class:`Scrubber`).

    Returns
    -------
    str, Series or list
        The scrubbed text(s): ``[EMAIL]``, ``[PHONE]``, ``[NAME]``, ``[IBAN]``, ``[NIR]``,
        ``[CARD]``, ``[SIRET]`` and ``[ADDRESS]`` stand for what was removed.
    """
    s = Scrubber(tuple(names), emails=emails, phones=phones, heuristics=heuristics, **kwargs)
    if isinstance(text, pd.Series):
        return s.scrub_series(text)
    if isinstance(text, str) or text is None or text is pd.NA:
        return s(text)
    if isinstance(text, Iterable):
        return s.scrub_many(text)
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


def study_scrubber(language: str = "fr", *, participants=(), names=(), keep=()) -> Scrubber:
    """The scrubber a study's free text goes through: every detector, names found by the
    model of the study's ``language`` when it is installed (a warning says when it is not),
    and the ``participants`` labels that look like names.

    Parameters
    ----------
    language : {"fr", "en"}
    participants : iterable of str
        Participant labels; those written as names (``"Claire D."``) are removed from quotes.
    names : iterable of str
        Other known names (interviewers, staff).
    keep : iterable of str
        The study's own words (touchpoint, stage and persona labels): a capitalised "Page"
        or "Vérification" at the start of a sentence is not a person.
    """
    known = [
        p
        for p in pd.Series(list(participants), dtype="object").dropna().astype(str).unique()
        if _looks_like_name(p)
    ]
    return Scrubber(
        tuple(known) + tuple(names), ner="auto", language=language, keep=frozenset(keep)
    )


def _looks_like_name(label: str) -> bool:
    """A participant label written as a name ("Claire D.", "Marie Dubois"), not a code (P01)
    (the rule of :func:`parcours_research.qual.quotes`)."""
    tokens = label.split()
    return bool(tokens) and all(
        _NAME_LIKE.match(t) and t[0].isupper() and not any(c.isdigit() for c in t) for t in tokens
    )


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


def is_pseudonym(value) -> bool:
    """Whether ``value`` looks like a pseudonym made by :func:`pseudonymise` (``P-`` + hex)."""
    return isinstance(value, str) and _PSEUDONYM_RE.fullmatch(value) is not None


def pseudonymise_ids(data: pd.DataFrame, salt, *, columns=None) -> pd.DataFrame:
    """A copy of ``data`` whose identifier columns hold pseudonyms.

    The same id gives the same pseudonym in every table of a study (one salt) and another one
    in another study. Values that already are pseudonyms are kept (calling it twice changes
    nothing); the index is not touched.

    Parameters
    ----------
    data : DataFrame
    salt : str or bytes
        The study's salt (``study.privacy_salt``).
    columns : list of str, optional
        The id columns (default: those of :data:`ID_COLUMNS` present in ``data``).

    Returns
    -------
    DataFrame
        Same shape and columns; the id columns are strings (``P-`` + 12 hex characters).
    """
    cols = [c for c in ID_COLUMNS if c in data.columns] if columns is None else list(columns)
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise StudyError(
            f"pseudonymise_ids: column(s) {missing} are not in the data; it has {list(data.columns)}."
        )
    if not cols:
        return data.copy()
    out = data.copy()
    for c in cols:
        values = out[c]
        done = values.map(is_pseudonym, na_action="ignore").fillna(False).astype(bool)
        new = pseudonymise(values.astype("string"), salt)
        out[c] = new.where(~done, values.astype("string"))
    return out
