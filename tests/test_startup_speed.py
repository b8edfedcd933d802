"""What a fresh report pays before its sections (issue 20, sixth session): the safety scan of a
text event log, the one sniff of a CSV log, the materialised log of the prepared evidence and
the imports of ``validate``. Each faster path is compared here with the code it replaced (kept
below as the exact reference), or with DuckDB's own automatic reading."""

from __future__ import annotations

import gzip
import random
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from parcours_research import _files
from parcours_research.errors import TraceDataError
from parcours_research.traces.engine import DuckDBEngine, literal
from parcours_research.traces.eventlog import EventLog


# ---- 0.4.2's line check, the reference ---------------------------------------------------------
def _old_line_lengths(chunk: bytes, current: int, max_line: int, fail) -> int:
    nl = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
    if len(nl) == 0:
        current += len(chunk)
    else:
        longest = current + int(nl[0])
        if len(nl) > 1:
            longest = max(longest, int(np.diff(nl).max()) - 1)
        if longest > max_line:
            fail()
        current = len(chunk) - int(nl[-1]) - 1
    if current > max_line:
        fail()
    return current


class _Long(Exception):
    pass


def _fail():
    raise _Long


def _outcome(fn, chunks, max_line):
    """The carried line length after each chunk, and where the check failed (None if not)."""
    current, seen = 0, []
    for i, chunk in enumerate(chunks):
        try:
            current = fn(chunk, current, max_line, _fail)
        except _Long:
            return seen, i
        seen.append(current)
    return seen, None


def _stream(rng: random.Random, max_line: int, n_lines: int) -> bytes:
    """Lines of random lengths, many close to ``max_line`` (both sides), some empty."""
    out = []
    for _ in range(n_lines):
        kind = rng.random()
        if kind < 0.5:
            n = rng.randint(0, 200)
        elif kind < 0.97:
            n = rng.randint(max(0, max_line - 40), max_line)
        else:
            n = rng.randint(max_line + 1, max_line + 40)
        out.append(b"x" * n)
    return b"\n".join(out) + (b"\n" if rng.random() < 0.5 else b"")


@pytest.mark.parametrize("max_line", [1, 100, 8191, 8192, 8193, 10_000, 20_001])
def test_line_check_matches_the_old_one(max_line):
    rng = random.Random(max_line)
    for trial in range(40):
        data = _stream(rng, max_line, rng.randint(1, 60))
        size = rng.choice([1, 7, 4096, 9000, 30_000, 1 << 16, len(data) or 1])
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert _outcome(_files._line_lengths, chunks, max_line) == _outcome(
            _old_line_lengths, chunks, max_line
        ), (max_line, trial, size)


def test_line_check_by_blocks_finds_a_line_one_byte_too_long():
    max_line = 20_000  # blocks of 10,001 bytes: a line of 20,001 holds a whole block
    for length in (max_line, max_line + 1):
        for offset in range(0, 12):
            chunk = b"a\n" + b"y" * offset + b"\n" + b"z" * length + b"\n" + b"b\n"
            new = _outcome(_files._line_lengths, [chunk], max_line)
            assert new == _outcome(_old_line_lengths, [chunk], max_line)
            assert (new[1] == 0) == (length > max_line)


def test_newline_count_matches_bytes_count():
    rng = np.random.default_rng(0)
    for n in (0, 1, 10, 1 << 16):
        chunk = bytes(rng.choice([10, 65, 0, 255], size=n).astype(np.uint8))
        assert _files._count_lines(chunk) == chunk.count(b"\n")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_scan_text_counts_and_refuses_as_before(tmp_path, monkeypatch, suffix):
    monkeypatch.setattr(_files, "_CHUNK", 4096)  # many chunk boundaries
    rng = random.Random(1)
    # 9,216 bytes a line: blocks of 4,609; repeated letters compress well beyond max_ratio
    limits = _files.FileLimits(max_line_kb=9, max_ratio=1e6)
    ok = _stream(rng, 9216, 300).replace(b"x" * 9217, b"x" * 9000)
    for name, data in (("ok.csv", ok), ("long.csv", ok + b"\n" + b"q" * 9217 + b"\nlast\n")):
        path = tmp_path / (name + suffix)
        path.write_bytes(gzip.compress(data) if suffix else data)
        _files._SCANNED.clear()
        if name == "ok.csv":
            got = _files.scan_text(path, limits=limits, cls=TraceDataError)
            assert got == {"bytes": len(data), "lines": data.count(b"\n")}
        else:
            with pytest.raises(TraceDataError) as err:
                _files.scan_text(path, limits=limits, cls=TraceDataError)
            assert err.value.problems[0].row == data.count(b"\n", 0, data.index(b"q" * 9217)) + 1


# ---- one sniff of a CSV log ---------------------------------------------------------------------
_CSVS = {
    "semi.csv": "a;b;c\n1;2;3\n4;5;6\n",
    "tab.csv": "a\tb\n1\t2\n",
    "crlf.csv": "a,b\r\n1,2\r\n3,4\r\n",
    "bom.csv": "\ufeffa,b\n1,2\n",
    "quoted_nl.csv": 'a,b\n"x\ny",2\n"p ""q""",3\n',
    "dup.csv": "a,a,b\n1,2,3\n",
    "emptyname.csv": "a,,b\n1,2,3\n",
    "ragged.csv": "a,b,c\n1,2,3\n4,5\n6,7,8,9\n",
    "blank_first.csv": "\n\na,b\n1,2\n",
    "onecol.csv": "a\n1\n2\n",
    "header_only.csv": "a,b,c\n",
    "single_quote.csv": "a,b\n'x,y',2\n",
    "spaces.csv": "user id, event ,ts\n u1 , e ,2020-01-01\n",
    "escape_bs.csv": 'a,b\n"x\\"y",2\n',
    "pipe.csv": "a|b\n1|2\n",
    "comment.csv": "# comment\na,b\n1,2\n",
    "nulls.csv": "a,b\n,\nNULL,x\n",
    "unterminated.csv": 'a,b\n"x,2\n3,4\n',
    "bad_quote.csv": 'a,b\n"x"y,2\n"ok",3\n',
    "extra.csv": "a,b\n1,2\n3,4,5\n6,7\n",
    "fewer.csv": "a,b\n1,2\n3\n6,7\n",
    "late_bad.csv": "a,b,c\n"
    + "".join(f'{i},x{i},"q{i}"\n' for i in range(25_000))
    + '1,"bro"ken,3\n2,y,z\n',
    "quote_name.csv": 'a"b,c\n1,2\n',
}


def _rows(eng, sql):
    try:
        rel = eng.con.sql(sql)
        return rel.columns, rel.fetchall()
    except Exception as e:  # noqa: BLE001 - compared: the same error, the same first line
        return type(e).__name__, str(e).splitlines()[0]


@pytest.mark.parametrize("name", sorted(_CSVS))
@pytest.mark.parametrize("gz", [False, True])
def test_sniffed_once_reads_what_the_automatic_read_reads(tmp_path, name, gz):
    data = _CSVS[name].encode()
    path = tmp_path / (name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    eng = DuckDBEngine()
    files = f"[{literal(str(path))}]"
    auto = f"read_csv({files}, header = true, all_varchar = TRUE, union_by_name = true)"
    new = eng._csv_source([str(path)], files, True)
    row = "SELECT *, row_number() OVER () - 1 AS row_id FROM "
    assert _rows(eng, row + new) == _rows(eng, row + auto)


def test_a_file_that_cannot_be_sniffed_is_read_as_before(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"a,b\n1,\xff\xfe\n")
    eng = DuckDBEngine()
    files = f"[{literal(str(path))}]"
    assert "auto_detect" not in eng._csv_source([str(path)], files, True)
    two = eng._csv_source([str(path), str(path)], files, True)
    assert "auto_detect" not in two and "union_by_name" in two


# ---- the materialised log -----------------------------------------------------------------------
def _chain(eng: DuckDBEngine) -> EventLog:
    """A chain shaped like the prepared evidence's: a wide log, an anti-join on removed rows,
    left joins to a narrow table of every row and to a small one."""
    n = 20_000
    rng = np.random.default_rng(3)
    wide = pd.DataFrame(
        {
            "row_id": np.arange(n, dtype=np.int64),
            "user_id": [f"u{i % 700}" for i in range(n)],
            "event": rng.choice(["a", "b", "c"], n),
            "ua": ["Mozilla/5.0 " * 4 + str(i % 13) for i in range(n)],
        }
    )
    eng.con.register("w", wide)
    eng.con.execute("CREATE TEMP TABLE wide AS SELECT * FROM w")
    eng.con.execute("CREATE TEMP TABLE removed AS SELECT row_id FROM wide WHERE row_id % 7 = 0")
    eng.con.register("narrow", pd.DataFrame({"row_id": rng.permutation(n), "_n": np.arange(n)}))
    eng.con.register("small", pd.DataFrame({"_key": [f"u{i}" for i in range(0, 700, 3)], "p": "x"}))
    view = eng.view(
        "SELECT e.*, x._n, s.p FROM (SELECT * FROM wide e WHERE NOT EXISTS "
        "(SELECT 1 FROM removed r WHERE r.row_id = e.row_id)) e "
        "LEFT JOIN narrow x ON e.row_id = x.row_id LEFT JOIN small s ON e.user_id = s._key"
    )
    return EventLog(eng, view)


def _settings(eng):
    return eng.con.sql(
        "SELECT current_setting('preserve_insertion_order'), current_setting('disabled_optimizers')"
    ).fetchall()[0]


def test_persist_holds_the_same_rows_and_restores_the_settings():
    eng = DuckDBEngine()
    log = _chain(eng)
    before = _settings(eng)
    kept = log.persist()
    assert kept.name.startswith("_pr_persist_") and _settings(eng) == before
    sql = "SELECT * FROM {} ORDER BY row_id"
    pd.testing.assert_frame_equal(eng.fetch(sql.format(kept.ref)), eng.fetch(sql.format(log.ref)))


def test_persist_keeps_the_callers_own_settings_even_when_it_fails():
    eng = DuckDBEngine()
    eng.con.execute(
        "SET preserve_insertion_order = false; SET disabled_optimizers = 'filter_pushdown'"
    )
    log = _chain(eng)
    log.persist()
    assert _settings(eng) == (False, "filter_pushdown")
    eng.con.execute("SET preserve_insertion_order = true")
    broken = EventLog(eng, eng.view("SELECT 1 AS row_id"))
    eng.con.execute(f"DROP VIEW {broken.ref}")
    with pytest.raises(Exception):  # noqa: B017, PT011 - DuckDB's own error for a missing view
        broken.persist()
    assert _settings(eng) == (True, "filter_pushdown")


# ---- imports -------------------------------------------------------------------------------------
def test_validate_does_not_import_the_statistics():
    code = (
        "import sys; from parcours_research.checks import validate; "
        "from parcours_research.datasets import sample_dir; v = validate(sample_dir()); "
        "print(v.ok, 'scipy.stats' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


# ---- the log kept in memory, read by every thread ----------------------------------------------
def _events_csv(path, n=150_000, extra=""):
    rng = np.random.default_rng(5)
    ts = pd.Timestamp("2025-03-01", tz="Europe/Paris") + pd.to_timedelta(
        np.sort(rng.integers(0, 90 * 86400, n)), unit="s"
    )
    frame = pd.DataFrame(
        {
            "device_id": [f"d{i}" for i in rng.integers(0, 5000, n)],
            "user_id": [f" C{i} " if i % 3 else "" for i in rng.integers(0, 3000, n)],
            "timestamp": [t.isoformat() for t in ts],
            "event": rng.choice(["home_view", "quote_start", "signup_done", " x "], n),
        }
    )
    if extra:
        frame[extra] = "v"
    text = frame.to_csv(index=False)
    path.write_bytes(gzip.compress(text.encode(), 1) if path.suffix == ".gz" else text.encode())


def _kept(path, monkeypatch, parallel: bool):
    from parcours_research.traces import io

    if not parallel:
        monkeypatch.setattr(io, "_read_in_parallel", lambda *a: None)
    log = io.read_events(str(path), timezone="Europe/Paris")
    assert io.keep_in_memory(log)
    monkeypatch.undo()
    src = log.engine.q(log._origin["src"])
    name = literal(log._origin["src"])
    sql = log.engine.scalar(f"SELECT sql FROM duckdb_views() WHERE view_name = {name}")
    frame = log.engine.fetch(f"SELECT * FROM {src} ORDER BY row_id")
    return frame, log.to_pandas(), "_pr_kept_" in sql


@pytest.mark.parametrize("name", ["events.csv", "events.csv.gz"])
def test_kept_log_read_in_parallel_is_the_numbered_one(tmp_path, monkeypatch, name):
    path = tmp_path / name
    _events_csv(path)
    new, new_log, n_views = _kept(path, monkeypatch, True)
    old, old_log, n_old = _kept(path, monkeypatch, False)
    assert n_views and not n_old
    assert new["row_id"].tolist() == list(range(len(new)))
    pd.testing.assert_frame_equal(new, old)
    pd.testing.assert_frame_equal(new_log, old_log)


@pytest.mark.parametrize("column", ["rowid", "ROWID"])
def test_a_file_with_a_rowid_column_is_numbered_as_before(tmp_path, monkeypatch, column):
    path = tmp_path / "events.csv"
    _events_csv(path, n=2000, extra=column)
    new, new_log, n_views = _kept(path, monkeypatch, True)
    old, old_log, _ = _kept(path, monkeypatch, False)
    assert not n_views
    pd.testing.assert_frame_equal(new_log, old_log)


def test_a_connection_that_may_reorder_rows_numbers_them_as_before(tmp_path):
    import duckdb

    from parcours_research.traces import io

    path = tmp_path / "events.csv"
    _events_csv(path, n=3000)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    log = io.read_events(str(path), timezone="Europe/Paris", engine=DuckDBEngine(con))
    assert io.keep_in_memory(log)
    name = literal(log._origin["src"])
    assert "_pr_kept_" not in log.engine.scalar(
        f"SELECT sql FROM duckdb_views() WHERE view_name = {name}"
    )
