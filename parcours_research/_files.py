"""Open a study input safely (private, bottom layer: imports only :mod:`.errors`).

One job: before any loader reads a file named by ``study.yml`` (or given to the API), check that

- it is a **regular file** (not a FIFO, a device, a socket or a directory; a symlink is judged
  by what it points to, so a link to ``/dev/zero`` is refused);
- its path, with every symlink resolved, lies **inside the study folder**, unless study.yml
  says ``allow_outside_paths: true``;
- its size is within :class:`FileLimits` (``max_file_mb``; ``max_events_mb`` for event logs);
- a compressed file (``.gz``, ``.bz2``, ``.xz``) is complete (a truncated ``.gz`` is an error)
  and does not expand by more than ``max_ratio`` (a gzip bomb is refused after reading a few
  hundred kilobytes, long before memory runs out), nor beyond ``max_events_mb``;
- no line of a text file is longer than ``max_line_kb`` (DuckDB stops at 2 MiB per line).

Refusals raise :class:`~parcours_research.errors.UnsafeFileError`; a damaged file (truncated
archive, over-long line) raises the class the caller names (``TraceDataError``, ...). No
message ever shows a byte of the file: only its name, sizes, line numbers and the rule broken.

These rules apply to **local paths** only: files this machine opens. An event log named by a
URI (``s3a://``, ``s3://``, ``hdfs://``, ``abfss://``, ``gs://``, ``file:///``; see
:func:`is_uri`) is read by the trace engine, wherever it runs, and checked by it (see
:mod:`parcours_research.traces.io`): the driver never opens it.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from .errors import Problem, StudyError, UnsafeFileError

__all__ = [
    "is_uri",
    "is_hidden",
    "FileLimits",
    "DEFAULT_LIMITS",
    "STUDY_FILE_MAX_BYTES",
    "safe_path",
    "scan_text",
    "check_zip",
    "limits_from_yaml",
    "safe_yaml",
    "YAMLExpansionError",
    "YAML_MAX_NODES",
]

#: study.yml itself is read before its ``limits:`` are known: one fixed ceiling (1 MiB).
STUDY_FILE_MAX_BYTES = 1 << 20
_MB = 1 << 20
_CHUNK = 1 << 20
_COMPRESSED = {".gz": gzip, ".gzip": gzip, ".bz2": bz2, ".xz": lzma}
_OPAQUE = (".zst", ".zstd", ".lz4", ".snappy")


@dataclass(frozen=True)
class FileLimits:
    """Ceilings applied to every input file of a study (``limits:`` in study.yml).

    Attributes
    ----------
    max_file_mb : float, default 1024
        Size of any input read into memory (survey responses, customers, identity map,
        excerpts, QDA projects), in MiB.
    max_events_mb : float, default 65536
        Size of an event log (read by the engine, streamed), in MiB; for a compressed log,
        also its size once decompressed.
    max_ratio : float, default 100
        Decompressed size / compressed size of a ``.gz``, ``.bz2`` or ``.xz`` file and of the
        members of a zip (``.xlsx``). CSV logs compress 5-20x; a ratio of hundreds or
        thousands is the signature of a decompression bomb. Files under 1 MiB once
        decompressed are not ratio-checked.
    max_line_kb : float, default 1024
        Length of one line of a CSV or JSON Lines file, in KiB.
    """

    max_file_mb: float = 1024
    max_events_mb: float = 65536
    max_ratio: float = 100.0
    max_line_kb: float = 1024

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * _MB)

    @property
    def max_events_bytes(self) -> int:
        return int(self.max_events_mb * _MB)

    @property
    def max_line_bytes(self) -> int:
        return int(self.max_line_kb * 1024)


DEFAULT_LIMITS = FileLimits()
LIMIT_KEYS = tuple(f.name for f in fields(FileLimits))

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a URI with a scheme (``s3a://bucket/key``, ``file:///data/x``),
    which the trace engine reads and checks, rather than a local path this machine opens."""
    return isinstance(path, str) and bool(_URI.match(path))


def is_hidden(relative: str) -> bool:
    """Whether a file of a folder, by its path relative to the folder, is left out when the
    folder is read whole, by the rule Spark applies: a name (of the file or of a folder on
    the way) starting with ``.`` or ``_`` (``_SUCCESS``, ``.crc`` files, ``_temporary/``), a
    Hive partition ``_key=value`` excepted, or a file still being copied (``._COPYING_``)."""
    parts = [p for p in relative.replace("\\", "/").split("/") if p]
    if parts and parts[-1].endswith("._COPYING_"):
        return True
    return any(p.startswith(".") or (p.startswith("_") and "=" not in p) for p in parts)


def limits_from_yaml(raw: Any, key: str = "limits") -> tuple[FileLimits, list[Problem]]:
    """The limits of a ``limits:`` mapping of study.yml and the problems found in it."""
    if raw is None:
        return DEFAULT_LIMITS, []
    if not isinstance(raw, Mapping):
        return DEFAULT_LIMITS, [
            Problem(
                "must be a mapping of limits",
                "study.yml",
                column=key,
                fix=f"write e.g. `limits: {{max_file_mb: 2048}}`; keys: {', '.join(LIMIT_KEYS)}",
            )
        ]
    values, problems = {}, []
    for k, v in raw.items():
        if k not in LIMIT_KEYS:
            continue  # unknown keys are reported by the study.yml key check
        if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
            problems.append(
                Problem(
                    f"{v!r} is not a positive number",
                    "study.yml",
                    column=f"{key}.{k}",
                    fix="write a number such as 2048",
                )
            )
            continue
        values[k] = float(v)
    return replace(DEFAULT_LIMITS, **values), problems


# ---------------------------------------------------------------------------------------------
def _label(path: Path, root: Path | None, label: str | None) -> str:
    if label:
        return label
    if root is not None:
        try:
            return str(path.relative_to(root))
        except ValueError:
            pass
    return str(path)


def _refuse(label: str, message: str, fix: str) -> UnsafeFileError:
    return UnsafeFileError(f"Refused to read {label}", [Problem(message, label, fix=fix)])


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def safe_path(
    path: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    allow_outside: bool = False,
    limits: FileLimits | None = None,
    events: bool = False,
    label: str | None = None,
    missing_cls: type = StudyError,
) -> Path:
    """The resolved path of an input file, after the checks of this module.

    Parameters
    ----------
    path : path
        The file (relative paths are relative to the working directory, or to ``root``).
    root : path, optional
        The study folder: the file, symlinks resolved, must lie inside it unless
        ``allow_outside``. Without a root nothing is checked about where the file is.
    allow_outside : bool, default False
        study.yml's ``allow_outside_paths: true``.
    limits : FileLimits, optional
    events : bool, default False
        An event log: ``max_events_mb`` applies instead of ``max_file_mb``.
    label : str, optional
        How the file is named in messages (default: its path relative to ``root``).
    missing_cls : type
        Error class raised for a file that does not exist.

    Returns
    -------
    Path
        The real path of the file (symlinks resolved).

    Raises
    ------
    UnsafeFileError
        Not a regular file, outside the study folder, or larger than the limit.
    """
    lim = limits or DEFAULT_LIMITS
    p = Path(path)
    if root is not None and not p.is_absolute():
        p = Path(root) / p
    label = _label(p, Path(root) if root is not None else None, label)
    try:
        real = p.resolve(strict=True)
        st = os.stat(real)
    except FileNotFoundError:
        raise missing_cls(
            f"Cannot read {label}", [Problem("file not found", label, fix="check the path")]
        ) from None
    except (OSError, RuntimeError) as e:  # symlink loop, permission denied
        raise _refuse(
            label,
            f"cannot be opened ({type(e).__name__}: {e.strerror or 'symlink loop'})",
            "point to an ordinary readable file",
        ) from None
    if root is not None and not allow_outside:
        real_root = Path(root).resolve()
        if not real.is_relative_to(real_root):
            raise _refuse(
                label,
                f"resolves to {real}, outside the study folder {real_root} (through a symlink or '..')",
                "copy the file into the study folder, or set `allow_outside_paths: true` at the top "
                "of study.yml if you trust where it points",
            )
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(
            label,
            f"is {_kind(st.st_mode)}, not a regular file",
            "point to an ordinary file (an export saved on disk)",
        )
    cap = lim.max_events_bytes if events else lim.max_file_bytes
    if st.st_size > cap:
        key = "max_events_mb" if events else "max_file_mb"
        raise _refuse(
            label,
            f"is {st.st_size / _MB:,.1f} MiB, more than the limit of {cap / _MB:,.0f} MiB",
            f"split the file, or raise `limits: {{{key}: ...}}` in study.yml if it is expected",
        )
    return real


# ---------------------------------------------------------------------------------------------
_SCANNED: dict[tuple, dict] = {}


def _chunks(real: Path, label: str, lim: FileLimits, cls: type):
    """Decompressed chunks of a file, the decompression ratio and ceiling enforced."""
    module = _COMPRESSED.get(real.suffix.lower())
    if module is None:
        with open(real, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk
        return
    with open(real, "rb") as raw, module.open(raw, "rb") as fh:
        out = 0
        while True:
            try:
                chunk = fh.read(_CHUNK)
            except EOFError:
                raise cls(
                    f"Cannot read {label}",
                    [
                        Problem(
                            "the compressed file is truncated (its end is missing)",
                            label,
                            fix="copy or download the file again; `gzip -t FILE` checks it",
                        )
                    ],
                ) from None
            except (OSError, zlib.error, lzma.LZMAError):
                raise cls(
                    f"Cannot read {label}",
                    [
                        Problem(
                            f"the compressed data is damaged (not valid {real.suffix.lstrip('.')} data)",
                            label,
                            fix="copy or download the file again",
                        )
                    ],
                ) from None
            if not chunk:
                return
            out += len(chunk)
            _check_ratio(out, raw.tell(), label, lim)
            yield chunk


def _check_ratio(out: int, consumed: int, label: str, lim: FileLimits) -> None:
    if out > lim.max_events_bytes:
        raise _refuse(
            label,
            f"expands beyond {lim.max_events_mb:,.0f} MiB once decompressed",
            "raise `limits: {max_events_mb: ...}` in study.yml if the file is expected",
        )
    if out > _MB and out > lim.max_ratio * max(consumed, 1):
        raise _refuse(
            label,
            f"expands more than {lim.max_ratio:g} times ({consumed:,} compressed bytes gave "
            f"{out:,} bytes): refused as a possible decompression bomb",
            "raise `limits: {max_ratio: ...}` in study.yml only if you trust the file",
        )


def scan_text(
    path: str | os.PathLike,
    *,
    limits: FileLimits | None = None,
    label: str | None = None,
    cls: type = StudyError,
    check_lines: bool = True,
) -> dict:
    """Read a text input once, to the end: decompression (complete, within ratio) and line
    lengths. Returns ``{"bytes": decompressed size, "lines": newline count}``.

    The result is remembered per (file, size, modification time, limits), so a log is
    scanned once per process however many times it is read. ``path`` must already be
    checked by :func:`safe_path`.
    """
    lim = limits or DEFAULT_LIMITS
    real = Path(path)
    label = label or str(real)
    st = os.stat(real)
    if real.suffix.lower() in _OPAQUE:  # compressed in a way only the engine decodes
        return {"bytes": st.st_size, "lines": None}
    key = (str(real), st.st_size, st.st_mtime_ns, lim, check_lines)
    if key in _SCANNED:
        return _SCANNED[key]
    max_line = lim.max_line_bytes
    n_bytes = n_lines = 0
    current = 0  # length of the line in progress
    for chunk in _chunks(real, label, lim, cls):
        n_bytes += len(chunk)
        if check_lines:
            current = _line_lengths(
                chunk, current, max_line, lambda: _long_line(real, label, lim, cls)
            )
        n_lines += _count_lines(chunk)
    result = {"bytes": n_bytes, "lines": n_lines}
    _SCANNED[key] = result
    return result


def _line_lengths(chunk: bytes, current: int, max_line: int, fail) -> int:
    """The length of the line in progress after ``chunk``; calls ``fail`` on a long line.

    The lines between the chunk's first and last newline are checked by blocks of
    ``max_line // 2 + 1`` bytes: when every block holds a newline, no line between them is
    longer than ``max_line`` (a longer one would hold a whole block). A few ``find`` calls a
    chunk, instead of locating every newline; a block without one (a line near the limit)
    sends the chunk to the exact count of :func:`_longest_line`."""
    first = chunk.find(b"\n")
    if first < 0:
        current += len(chunk)
        if current > max_line:
            fail()
        return current
    if current + first > max_line:
        fail()
    last = chunk.rfind(b"\n")
    step = max_line // 2 + 1
    if last > first:
        if step < _MIN_BLOCK:  # a tiny limit: blocks would be too many
            exact = True
        else:
            exact = any(
                chunk.find(b"\n", i, min(i + step, last + 1)) < 0
                for i in range(first + 1, last, step)
            )
        if exact and _longest_line(chunk, first, last) > max_line:
            fail()
    current = len(chunk) - last - 1
    if current > max_line:
        fail()
    return current


#: below this block size (a ``max_line_kb`` of a few KiB), lines are measured one by one
_MIN_BLOCK = 4096


def _longest_line(chunk: bytes, first: int, last: int) -> int:
    """The longest line strictly between the newlines at ``first`` and ``last``."""
    import numpy as np

    # newline positions found by numpy: a 1 GB log is scanned in about a second, where a
    # split into one bytes object per line took several
    nl = np.flatnonzero(
        np.frombuffer(chunk, dtype=np.uint8, count=last - first + 1, offset=first) == 10
    )
    return int(np.diff(nl).max()) - 1


def _count_lines(chunk: bytes) -> int:
    """The newlines in ``chunk`` (numpy counts them about 3x faster than ``bytes.count``)."""
    import numpy as np

    return int(np.count_nonzero(np.frombuffer(chunk, dtype=np.uint8) == 10))


def _long_line(real: Path, label: str, lim: FileLimits, cls: type):
    """Raise naming the first over-long line (found again, line by line)."""
    line_no, current = 1, 0
    for chunk in _chunks(real, label, lim, cls):
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            end = nl if nl >= 0 else len(chunk)
            current += end - start
            if current > lim.max_line_bytes:
                raise cls(
                    f"Cannot read {label}",
                    [
                        Problem(
                            f"line {line_no} is longer than {lim.max_line_kb:g} KiB (the limit for one "
                            "line; DuckDB's reader stops at 2 MiB)",
                            label,
                            row=line_no,
                            fix="check the quoting of that row or shorten the field (a pasted document, a "
                            "runaway user agent); raise `limits: {max_line_kb: ...}` only below 2048",
                        )
                    ],
                )
            if nl < 0:
                break
            line_no, current, start = line_no + 1, 0, nl + 1
    raise AssertionError("unreachable: a long line was seen")  # pragma: no cover


def check_zip(
    path: str | os.PathLike, *, limits: FileLimits | None = None, label: str | None = None
) -> None:
    """Refuse a zip container (``.xlsx``, ...) whose members announce a decompression bomb
    or names that leave the archive. ``path`` must already be checked by :func:`safe_path`."""
    lim = limits or DEFAULT_LIMITS
    label = label or str(path)
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return  # not a zip at all: the reader says what the file is not
    total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/"):
            raise _refuse(
                label,
                f"holds an entry whose name leaves the archive ({name[:80]!r})",
                "do not open this file; ask for a clean export",
            )
        total += info.file_size
        if info.file_size > _MB and info.file_size > lim.max_ratio * max(info.compress_size, 1):
            raise _refuse(
                label,
                f"entry {name[:80]!r} expands {info.file_size / max(info.compress_size, 1):,.0f} "
                "times: refused as a possible decompression bomb",
                "raise `limits: {max_ratio: ...}` in study.yml only if you trust the file",
            )
    if total > lim.max_file_bytes:
        raise _refuse(
            label,
            f"expands to {total / _MB:,.0f} MiB, more than the limit of {lim.max_file_mb:,.0f} MiB",
            "raise `limits: {max_file_mb: ...}` in study.yml",
        )


# ---------------------------------------------------------------------------------------------
#: values a YAML file of the kit may hold once its aliases are expanded (study.yml is read
#: before its ``limits:``, so this ceiling is fixed)
YAML_MAX_NODES = 100_000


class YAMLExpansionError(yaml.YAMLError):
    """A YAML document whose aliases expand beyond the limit (a "billion laughs" file)."""


def _expanded_size(node: yaml.Node, limit: int = YAML_MAX_NODES) -> int:
    """Number of values ``node`` holds once every alias is expanded; stops past ``limit``
    (each distinct node is measured once, so this is quick even for a billion laughs)."""
    sizes: dict[int, int] = {}
    busy: set[int] = set()

    def size(n: yaml.Node) -> int:
        if id(n) in sizes:
            return sizes[id(n)]
        if id(n) in busy:
            raise YAMLExpansionError("an alias refers to itself (a recursive structure)")
        busy.add(id(n))
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(size(c) for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        busy.discard(id(n))
        if total > limit:
            raise YAMLExpansionError(
                f"its aliases (*name) expand to more than {limit:,} values (a 'billion laughs' file)"
            )
        sizes[id(n)] = total
        return total

    return size(node)


def safe_yaml(text: str, max_nodes: int = YAML_MAX_NODES, loader=yaml.SafeLoader):
    """``yaml.safe_load`` that refuses documents whose aliases expand beyond ``max_nodes``
    values (raises :class:`YAMLExpansionError`, a ``yaml.YAMLError``)."""
    ld = loader(text)
    try:
        node = ld.get_single_node()
        if node is None:
            return None
        _expanded_size(node, max_nodes)
        return ld.construct_document(node)
    finally:
        ld.dispose()
