"""The study's privacy summary, for its data-protection record (RGPD, article 30).

:func:`privacy_summary` lists, for each source of a study (customer file, survey responses,
event log, identity map, coded excerpts), which fields hold personal data, what the kit does
with them in every output (pseudonymised with the study's salt, scrubbed, shown only in
aggregates, never shown) and with which detector; and it counts what the scrubber finds in the
study's free text. ``parcours privacy STUDY`` prints it and the report has a section with it.
"""

from __future__ import annotations

import html
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import ParcoursWarning
from .privacy import ID_COLUMNS, study_scrubber

__all__ = ["privacy_summary", "PrivacySummary"]

PSEUDONYMISED = "pseudonymised (HMAC-SHA256 with the study's salt)"
SCRUBBED = "scrubbed before any output"
AGGREGATED = "shown only in aggregates"
NOT_SHOWN = "never shown"

_DIRECT = {
    "email", "mail", "courriel", "phone", "telephone", "téléphone", "tel", "mobile", "portable",
    "name", "firstname", "lastname", "surname", "nom", "prenom", "prénom", "address", "adresse",
    "street", "rue", "iban", "rib", "nir", "ssn", "birthdate", "dob", "naissance", "card", "carte",
}  # fmt: skip
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")


@dataclass(frozen=True, repr=False)
class PrivacySummary:
    """What :func:`privacy_summary` returns.

    Attributes
    ----------
    study : str
    summary : DataFrame
        One row per personal field: ``source, file, field, kind, treatment, detector, note``.
    detectors : DataFrame
        The scrubber's detectors: ``entity, detector, placeholder, active``.
    findings : DataFrame
        What the scrubber found in the study's free text: ``source, field, entity, detector,
        n`` (counts only, never the values).
    warnings : list of str
        Missing models and other limits, said rather than hidden.
    """

    study: str
    summary: pd.DataFrame
    detectors: pd.DataFrame
    findings: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        n_ps = int((self.summary["treatment"] == PSEUDONYMISED).sum())
        n_sc = int((self.summary["treatment"] == SCRUBBED).sum())
        lines = [
            f"PrivacySummary({self.study!r}: {len(self.summary)} personal fields, {n_ps} pseudonymised, "
            f"{n_sc} scrubbed, {int(self.findings['n'].sum()) if len(self.findings) else 0} values found "
            "in free text)"
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        warn = "".join(f"<p><b>Warning:</b> {html.escape(w)}</p>" for w in self.warnings)
        return (
            f"<p><b>{html.escape(repr(self).splitlines()[0])}</b></p>{warn}"
            + self.summary.to_html(index=False)
            + "<p>Detectors</p>"
            + self.detectors.to_html(index=False)
            + "<p>Found in free text</p>"
            + self.findings.to_html(index=False)
        )

    def to_text(self) -> str:
        """The summary as plain text (what ``parcours privacy`` prints)."""
        with pd.option_context(
            "display.width", 200, "display.max_colwidth", 70, "display.max_rows", 500
        ):
            parts = [
                repr(self),
                "",
                "Personal fields and what every output does with them:",
                self.summary.drop(columns=["note"]).to_string(index=False),
                "",
                "Detectors of the scrubber:",
                self.detectors.to_string(index=False),
                "",
                "Found in the study's free text (counts):",
                self.findings.to_string(index=False) if len(self.findings) else "  nothing",
            ]
        return "\n".join(parts)


def _kind(col: str, values: pd.Series | None) -> tuple[str, str, str] | None:
    """(kind, treatment, note) of a column, or None when it holds no personal data."""
    if col in ID_COLUMNS:
        note = ""
        if values is not None:
            n_mail = int(values.dropna().astype(str).str.fullmatch(_EMAIL.pattern).sum())
            if n_mail:
                note = f"{n_mail} ids are e-mail addresses (pseudonymised all the same)"
        return "identifier", PSEUDONYMISED, note
    if set(re.split(r"[\W_]+", col.casefold())) & _DIRECT:
        return "direct personal data", NOT_SHOWN, "not read by any analysis"
    return None


def _frame_rows(source: str, file, frame: pd.DataFrame | None, skip=()) -> list[tuple]:
    """The personal fields of a table, and one row for its other columns."""
    rows, other = [], 0
    if frame is None:
        return rows
    for col in frame.columns:
        k = None if col in skip else _kind(col, frame[col])
        if k is not None:
            rows.append((source, file, col, k[0], k[1], "", k[2]))
        elif col != "persona":
            other += 1
    if other:
        rows.append(
            (
                source,
                file,
                f"{other} other columns",
                "answers, ratings, profile",
                AGGREGATED,
                "",
                "",
            )
        )
    return rows


def _rel(study, path) -> str:
    if path is None:
        return ""
    try:
        return Path(path).resolve().relative_to(Path(study.root).resolve()).as_posix()
    except ValueError:
        return Path(path).name


def _scan(scrubber, texts: pd.Series, source: str, col: str) -> list[tuple]:
    texts = texts.dropna().astype(str)
    found = {}
    for spans in scrubber.detect(texts.tolist()):
        for sp in spans:
            found[(sp.entity, sp.detector)] = found.get((sp.entity, sp.detector), 0) + 1
    return [(source, col, e, d, n) for (e, d), n in sorted(found.items())]


def privacy_summary(study, *, scan: bool = True) -> PrivacySummary:
    """The privacy summary of a study (see the module's description).

    Parameters
    ----------
    study : Study or path
    scan : bool, default True
        Run the scrubber over the study's free text and count what it finds.

    Returns
    -------
    PrivacySummary
    """
    from ._inputs import is_study
    from .study import load_study

    if not is_study(study):
        study = load_study(study)
    lang = study.journey.language
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ParcoursWarning)
        from .evidence import _journey_words

        scrubber = study_scrubber(lang, keep=_journey_words(study))
        detectors = scrubber.detectors
        rows, findings = _source_rows(study, scrubber, scan)
    notes = [str(w.message) for w in caught if issubclass(w.category, ParcoursWarning)]
    be = scrubber.ner_backend
    if be is not None and be.missing and not any(be.missing in n for n in notes):
        notes.append(f"Scrubbing ({lang}): {be.missing}.")
    summary = pd.DataFrame(
        rows, columns=["source", "file", "field", "kind", "treatment", "detector", "note"]
    )
    found = pd.DataFrame(findings, columns=["source", "field", "entity", "detector", "n"])
    return PrivacySummary(study.name, summary, detectors, found, notes)


def _source_rows(study, scrubber, scan: bool) -> tuple[list, list]:
    """The personal fields of every source, and what the scrubber finds in the free text."""
    active = scrubber.detectors
    used = ", ".join(dict.fromkeys(active.loc[active["active"], "entity"])) + " (see detectors)"
    rows, findings = [], []
    if study.customers is not None:
        rows += _frame_rows("customer file", "customers", study.customers)
    if study.responses is not None:
        r, f = _survey_rows(study, scrubber, scan, used)
        rows, findings = rows + r, findings + f
    if study.traces is not None:
        rows += _trace_rows(study)
    if study.qual is not None:
        file = _rel(study, study.qual.excerpts)
        rows += [
            ("excerpts", file, c, "identifier", PSEUDONYMISED, "", "")
            for c in ("participant", "customer_id")
        ]
        rows.append(
            (
                "excerpts",
                file,
                "text",
                "free text",
                SCRUBBED,
                used,
                "quotes in reports, notebooks, widgets",
            )
        )
        if scan:
            from .qual import read_excerpts

            ex = read_excerpts(study)  # the raw text, only to count what the scrubber removes
            findings += _scan(scrubber, ex["text"], "excerpts", "text")
    return rows, findings


def _survey_rows(study, scrubber, scan: bool, used: str) -> tuple[list, list]:
    inst, resp = study.instrument, study.responses
    file = _rel(study, study.survey.responses)
    text_cols = [q.id for q in inst.questions if q.type == "text" and q.id in resp.columns]
    answers = [q.id for q in inst.questions if q.type != "text"]  # ratings, options
    rows = _frame_rows("survey", file, resp, [*text_cols, *answers])
    findings = []
    for c in text_cols:
        note = "open answers are not shown by the report; scrub them before quoting"
        rows.append(("survey", file, c, "free text", NOT_SHOWN, used, note))
        if scan:
            findings += _scan(scrubber, resp[c], "survey", c)
    return rows, findings


def _trace_rows(study) -> list:
    cfg = study.traces
    events = _rel(study, cfg.events)
    note = "shown only in the identity-conflicts table, pseudonymised"
    rows = [
        ("event log", events, c, "identifier", PSEUDONYMISED, "", note)
        for c in ("user_id", "device_id")
    ]
    rows.append(
        (
            "event log",
            events,
            "user_agent, page",
            "device and browsing data",
            AGGREGATED,
            "",
            "read for bot detection and touchpoint mapping",
        )
    )
    if cfg.identity_map is not None:
        note = "links devices to customers inside the prepared evidence"
        rows += [
            (
                "identity map",
                _rel(study, cfg.identity_map),
                c,
                "identifier",
                PSEUDONYMISED,
                "",
                note,
            )
            for c in ("device_id", "customer_id")
        ]
    return rows
