"""Text files read without silent loss: which encoding, and CSV quotes that swallow rows.

The bottom layer under every CSV reader of the kit (survey responses, customer file, identity
map). It decides how bytes become text and checks that the CSV quoting did not merge rows.

The encoding rule
-----------------
1. An encoding declared in study.yml (``survey: encoding: cp1252``) is honoured; a byte that
   does not decode with it is an error naming the line.
2. Otherwise a byte-order mark decides: UTF-8 with BOM, UTF-16 or UTF-32.
3. Otherwise UTF-8 when the whole file is UTF-8.
4. Otherwise the lines are looked at one by one. When some lines are UTF-8 with accents and
   others are not UTF-8, the file mixes encodings: an error lists the lines that are not UTF-8
   (decoding the whole file either way would garble one group of lines).
5. Otherwise (no line is UTF-8 with accents) the file is read as Windows-1252, what Excel's
   "CSV" writes on Windows; a file that is not Windows-1252 either is an error.

After decoding, text that looks like UTF-8 read as Windows-1252 (``TrÃ¨s``, ``Ã©``, ``â€™``:
*mojibake*) is counted and reported as a warning (:class:`TextFile.notes`).

The quote check
---------------
A cell that opens a quote and never closes it swallows the following lines into one cell. A
cell spanning lines is legitimate (a comment with a line break), so the check flags a cell only
when lines inside it look like rows of the file (as many separators as the header, or the same
first-cell shape as the row holding it). The error names the line where the quote opens.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import Problem, StudyError

__all__ = [
    "TextFile",
    "decode_bytes",
    "read_text_file",
    "read_csv_checked",
    "mojibake",
    "quote_problems",
    "sniff_separator",
]

#: Lines listed by name in an encoding error (the rest are counted).
MAX_LINES_LISTED = 10
#: A cell longer than this, spanning lines, is checked for swallowed rows even with few of them.
LONG_CELL = 10_000

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# a character that can start a UTF-8 sequence, as Windows-1252 shows it, followed by one or two
# characters that Windows-1252 shows for UTF-8 continuation bytes 0x80-0xBF
_CONT = (
    "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014"
    "\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
)
_MOJIBAKE = re.compile(f"[\u00c2-\u00df\u00e0-\u00ef][{_CONT}]{{1,2}}")


@dataclass(frozen=True)
class TextFile:
    """Decoded text and how it was decoded.

    Attributes
    ----------
    text : str
    encoding : str
        The codec used (``utf-8``, ``utf-8-sig``, ``utf-16``, ``cp1252`` or the declared one).
    notes : tuple of Problem
        Warnings that did not stop the reading (mojibake counted).
    """

    text: str
    encoding: str
    notes: tuple[Problem, ...] = ()


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def _n_lines(lines: list[int]) -> str:
    return f"{len(lines)} line{'s' if len(lines) != 1 else ''}"


def _lines_listed(lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:MAX_LINES_LISTED])
    more = len(lines) - MAX_LINES_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _declared(raw: bytes, encoding: str, name: str, error: type, declare_hint: str) -> TextFile:
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise error(
            f"Cannot read {name}",
            [
                Problem(
                    f"unknown encoding {encoding!r}",
                    name,
                    fix=f"{declare_hint}: use a Python codec name such as utf-8, cp1252, latin-1, utf-16",
                )
            ],
        ) from None
    if codec == "utf-8" and raw.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as e:
        line = _line_of(raw, e.start)
        raise error(
            f"Cannot read {name}",
            [
                Problem(
                    f"line {line} is not {encoding} (byte 0x{raw[e.start]:02X}), the encoding declared "
                    "in study.yml",
                    name,
                    fix="fix that line, re-save the file in the declared encoding, or change `encoding:`",
                )
            ],
        ) from None
    return TextFile(text, codec, _mojibake_notes(text, name))


def _bom(raw: bytes) -> str | None:
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            return codec
    return None


def decode_bytes(
    raw: bytes,
    name: str,
    *,
    encoding: str | None = None,
    error: type = StudyError,
    declare_hint: str = "declare `encoding:` under `survey:` in study.yml",
) -> TextFile:
    """Decode the bytes of a text file by the rule of this module.

    Parameters
    ----------
    raw : bytes
    name : str
        The file name shown in errors.
    encoding : str, optional
        The declared encoding (honoured; it disables detection).
    error : type
        The :class:`~parcours_research.errors.StudyError` subclass raised.
    declare_hint : str
        Where this file's encoding can be declared (shown in the fix of an error).

    Returns
    -------
    TextFile

    Raises
    ------
    StudyError (``error``)
        A byte not in the declared encoding; a file mixing UTF-8 and another encoding (its lines
        that are not UTF-8 listed); a file that is neither UTF-8 nor Windows-1252.
    """
    if encoding:
        return _declared(raw, encoding, name, error, declare_hint)
    codec = _bom(raw)
    if codec in ("utf-16", "utf-32"):
        try:
            return TextFile(raw.decode(codec), codec, ())
        except UnicodeDecodeError as e:
            raise error(
                f"Cannot read {name}",
                [
                    Problem(
                        f"the file starts with a {codec.upper()} byte-order mark but is not valid "
                        f"{codec.upper()} (at byte {e.start})",
                        name,
                        fix="re-save the file as CSV UTF-8",
                    )
                ],
            ) from None
    body = raw[3:] if codec == "utf-8-sig" else raw
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _not_utf8(raw, name, error, declare_hint)
    return TextFile(text, codec or "utf-8", _mojibake_notes(text, name))


def _not_utf8(raw: bytes, name: str, error: type, declare_hint: str) -> TextFile:
    """A file that is not UTF-8 as a whole: mixed (an error) or one legacy encoding."""
    utf8_lines, other_lines = [], []
    for k, line in enumerate(raw.split(b"\n"), 1):
        if not any(b >= 0x80 for b in line):
            continue
        try:
            line.decode("utf-8")
            utf8_lines.append(k)
        except UnicodeDecodeError:
            other_lines.append(k)
    if utf8_lines:
        first = raw.split(b"\n")[other_lines[0] - 1].decode("cp1252", "replace").strip()
        raise error(
            f"Cannot read {name}",
            [
                Problem(
                    f"the file mixes encodings: {_n_lines(utf8_lines)} with accents "
                    f"{'is' if len(utf8_lines) == 1 else 'are'} UTF-8 but {len(other_lines)} "
                    f"{'is' if len(other_lines) == 1 else 'are'} not (line"
                    f"{'s' if len(other_lines) > 1 else ''} {_lines_listed(other_lines)}; line "
                    f"{other_lines[0]} reads {first[:60]!r} in Windows-1252); decoding it whole either "
                    "way would garble one group of lines",
                    name,
                    fix="re-type or re-save those lines as UTF-8 and save the whole file as CSV UTF-8, "
                    f"or {declare_hint} (the lines in the other encoding are then reported as mojibake)",
                )
            ],
        )
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError as e:
        raise error(
            f"Cannot read {name}",
            [
                Problem(
                    f"the file is neither UTF-8 nor Windows-1252 (line {_line_of(raw, e.start)}, "
                    f"byte 0x{raw[e.start]:02X})",
                    name,
                    fix=f"save it as CSV UTF-8 from your spreadsheet, or {declare_hint}",
                )
            ],
        ) from None
    return TextFile(text, "cp1252", _mojibake_notes(text, name))


def read_text_file(path: str | Path, name: str | None = None, **options) -> TextFile:
    """:func:`decode_bytes` on a file's bytes (``options`` are its keywords)."""
    path = Path(path)
    return decode_bytes(path.read_bytes(), name or path.name, **options)


def mojibake(text: str) -> tuple[int, list[int], list[tuple[str, str]]]:
    """Count UTF-8 read as Windows-1252 in ``text``.

    Returns
    -------
    (n, lines, examples)
        The number of garbled characters, the line numbers holding them (1-based), and up to
        three ``(garbled, meant)`` pairs such as ``("Ã¨", "è")``.
    """
    n, lines, examples = 0, [], []
    for m in _MOJIBAKE.finditer(text):
        token = m.group()
        meant = None
        for cand in (token, token[:2]):
            try:
                meant = cand.encode("cp1252").decode("utf-8")
                token = cand
                break
            except UnicodeError:
                continue
        if meant is None or len(meant) != 1:
            continue
        n += 1
        line = text.count("\n", 0, m.start()) + 1
        if not lines or lines[-1] != line:
            lines.append(line)
        if len(examples) < 3 and (token, meant) not in examples:
            examples.append((token, meant))
    return n, lines, examples


def _mojibake_notes(text: str, name: str) -> tuple[Problem, ...]:
    n, lines, examples = mojibake(text)
    if not n:
        return ()
    shown = ", ".join(f"{g!r} for {m!r}" for g, m in examples)
    return (
        Problem(
            f"{n} character{'s' if n != 1 else ''} on {_n_lines(lines)} look"
            f"{'s' if n == 1 else ''} like UTF-8 read as Windows-1252 (mojibake: {shown}; "
            f"line{'s' if len(lines) != 1 else ''} {_lines_listed(lines)})",
            name,
            fix="the text was garbled before this file was written (saved twice with different "
            "encodings): re-export it from the source as CSV UTF-8, or fix those cells",
        ),
    )


# ---- CSV quoting ---------------------------------------------------------------------------


def sniff_separator(text: str) -> str:
    """``;``, ``,`` or tab: the csv sniffer on the first 20,000 characters, else the most
    frequent of the three on the first line."""
    head = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(text[:20000], delimiters=";,\t").delimiter
    except csv.Error:
        counts = {sep: head.count(sep) for sep in (";", ",", "\t")}
        return max(counts, key=counts.get)


def _shape(value: str) -> str:
    """The shape of an id: runs of digits as 9, of letters as a (``R0102`` -> ``a9``)."""
    return re.sub(r"[^\W\d_]+", "a", re.sub(r"\d+", "9", value.strip()))


def _row_like(line: str, sep: str, n_columns: int, first_shape: str) -> bool:
    """Does a line inside a cell look like a row of the file?"""
    if n_columns < 2 or line.count(sep) < n_columns - 1:
        return False
    head = line.split(sep, 1)[0].strip().strip('"')
    return bool(head) and (_shape(head) == first_shape or n_columns >= 3)


def quote_problems(text: str, sep: str, name: str, *, header_rows: int = 1) -> list[Problem]:
    """Cells whose quote swallowed rows of the file (see the module's notes).

    Returns one :class:`Problem` per such cell, naming the line where the quote opens, the
    line where the cell ends, how many lines inside look like rows, and the cell's length.
    """
    if '"' not in text:  # no quote: no cell holds a line break, so none swallows rows
        return []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    problems: list[Problem] = []
    header: list[str] | None = None
    start, row = 1, 0
    try:
        for rec in reader:
            row += 1
            end = reader.line_num
            if header is None:
                header = rec
            elif row > header_rows and end > start:  # one line: no cell holds a line break
                problems += _swallowed(rec, start, end, row, header, sep, name)
            start = end + 1
    except csv.Error:  # the readers report malformed CSV themselves
        return problems
    return problems


def _swallowed(rec, start, end, row, header, sep, name) -> list[Problem]:
    out = []
    first_shape = _shape(rec[0]) if rec else ""
    for j, cell in enumerate(rec):
        if "\n" not in cell and "\r" not in cell:
            continue
        inner = cell.splitlines()[1:]
        rows_inside = sum(_row_like(ln, sep, len(header), first_shape) for ln in inner)
        strong = any(
            _row_like(ln, sep, len(header), first_shape)
            and _shape(ln.split(sep, 1)[0].strip()) == first_shape
            for ln in inner
        )
        if not (strong or rows_inside >= 3 or (rows_inside and len(cell) > LONG_CELL)):
            continue
        opens = start + sum(c.count("\n") for c in rec[:j])
        column = header[j] if j < len(header) else f"#{j + 1}"
        lines = (
            f"{rows_inside} lines that look like rows"
            if rows_inside != 1
            else "1 line that looks like a row"
        )
        out.append(
            Problem(
                f"a quote opens on line {opens} and is not closed until line {end}: {lines} of "
                f"the file {'was' if rows_inside == 1 else 'were'} read as text inside one "
                f"{len(cell):,}-character cell",
                name,
                row=row,
                column=column,
                fix=f'close the quote on line {opens} (a quote inside a cell is written twice: ""), '
                "or re-export the file; until then those rows are lost",
            )
        )
    return out


def read_csv_checked(
    path: str | Path,
    name: str | None = None,
    *,
    sep: str | None = None,
    error: type = StudyError,
    declare_hint: str = "re-save the file as CSV UTF-8",
    **read_csv,
):
    """``pandas.read_csv`` on a file decoded by this module's rule and checked for quotes that
    swallow rows; mojibake is warned about (:class:`~parcours_research.errors.DataQualityWarning`).

    Parameters
    ----------
    path : path
    name : str, optional
        The file name shown in errors (default: the file's name).
    sep : str, optional
        The separator (default: sniffed, ``;``, ``,`` or tab).
    error : type
        The :class:`~parcours_research.errors.StudyError` subclass raised.
    declare_hint : str
        What to do about an encoding (shown in the fix of an error).
    **read_csv
        Other keywords of :func:`pandas.read_csv`.

    Returns
    -------
    (DataFrame, TextFile)
    """
    import warnings

    import pandas as pd

    from .errors import DataQualityWarning

    path = Path(path)
    name = name or path.name
    decoded = read_text_file(path, name, error=error, declare_hint=declare_hint)
    if not decoded.text.strip():
        raise error(
            f"Cannot read {name}",
            [Problem("the file is empty", name, fix="export it again, with its header row")],
        )
    sep = sep or sniff_separator(decoded.text)
    problems = quote_problems(decoded.text, sep, name)
    if problems:
        raise error(f"Cannot read {name}", problems)
    for note in decoded.notes:
        warnings.warn(str(note), DataQualityWarning, stacklevel=3)
    try:
        df = pd.read_csv(io.StringIO(decoded.text), sep=sep, **read_csv)
    except (ValueError, csv.Error) as e:  # pandas' ParserError is a ValueError
        raise error(
            f"Cannot read {name}",
            [
                Problem(
                    f"not a well-formed CSV file: {e}",
                    name,
                    fix="check the quotes and the number of cells on that line; re-export the file",
                )
            ],
        ) from None
    return df, decoded
