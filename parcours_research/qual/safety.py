"""Safe reading of foreign archives and XML (REFI-QDA ``.qdpx`` projects and the like).

Files exchanged by QDA software come from other people's machines. Before anything is read:

- the zip's central directory is checked: member names must stay inside the archive (no
  ``../``, no absolute path, no drive letter, no NUL byte, no duplicate), the number of
  members, the total uncompressed size and each member's compression ratio stay within
  :class:`Limits` (zip bombs announce huge sizes or ratios);
- members are read **in memory**, never extracted to a path taken from the archive, and the
  reading stops as soon as a member yields more bytes than it declared or than the limits
  allow (headers can lie);
- XML is parsed with :mod:`defusedxml`: documents that declare entities (the "billion laughs"
  expansion bomb, external entities reading local files or URLs) are refused.

Every refusal raises :class:`~parcours_research.errors.UnsafeFileError`; a damaged or
truncated file raises :class:`~parcours_research.errors.QualDataError`. Both name the file
and the part that is wrong.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from ..errors import Problem, QualDataError, UnsafeFileError

__all__ = ["Limits", "SafeZip", "parse_xml", "check_member_name"]

_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Limits:
    """Ceilings applied to a foreign archive before and while it is read.

    Attributes
    ----------
    max_members : int
        Number of entries in the archive.
    max_total_size : int
        Sum of the uncompressed sizes, in bytes (default 1 GiB).
    max_member_size : int
        Uncompressed size of one entry, in bytes (default 512 MiB).
    max_ratio : float
        Uncompressed / compressed size of one entry. Text compresses 3-10x, XML up to ~30x; a
        ratio of hundreds or thousands is the signature of a zip bomb.
    ratio_floor : int
        Entries smaller than this (uncompressed) are not ratio-checked: tiny or empty files
        have meaningless ratios.
    """

    max_members: int = 10_000
    max_total_size: int = 1 << 30
    max_member_size: int = 512 << 20
    max_ratio: float = 200.0
    ratio_floor: int = 1 << 20


def check_member_name(name: str) -> str | None:
    """Why a zip member name is unsafe, or ``None`` when it is fine."""
    if "\x00" in name:
        return "contains a NUL byte"
    norm = name.replace("\\", "/")
    if norm.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(norm):
        return "starts with a drive letter"
    parts = PurePosixPath(norm).parts
    if any(p == ".." for p in parts) or any(p == ".." for p in norm.split("/")):
        return "climbs out of the archive with '..'"
    return None


class SafeZip:
    """A zip archive whose directory has been checked against :class:`Limits`.

    Use as a context manager; read members with :meth:`read` (bytes, in memory) or
    :meth:`read_text`. Nothing is ever written to disk.

    Parameters
    ----------
    path : str or Path
        The archive.
    limits : Limits, optional
    label : str, optional
        How the file is named in error messages (default: its file name).
    """

    def __init__(self, path: str | Path, limits: Limits | None = None, label: str | None = None):
        self.path = Path(path)
        self.limits = limits or Limits()
        self.label = label or self.path.name
        try:
            self._zip = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise QualDataError(f"{self.label}: file not found ({self.path}).") from None
        except (zipfile.BadZipFile, EOFError, OSError) as e:
            raise QualDataError(
                f"{self.label}: not a readable zip archive ({e}). The file is damaged or truncated; "
                "export it again from the QDA software (File > Export > REFI-QDA project)."
            ) from None
        try:
            self._check_directory()
        except Exception:
            self._zip.close()
            raise

    # ---- checks -------------------------------------------------------------------------
    def _check_directory(self) -> None:
        lim = self.limits
        infos = self._zip.infolist()
        problems: list[Problem] = []
        if len(infos) > lim.max_members:
            raise UnsafeFileError(
                f"{self.label}: the archive holds {len(infos)} entries, more than the limit of "
                f"{lim.max_members}; refused as a possible zip bomb. Raise Limits.max_members if the "
                "file is trusted."
            )
        seen: set[str] = set()
        total = 0
        for info in infos:
            why = check_member_name(info.filename)
            if why:
                problems.append(
                    Problem(
                        f"entry name {why}: refused (path traversal)",
                        self.label,
                        column=info.filename,
                        fix="do not open this file; ask for a clean export",
                    )
                )
                continue
            key = info.filename.replace("\\", "/").lower()
            if key in seen:
                problems.append(
                    Problem(
                        "entry appears twice in the archive",
                        self.label,
                        column=info.filename,
                        fix="ask for a clean export",
                    )
                )
            seen.add(key)
            total += info.file_size
            if info.file_size > lim.max_member_size:
                problems.append(
                    Problem(
                        f"entry declares {info.file_size:,} bytes uncompressed, more than the limit of "
                        f"{lim.max_member_size:,}",
                        self.label,
                        column=info.filename,
                        fix="refused as a possible zip bomb; raise Limits.max_member_size if trusted",
                    )
                )
            elif info.file_size >= lim.ratio_floor:
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > lim.max_ratio:
                    problems.append(
                        Problem(
                            f"entry compresses {ratio:,.0f} to 1 (limit {lim.max_ratio:,.0f})",
                            self.label,
                            column=info.filename,
                            fix="refused as a possible zip bomb; raise Limits.max_ratio if trusted",
                        )
                    )
        if total > lim.max_total_size:
            problems.append(
                Problem(
                    f"entries declare {total:,} bytes uncompressed in total, more than the limit of "
                    f"{lim.max_total_size:,}",
                    self.label,
                    fix="refused as a possible zip bomb; raise Limits.max_total_size if trusted",
                )
            )
        if problems:
            raise UnsafeFileError(f"{self.label} was refused as unsafe", problems)

    # ---- access ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Member names, with ``/`` separators."""
        return [i.filename.replace("\\", "/") for i in self._zip.infolist()]

    def find(self, name: str, *, case_sensitive: bool = False) -> str | None:
        """The member name matching ``name`` (``/`` separators; case-insensitive by default)."""
        target = name.replace("\\", "/").lstrip("/")
        for i in self._zip.infolist():
            n = i.filename.replace("\\", "/")
            if n == target or (not case_sensitive and n.lower() == target.lower()):
                return i.filename
        return None

    def read(self, name: str) -> bytes:
        """Read one member into memory, enforcing the declared size and the limits."""
        try:
            info = self._zip.getinfo(name)
        except KeyError:
            raise QualDataError(f"{self.label}: the archive has no entry {name!r}.") from None
        cap = min(info.file_size, self.limits.max_member_size)
        chunks = []
        got = 0
        try:
            with self._zip.open(info) as fh:
                while True:
                    block = fh.read(1 << 16)
                    if not block:
                        break
                    got += len(block)
                    if got > cap:
                        raise UnsafeFileError(
                            f"{self.label}: entry {name!r} yields more bytes than it declares "
                            f"({info.file_size:,}); refused as a possible zip bomb."
                        )
                    chunks.append(block)
        except UnsafeFileError:
            raise
        except (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError) as e:
            raise QualDataError(
                f"{self.label}: entry {name!r} cannot be read ({e}); the archive is damaged or "
                "truncated. Export it again from the QDA software."
            ) from None
        return b"".join(chunks)

    def read_text(self, name: str, encoding: str = "utf-8") -> str:
        """Read one member as text (a UTF-8 byte-order mark is dropped)."""
        raw = self.read(name)
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as e:
            raise QualDataError(
                f"{self.label}: entry {name!r} is not {encoding} text (byte {e.start}); "
                "REFI-QDA plain-text sources must be UTF-8."
            ) from None
        return text[1:] if text.startswith("\ufeff") else text

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def parse_xml(data: bytes | str, label: str) -> Element:
    """Parse XML with :mod:`defusedxml` (no entity declarations, no external references).

    Parameters
    ----------
    data : bytes or str
    label : str
        The file or archive entry, for error messages (``"project.qdpx: project.qde"``).

    Raises
    ------
    UnsafeFileError
        The document declares entities (entity-expansion bomb, external entity) or refers to
        an external resource.
    QualDataError
        The document is not well-formed XML (damaged or truncated).
    """
    try:
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.EntitiesForbidden as e:
        if e.sysid or e.pubid:
            what = (
                f"an external entity {e.name!r} pointing to {e.sysid or e.pubid!r} "
                "(XXE: it would read a local file or a URL)"
            )
        else:
            what = (
                f"an entity {e.name!r}; entity declarations are refused because nested "
                "entities expand exponentially ('billion laughs' XML bomb)"
            )
        raise UnsafeFileError(
            f"{label}: refused, the XML declares {what}. REFI-QDA files never need "
            "entities; ask for a clean export."
        ) from None
    except defusedxml.ExternalReferenceForbidden as e:
        raise UnsafeFileError(
            f"{label}: refused, the XML refers to an external resource ({e.sysid or e.pubid!r}). "
            "Ask for a clean export."
        ) from None
    except defusedxml.DTDForbidden as e:  # only when forbid_dtd is switched on
        raise UnsafeFileError(f"{label}: refused, the XML has a DTD ({e.name!r}).") from None
    except defusedxml.NotSupportedError as e:
        raise UnsafeFileError(f"{label}: refused, unsupported XML feature ({e}).") from None
    except ParseError as e:
        line, col = getattr(e, "position", (None, None))
        where = f" at line {line}, column {col}" if line is not None else ""
        raise QualDataError(
            f"{label}: not well-formed XML{where} ({_parse_msg(e)}); the file is damaged or "
            "truncated. Export it again from the QDA software."
        ) from None


def _parse_msg(e: ParseError) -> str:
    msg = str(e)
    return msg.split(":")[0] if ":" in msg else msg
