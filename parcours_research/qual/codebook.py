"""REFI-QDA codebooks (``.qdc``): the codes of a study and their hierarchy.

A ``.qdc`` file is XML in the namespace ``urn:QDA-XML:codebook:1.0`` (schema ``Codebook.xsd``
of the REFI-QDA standard, http://schema.qdasoftware.org/versions/Codebook/v1.0/Codebook.xsd)::

    <CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="Taguette 1.4.1">
      <Codes>
        <Code guid="..." name="Souscription" isCodable="true" color="#FF0000">
          <Description>...</Description>
          <Code guid="..." name="Vérification d'identité" isCodable="true"/>
        </Code>
      </Codes>
      <Sets>...</Sets>
    </CodeBook>

NVivo, ATLAS.ti, MAXQDA and QualCoder nest child codes; Taguette writes one flat ``Code`` per tag
whose name is the tag's path (``taguette/export.py``, ``codebook_xml``: ``name=tag.path``), so
the hierarchy of a flat codebook is read from the names (see
:mod:`parcours_research.qual.codepaths`). A codebook holds **no coded text**: it completes the
codes of an excerpts export (``qual: codebook:`` in study.yml), it is not a source of excerpts.

The XML is parsed by :func:`parcours_research.qual.safety.parse_xml` (no entities, no external
references) after a size check; a ``.qdpx`` project's codebook is read the same way.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element

import pandas as pd

from ..errors import Problem, QualDataError
from .codepaths import SEPARATORS, split_code
from .safety import Limits, parse_xml

__all__ = ["Codebook", "read_codebook", "looks_like_codebook", "CODEBOOK_NAMESPACE"]

CODEBOOK_NAMESPACE = "urn:QDA-XML:codebook:1.0"
_COLUMNS = ("guid", "name", "path", "parent", "depth", "codable", "color", "description")


@dataclass(frozen=True, repr=False)
class Codebook:
    """The codes of a REFI-QDA codebook.

    Attributes
    ----------
    codes : DataFrame
        One row per code, in document order, with columns ``guid`` (string), ``name``
        (string, as written), ``path`` (string: the names from the top code down to this one,
        joined with ``" > "``), ``parent`` (string, the parent's name; missing for a top code),
        ``depth`` (int, 0 for a top code), ``codable`` (bool, ``isCodable``), ``color``
        (string) and ``description`` (string).
    origin : str or None
        The ``origin`` attribute: the software that wrote the file.
    source : str
        The file name.
    """

    codes: pd.DataFrame
    origin: str | None
    source: str

    @property
    def summary(self) -> pd.DataFrame:
        """The codes table (same as :attr:`codes`)."""
        return self.codes

    def paths(self, separators: Sequence[str] = SEPARATORS) -> list[tuple[str, ...]]:
        """Every code's path, root first; a flat code's name is split on ``separators``."""
        out = []
        for path, name, depth in zip(self.codes["path"], self.codes["name"], self.codes["depth"]):
            if depth == 0:
                out.append(split_code(name, separators))
            else:
                out.append(tuple(str(path).split(" > ")))
        return out

    def __repr__(self) -> str:
        depth = int(self.codes["depth"].max()) + 1 if len(self.codes) else 0
        flat = "" if depth > 1 else ", flat"
        return (
            f"Codebook({self.source!r}, origin={self.origin!r}, {len(self.codes)} codes, "
            f"{depth} level(s){flat})"
        )

    def _repr_html_(self) -> str:
        head = f"<p><b>{html.escape(repr(self))}</b></p>"
        return head + self.codes.to_html(index=False, max_rows=60)


def looks_like_codebook(data: bytes) -> bool:
    """Whether the start of a file is a REFI-QDA codebook (``<CodeBook`` root)."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"<"):
        return False
    return b"<CodeBook" in head or CODEBOOK_NAMESPACE.encode() in head


def read_codebook(path, *, limits: Limits | None = None) -> Codebook:
    """Read the codes and their hierarchy from a REFI-QDA codebook.

    Parameters
    ----------
    path : str or Path
        A ``.qdc`` codebook, or a ``.qdpx`` project (its ``CodeBook`` is read).
    limits : Limits, optional
        Size ceilings (:class:`~parcours_research.qual.safety.Limits`).

    Returns
    -------
    Codebook
        ``.codes`` has the columns ``guid, name, path, parent, depth, codable, color,
        description`` (see :class:`Codebook`).

    Raises
    ------
    UnsafeFileError
        The XML declares entities or refers to external resources.
    QualDataError
        Not a codebook, damaged XML, or codes without ``guid``/``name`` (all listed).

    Examples
    --------
    >>> cb = read_codebook("qual/codebook.qdc")  # doctest: +SKIP
    >>> cb.codes[["path", "depth"]]  # doctest: +SKIP
    """
    path = Path(path)
    label = path.name
    root = _root(path, label, limits)
    ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    local = root.tag.split("}")[-1]
    if local == "Project":  # a .qdpx / .qde project: its codebook
        book = root.find(f"{{{ns}}}CodeBook" if ns else "CodeBook")
        if book is None:
            raise QualDataError(f"{label}: the project has no CodeBook.")
        root, local = book, "CodeBook"
    if local != "CodeBook":
        raise QualDataError(
            f"{label}: the root element is <{local}>, not <CodeBook>; this is not a REFI-QDA "
            "codebook (.qdc). Export one from the QDA software (Codebook > Export > REFI-QDA)."
        )
    rows: list[dict] = []
    problems: list[Problem] = []
    codes = root.find(_tag(ns, "Codes"))
    _walk(codes, ns, (), rows, problems, label, "Codes")
    if problems:
        raise QualDataError(f"{label}: the codebook has problems", problems)
    frame = pd.DataFrame(rows, columns=list(_COLUMNS))
    for c in ("guid", "name", "path", "parent", "color", "description"):
        frame[c] = frame[c].astype("string")
    frame["depth"] = frame["depth"].astype("int64")
    frame["codable"] = frame["codable"].astype("bool")
    return Codebook(frame, root.get("origin"), label)


def _tag(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}" if ns else name


def _root(path: Path, label: str, limits: Limits | None) -> Element:
    if not path.exists():
        raise QualDataError(f"{label}: file not found ({path}).")
    if path.suffix.lower() in (".qdpx", ".zip"):
        from .qdpx import _load

        root, z, _ = _load(path, limits)
        if z is not None:
            z.close()
        return root
    from .._files import safe_path  # a regular file (a FIFO would hang the read below)

    safe_path(path, label=label, missing_cls=QualDataError)
    lim = limits or Limits()
    size = path.stat().st_size
    if size > lim.max_member_size:
        raise QualDataError(
            f"{label}: {size:,} bytes, more than the limit of {lim.max_member_size:,}."
        )
    data = path.read_bytes()
    if not data.strip():
        raise QualDataError(f"{label}: the file is empty.")
    return parse_xml(data, label)


def _walk(el, ns, ancestors, rows, problems, label, where) -> None:
    if el is None:
        return
    for i, c in enumerate(el.findall(_tag(ns, "Code"))):
        here = f"{where}/Code[{i + 1}]"
        guid, name = (c.get("guid") or "").strip(), (c.get("name") or "").strip()
        if not guid or not name:
            missing = "guid" if not guid else "name"
            problems.append(
                Problem(
                    f"a Code has no {missing!r} attribute",
                    label,
                    column=here,
                    fix="export the codebook again from the QDA software",
                )
            )
            continue
        desc = c.find(_tag(ns, "Description"))
        rows.append(
            {
                "guid": guid,
                "name": name,
                "path": " > ".join((*ancestors, name)),
                "parent": ancestors[-1] if ancestors else None,
                "depth": len(ancestors),
                "codable": (c.get("isCodable") or "true").strip().lower() in ("true", "1"),
                "color": c.get("color"),
                "description": (desc.text or "").strip() or None if desc is not None else None,
            }
        )
        _walk(c, ns, (*ancestors, name), rows, problems, label, f"{here}[{name}]")
