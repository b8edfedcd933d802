"""The shared workshop rating store: one SQLite file (WAL mode) that every participant's kernel
writes to and reads from.

SQLite is embedded (nothing to start), its commits are atomic (a kernel killed during a write
leaves the store as before that rating), and WAL mode lets readers read while one writer writes.
Each rating is one ``INSERT`` in its own ``BEGIN IMMEDIATE`` transaction; the table is created
with ``CREATE TABLE IF NOT EXISTS``, so two writers starting together cannot write two headers.
Values are bound as parameters, never spliced into SQL, so no participant name can corrupt it.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pandas as pd

SQLITE_MAGIC = b"SQLite format 3\x00"

#: Columns of the workshop rating table, in order.
COLUMNS = ("recorded_at", "session", "participant", "role", "persona", "touchpoint", "score", "comment")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT NOT NULL,
    session TEXT NOT NULL,
    participant TEXT NOT NULL,
    role TEXT,
    persona TEXT,
    touchpoint TEXT NOT NULL,
    score INTEGER NOT NULL,
    comment TEXT NOT NULL DEFAULT ''
)
"""

#: Seconds a writer waits for another writer's transaction before giving up.
BUSY_TIMEOUT = 30.0


def is_sqlite(path: Path) -> bool:
    """Whether ``path`` is an SQLite database (by its 16-byte header, not its name)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the store at ``path`` (created with its table if missing), in WAL mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")  # each commit reaches the disk before add() returns
    con.execute(_SCHEMA)
    return con


def append(path: Path, row: dict) -> int:
    """Insert one rating in its own transaction; returns its id (1, 2, … in recording order)."""
    with closing(connect(path)) as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            cur = con.execute(
                f"INSERT INTO ratings ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                [row[c] for c in COLUMNS],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return int(cur.lastrowid)


def read(path: Path) -> pd.DataFrame:
    """Every rating of the store, in recording order (columns :data:`COLUMNS`)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT)) as con:
        rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM ratings ORDER BY id").fetchall()
    return pd.DataFrame(rows, columns=list(COLUMNS))


def version(path: Path) -> int:
    """The id of the last rating (0 when none): it changes exactly when a rating is added, so a
    board polls it to know when to refresh."""
    if not path.exists():
        return 0
    uri = f"{path.resolve().as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT)) as con:
        try:
            (last,) = con.execute("SELECT COALESCE(MAX(id), 0) FROM ratings").fetchone()
        except sqlite3.OperationalError:  # created but no table yet
            return 0
    return int(last)
