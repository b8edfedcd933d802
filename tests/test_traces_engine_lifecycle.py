"""The DuckDB engine's spill folder and connection: nothing left behind in the temporary folder.

Every engine opened its own spill folder (``parcours_duckdb_*``) and none was removed: a day
of tests and notebooks left thousands of empty folders in /tmp. The folder now goes with the
connection (closed, collected, or at exit), and a connection the caller passed in stays open.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import duckdb
import pytest

from parcours_research.traces.engine import DuckDBEngine


def _spill(eng: DuckDBEngine) -> str:
    return eng.con.execute("SELECT current_setting('temp_directory')").fetchone()[0]


def test_close_removes_the_spill_folder_and_the_engine_is_a_context_manager():
    with DuckDBEngine() as eng:
        folder = _spill(eng)
        assert os.path.isdir(folder)
        assert os.path.basename(folder).startswith("parcours_duckdb_")
    assert not os.path.exists(folder)
    with pytest.raises(duckdb.Error):
        eng.con.execute("SELECT 1")
    eng.close()  # twice is harmless


def test_a_collected_engine_removes_its_folder():
    eng = DuckDBEngine()
    folder = _spill(eng)
    del eng
    gc.collect()
    assert not os.path.exists(folder)


def test_the_folder_is_removed_at_exit():
    code = (
        "from parcours_research.traces.engine import DuckDBEngine\n"
        "eng = DuckDBEngine()\n"
        "print(eng.con.execute(\"SELECT current_setting('temp_directory')\").fetchone()[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    folder = out.stdout.strip()
    assert "parcours_duckdb_" in folder
    assert not os.path.exists(folder)


def test_a_sort_larger_than_the_memory_limit_spills_there_and_leaves_nothing():
    eng = DuckDBEngine(threads=1, memory_limit="60MB")
    folder = _spill(eng)
    eng.con.execute(
        "CREATE TEMP TABLE t AS SELECT range AS i, hash(range) AS r FROM range(6000000)"
    )
    rows = eng.con.execute("SELECT i FROM t ORDER BY r LIMIT 1 OFFSET 5999999").fetchall()
    assert len(rows) == 1
    assert any(name.startswith("duckdb_temp") for name in os.listdir(folder))  # it did spill
    eng.close()
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
