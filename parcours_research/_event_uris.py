"""Event logs named by a URI in study.yml (private; imports only :mod:`._files`).

``traces: events:`` may name the log by a URI instead of a path relative to the study folder:
``file:///data/exports/events.parquet``, ``s3a://bucket/events/*.parquet``,
``hdfs://namenode/events/``. A URI is an explicit opt-out of the rule that keeps every input
inside the study folder (``allow_outside_paths``): the study then depends on a place it does
not hold. A ``file:`` URI names this machine's (or every Spark executor's) disk and is checked
when the study is loaded, like a path: it must be absolute (``file:///``, three slashes) and
name an existing file, folder or pattern that matches. A remote URI cannot be checked without
the engine and its credentials: it is only checked for its form here, and listed and read by
the study's engine (:meth:`parcours_research.traces.engine.Engine.list_files`), whose failures
say the path, the engine and the cause (:class:`~parcours_research.errors.EngineReadError`).
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

from ._files import is_hidden, is_uri

__all__ = ["is_uri", "local_path", "uri_problems", "uri_files", "format_from_name"]

#: file-name endings that tell an event log's format (compression suffixes removed first)
_SUFFIX_FORMATS = (
    ((".parquet", ".pq"), "parquet"),
    ((".jsonl", ".ndjson", ".json"), "jsonl"),
    ((".csv", ".tsv", ".txt"), "csv"),
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.S)


def local_path(uri: str) -> str | None:
    """The path on this machine of a ``file:`` URI (``file:///data/x`` or Hadoop's
    ``file:/data/x``), None for any other URI or a path."""
    if not isinstance(uri, str) or not uri.lower().startswith("file:"):
        return None
    return "/" + uri[5:].lstrip("/")


def format_from_name(name: str) -> str | None:
    """``"parquet"``, ``"jsonl"`` or ``"csv"`` from a file name or URI's ending, else None."""
    low = name.lower().rstrip("/")
    for z in (".gz", ".bz2", ".zst"):
        low = low.removesuffix(z)
    for endings, fmt in _SUFFIX_FORMATS:
        if low.endswith(endings):
            return fmt
    return None


def uri_files(uri: str) -> list[str]:
    """The local files a ``file:`` URI names (a file, a pattern, or a folder read whole,
    hidden files left out), sorted by path; [] when none or for a remote URI."""
    path = local_path(uri)
    if path is None:
        return []
    if any(ch in path for ch in "*?["):
        return sorted(p for p in glob.glob(path) if Path(p).is_file())
    p = Path(path)
    if p.is_dir():
        return sorted(
            str(q) for q in p.rglob("*") if q.is_file() and not is_hidden(str(q.relative_to(p)))
        )
    return [path] if p.is_file() else []


def uri_problems(uri: str) -> list[tuple[str, str]]:
    """``(message, fix)`` for each problem of an event-log URI found without reading it: a
    ``file:`` URI that is not absolute or names nothing; a URI with no path."""
    m = _SCHEME.match(uri)
    if m is None:  # pragma: no cover - the caller checked is_uri
        return [
            (f"{uri!r} is not a URI", "write scheme://location, e.g. file:///data/events.parquet")
        ]
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme != "file":
        if not rest.strip("/"):
            return [(f"{uri!r} names no bucket, host or path", "write e.g. s3a://bucket/events/")]
        return []
    if not rest.startswith("/"):
        return [
            (
                f"{uri!r} is not an absolute file URI (the part after file:// is a host name)",
                f"write three slashes and the absolute path: file:///{rest}",
            )
        ]
    if uri_files(uri):
        return []
    path = local_path(uri)
    if any(ch in path for ch in "*?["):
        return [(f"no file matches {uri!r}", "check the folder and the pattern")]
    if Path(path).is_dir():
        return [(f"folder {uri!r} holds no event file", "put .parquet, .json or .csv files in it")]
    return [(f"file {uri!r} does not exist", "check the absolute path after file://")]
