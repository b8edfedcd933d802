"""The DuckDB engine's spill folder and connection: nothing left behind in the temporary folder.

Every engine made its own spill folder (``parcours_duckdb_*``) and none was removed: a day
of tests and notebooks left thousands of empty folders in /tmp, and a notebook kernel stopped
at once (nbval, a crash) cannot clean up after itself. The engine's folder is now named, not
made: DuckDB creates it at its first spill (inside the user's private folder of the system's
temporary folder) and removes it on close; the finalizer removes what is left when the engine
is closed, collected, or at exit. A connection or a folder the caller passed in stays theirs.
"""

from __future__ import annotations

import gc
import os
import stat
import subprocess
import sys

import duckdb
import pytest

from parcours_research.traces import engine as engine_mod
from parcours_research.traces.engine import DuckDBEngine


def _spill(eng: DuckDBEngine) -> str:
    return eng.con.execute("SELECT current_setting('temp_directory')").fetchone()[0]


def _make_it_spill(eng: DuckDBEngine) -> None:
    """A sort larger than the engine's memory limit (60 MB): DuckDB writes to its folder."""
    eng.con.execute(
        "CREATE TEMP TABLE t AS SELECT range AS i, hash(range) AS r FROM range(6000000)"
    )
    rows = eng.con.execute("SELECT i FROM t ORDER BY r LIMIT 1 OFFSET 5999999").fetchall()
    assert len(rows) == 1


def test_the_folder_is_private_and_made_only_by_a_spill():
    with DuckDBEngine(threads=1, memory_limit="60MB") as eng:
        folder = _spill(eng)
        parent = os.path.dirname(folder)
        st = os.lstat(parent)
        assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
        assert stat.S_IMODE(st.st_mode) & 0o077 == 0  # nobody else may enter
        assert os.path.basename(folder).startswith(f"engine-{os.getpid()}-")
        assert not os.path.exists(folder)  # nothing made before a spill
        _make_it_spill(eng)
        assert any(name.startswith("duckdb_temp") for name in os.listdir(folder))
    assert not os.path.exists(folder)
    with pytest.raises(duckdb.Error):
        eng.con.execute("SELECT 1")
    eng.close()  # twice is harmless


def test_a_collected_engine_removes_its_folder():
    eng = DuckDBEngine(threads=1, memory_limit="60MB")
    folder = _spill(eng)
    _make_it_spill(eng)
    assert os.path.isdir(folder)
    del eng
    gc.collect()
    assert not os.path.exists(folder)


_CHILD = (
    "import os, sys\n"
    "from parcours_research.traces.engine import DuckDBEngine\n"
    "eng = DuckDBEngine(threads=1, memory_limit='60MB')\n"
    "print(eng.con.execute(\"SELECT current_setting('temp_directory')\").fetchone()[0])\n"
    "if sys.argv[1] == 'spill':\n"
    "    eng.con.execute('CREATE TEMP TABLE t AS SELECT range i, hash(range) r FROM range(6000000)')\n"
    "    eng.con.execute('SELECT i FROM t ORDER BY r LIMIT 1 OFFSET 5999999').fetchall()\n"
    "sys.stdout.flush()\n"
    "if sys.argv[2] == 'killed':\n"
    "    os._exit(0)  # no clean-up at all, as a kernel stopped at once\n"
)


@pytest.mark.parametrize("what,end", [("spill", "exits"), ("none", "exits"), ("none", "killed")])
def test_nothing_is_left_at_exit(what, end):
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, what, end], capture_output=True, text=True, check=True
    )
    folder = out.stdout.strip()
    assert "parcours_duckdb" in folder
    assert not os.path.exists(folder)


def test_a_given_connection_is_left_open_and_gets_no_folder():
    con = duckdb.connect()
    before = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
    eng = DuckDBEngine(con)
    assert _spill(eng) == before
    eng.close()
    assert con.execute("SELECT 42").fetchone() == (42,)
    con.close()


def test_a_given_folder_is_the_callers_and_stays(tmp_path):
    folder = tmp_path / "spill"
    folder.mkdir()
    with DuckDBEngine(temp_directory=str(folder)) as eng:
        assert _spill(eng) == str(folder)
    assert folder.is_dir()


@pytest.mark.parametrize("how", ["others_may_enter", "a_link", "a_file"])
def test_an_untrusted_parent_is_not_used(tmp_path, monkeypatch, how):
    """In a shared temporary folder, a ``parcours_duckdb-<uid>`` that someone else could
    enter, or a link, is not used: the engine makes a folder of its own instead."""
    monkeypatch.setattr(engine_mod.tempfile, "tempdir", str(tmp_path))
    parent = tmp_path / f"parcours_duckdb-{os.getuid()}"
    if how == "others_may_enter":
        parent.mkdir(mode=0o777)
        parent.chmod(0o777)
    elif how == "a_link":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        parent.symlink_to(tmp_path / "elsewhere")
    else:
        parent.write_text("")
    assert engine_mod._private_parent() is None
    with DuckDBEngine() as eng:
        folder = _spill(eng)
        assert os.path.dirname(folder) == str(tmp_path)
        assert os.path.basename(folder).startswith("parcours_duckdb_")
        assert os.path.isdir(folder)  # made by mkdtemp (mode 0700)
    assert not os.path.exists(folder)


def test_the_parent_is_made_private(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_mod.tempfile, "tempdir", str(tmp_path))
    parent = engine_mod._private_parent()
    assert parent == str(tmp_path / f"parcours_duckdb-{os.getuid()}")
    assert stat.S_IMODE(os.lstat(parent).st_mode) == 0o700
    assert engine_mod._private_parent() == parent  # found again
