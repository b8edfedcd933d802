"""Workshop ratings: the shared SQLite store, its reader (and that of the CSV files of earlier
versions), and the rating board driven through its widgets."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parcours_research as pr
from parcours_research.errors import ParcoursWarning, StudyError
from parcours_research.ratings import (
    RATING_COLUMNS,
    RatingLog,
    ratings_long,
    read_ratings,
    running_means,
)


@pytest.fixture(scope="module")
def study(sample_dir):
    return pr.load_study(sample_dir)


def test_add_and_read_back(tmp_path, study):
    log = RatingLog(tmp_path / "r.sqlite", journey=study.journey, session="atelier 1")
    log.add("P1", "claim", 2, "trop long", persona="senior")
    log.add("P2", "claim", 5)
    log.add("P2", "signup", 4, "ok\nsur deux lignes")
    df = log.read()
    assert list(df.columns) == list(RATING_COLUMNS)
    assert df["score"].tolist() == [2, 5, 4]
    assert df["session"].eq("atelier 1").all()
    assert df.loc[2, "comment"] == "ok sur deux lignes"  # one line per rating
    assert pd.isna(df.loc[1, "persona"])
    assert log.version() == 3


def test_invalid_rating_writes_nothing_and_lists_every_problem(tmp_path, study):
    log = RatingLog(tmp_path / "r.sqlite", journey=study.journey)
    with pytest.raises(StudyError) as e:
        log.add("", "nowhere", 9, persona="alien")
    messages = " | ".join(p.message for p in e.value.problems)
    assert "participant is blank" in messages
    assert "unknown touchpoint 'nowhere'" in messages
    assert "unknown persona 'alien'" in messages
    assert "not on the 1-5 scale" in messages
    assert not (tmp_path / "r.sqlite").exists()
    with pytest.raises(StudyError):
        log.add("P1", "claim", 3.5)


def test_nothing_lost_when_the_kernel_dies(tmp_path, sample_dir):
    """A process that records ratings and is killed without cleanup keeps every rating on disk."""
    path = tmp_path / "r.sqlite"
    code = textwrap.dedent(f"""
        import os
        import parcours_research as pr
        from parcours_research.ratings import RatingLog
        s = pr.load_study({str(sample_dir)!r}, read_responses=False)
        log = RatingLog({str(path)!r}, journey=s.journey)
        for i in range(5):
            log.add(f"P{{i}}", "claim", 1 + i % 5)
        os._exit(9)  # dies like a killed kernel: no atexit, no buffer flush
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    df = read_ratings(path)
    assert df["participant"].tolist() == [f"P{i}" for i in range(5)]


def test_truncated_last_line_of_an_old_csv_is_reported_not_hidden(tmp_path):
    path = tmp_path / "r.csv"  # the rating file of earlier versions
    path.write_text("recorded_at,session,participant,persona,touchpoint,score,comment\n"
                    "2026-01-01T00:00:00+00:00,workshop,P1,,claim,4,\n", encoding="utf-8")
    with path.open("a", encoding="utf-8") as fh:
        fh.write("2026-01-01T00:00:00+00:00,workshop,P2,,cla")  # cut mid-write
    with pytest.warns(ParcoursWarning, match="cut short"):
        df = read_ratings(path)
    assert len(df) == 1


def test_malformed_middle_line_is_an_error(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(",".join(RATING_COLUMNS) + "\nbad,line\n" + "2026-01-01T00:00:00+00:00,w,P1,,,claim,4,\n",
                    encoding="utf-8")
    with pytest.raises(StudyError, match="malformed") as e:
        read_ratings(path)
    assert e.value.problems[0].row == 2


def test_wrong_file_is_refused(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(StudyError, match="not a workshop rating file"):
        read_ratings(path)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["claim", "signup", "billing"]), st.integers(1, 5),
                          st.text(max_size=30)), min_size=1, max_size=20))
def test_running_means_match_the_recorded_scores(tmp_path_factory, study, entries):
    path = tmp_path_factory.mktemp("r") / "r.sqlite"
    log = RatingLog(path, journey=study.journey)
    for tp, s, c in entries:
        log.add("P", tp, s, c)
    df = log.read()
    assert len(df) == len(entries)  # nothing lost, whatever the comment holds
    means = running_means(df, study.journey).set_index("touchpoint")
    for tp in {e[0] for e in entries}:
        scores = [s for t, s, _ in entries if t == tp]
        assert means.loc[tp, "n"] == len(scores)
        assert means.loc[tp, "mean"] == pytest.approx(sum(scores) / len(scores))
    assert means["n"].sum() == len(entries)


def test_ratings_long_is_a_fourth_source(tmp_path, study):
    log = RatingLog(tmp_path / "r.sqlite", journey=study.journey)
    log.add("P1", "claim", 2, persona="senior", role="customer")
    long = ratings_long(log.read(), study.journey)
    assert long.loc[0, "source"] == "workshop"
    assert long.loc[0, "stage"] == "fideliser"
    assert {"respondent_id", "persona", "touchpoint", "score", "order", "role"} <= set(long.columns)


def test_rating_board_through_widget_state(tmp_path, study):
    from parcours_research.widgets.board import RatingBoard

    board = RatingBoard(study, tmp_path / "r.sqlite", session="s1", live=False)
    board.rate("AB", "id_verification", 1, "J'ai abandonné", persona="senior")
    assert "✓" in board.status.value
    assert board.score.value is None and board.comment.value == ""  # form cleared for the next one
    # the button is what participants press: fire its click handlers
    board.participant.value = "CD"
    board.touchpoint.value = "id_verification"
    board.score.value = 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        board.submit.click()
    df = board.ratings()
    assert df["score"].tolist() == [1, 3]
    assert "2,00" in board.table.value  # the running mean shown to the room (French: comma)
    board.rate("", "claim", 4)
    assert "participant is blank" in board.status.value
    assert len(board.ratings()) == 2


# ---- the shared store: many writers, crashes, hostile names ---------------------------------------

_WRITER = """
import sys
from parcours_research.ratings import RatingLog
log = RatingLog(sys.argv[1], session="w" + sys.argv[2])
for i in range(int(sys.argv[3])):
    log.add("P" + sys.argv[2], "claim", 1 + i % 5, comment=str(i))
"""


def test_many_writers_starting_together_lose_nothing(tmp_path):
    """Five processes create the store at once and write 40 ratings each: one table, 200 rows
    (the CSV store of earlier versions wrote two header lines in 20 of 20 such trials)."""
    path = tmp_path / "r.sqlite"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(k), "40"])
             for k in range(5)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 5
    df = read_ratings(path)
    assert len(df) == 200
    assert df.groupby("session").size().tolist() == [40] * 5
    for _, g in df.groupby("session"):  # each writer's ratings in its own order
        assert g["comment"].astype(int).tolist() == list(range(40))


def test_a_writer_killed_mid_write_leaves_a_readable_store(tmp_path):
    """SIGKILL at random moments of a writing loop: every committed rating is there, in order,
    and the store is readable and writable afterwards."""
    import os
    import signal
    import time

    path = tmp_path / "r.sqlite"
    rng = np.random.default_rng(7)
    for trial in range(4):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(trial), "100000"])
        time.sleep(1.0 + rng.uniform(0, 0.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        df = read_ratings(path)
        mine = df[df["session"] == f"w{trial}"]["comment"].astype(int).tolist()
        assert mine == list(range(len(mine)))  # no hole, nothing glued
    RatingLog(path).add("after", "claim", 3)
    assert read_ratings(path)["participant"].iloc[-1] == "after"


@pytest.mark.parametrize("name, shown", [
    ("Anne\u2028Marie", "Anne Marie"), ("A\x0cB", "A B"), ("A\rB\nC", "A B C"),
    ("zero\u200bwidth", "zero width"), ("  tabs\t\there ", "tabs here"), ("Zoë 🙂", "Zoë 🙂"),
    ("'; DROP TABLE ratings; --", "'; DROP TABLE ratings; --"),
])
def test_hostile_participant_names_are_stored_on_one_line(tmp_path, name, shown):
    log = RatingLog(tmp_path / "r.sqlite")
    log.add(name, "claim", 4, comment=name)
    df = read_ratings(tmp_path / "r.sqlite")
    assert df["participant"].tolist() == [shown]
    assert df["comment"].tolist() == [shown]


def test_a_10_kb_name_is_refused_and_nothing_is_written(tmp_path):
    log = RatingLog(tmp_path / "r.sqlite")
    with pytest.raises(StudyError, match="10,000 characters") as e:
        log.add("x" * 10_000, "claim", 4)
    assert "initials or a code" in e.value.problems[0].fix
    with pytest.raises(StudyError, match="role"):
        log.add("P", "claim", 4, role="boss")
    assert log.version() == 0


def test_a_csv_path_moves_to_the_sqlite_store_with_a_warning(tmp_path):
    with pytest.warns(FutureWarning, match="SQLite store"):
        log = RatingLog(tmp_path / "r.csv")
    assert log.path == tmp_path / "r.sqlite"


def test_export_csv_reads_back_the_same_ratings(tmp_path):
    log = RatingLog(tmp_path / "r.sqlite")
    log.add("P1", "claim", 2, comment="trop, long", role="customer")
    log.add("P2", "signup", 5, role="staff")
    out = pd.read_csv(log.export_csv(tmp_path / "ratings.csv"))
    assert out["score"].tolist() == [2, 5]
    assert out["comment"].fillna("").tolist() == ["trop, long", ""]
    assert out["role"].tolist() == ["customer", "staff"]


def test_the_poller_sees_a_rating_written_by_another_process(tmp_path):
    from parcours_research.widgets._live import Poller

    path = tmp_path / "r.sqlite"
    seen = []
    poller = Poller(RatingLog(path).version, lambda: seen.append(1))
    assert not poller.check()
    subprocess.run([sys.executable, "-c", _WRITER, str(path), "0", "1"], check=True)
    assert poller.check() and seen == [1]
    assert not poller.check()


# ---- staff against customers ------------------------------------------------------------------------

def test_staff_vs_customers_against_closed_forms(tmp_path, study):
    """Welch's t-test written out (Welch 1947; Satterthwaite df), and the survey side equal to the
    weighted score of the study's rule that the report shows."""
    from scipy import stats as sps

    from parcours_research.workshop import staff_vs_customers

    log = RatingLog(tmp_path / "r.sqlite", journey=study.journey)
    staff, cust = [4, 5, 4, 4, 3, 5], [2, 1, 3, 2, 2]
    for i, v in enumerate(staff):
        log.add(f"S{i}", "id_verification", v, role="staff")
    for i, v in enumerate(cust):
        log.add(f"C{i}", "id_verification", v, role="customer")
    log.add("S0", "claim", 4, role="staff")  # one staff rating only: no test there
    t = staff_vs_customers(study, log.read()).set_index("touchpoint")
    row = t.loc["id_verification"]
    a, b = np.var(staff, ddof=1) / 6, np.var(cust, ddof=1) / 5
    tt = (np.mean(staff) - np.mean(cust)) / np.sqrt(a + b)
    df = (a + b) ** 2 / (a**2 / 5 + b**2 / 4)
    assert row["gap_customers"] == pytest.approx(np.mean(staff) - np.mean(cust))
    assert row["p_customers"] == pytest.approx(2 * sps.t.sf(abs(tt), df), rel=1e-10)
    ev = pr.prepare(study)
    ref = pr.satisfaction.scores(ev.ratings, "score", by=None, weight="weight",
                                 cluster="respondent_id").set_index("touchpoint")
    assert row["survey_estimate"] == pytest.approx(ref.loc["id_verification", "estimate"], rel=1e-12)
    se, dfs = ref.loc["id_verification", "se"], ref.loc["id_verification", "df"]
    a2 = np.var(staff, ddof=1) / 6
    t2 = (np.mean(staff) - ref.loc["id_verification", "estimate"]) / np.sqrt(a2 + se**2)
    df2 = (a2 + se**2) ** 2 / (a2**2 / 5 + se**4 / dfs)
    assert row["p_survey"] == pytest.approx(2 * sps.t.sf(abs(t2), df2), rel=1e-10)
    assert np.isnan(t.loc["claim", "p_survey"]) and t.loc["claim", "n_staff"] == 1
    # one family of tests per comparison: Holm over the touchpoints that could be tested
    assert row["p_customers_adj"] == pytest.approx(row["p_customers"])


def test_the_board_shows_staff_against_customers(tmp_path, study):
    from parcours_research.widgets.board import RatingBoard

    board = RatingBoard(study, tmp_path / "r.sqlite", live=False, lang="en")
    for i, v in enumerate([5, 4, 5]):
        board.rate(f"S{i}", "id_verification", v, role="staff")
    for i, v in enumerate([1, 2, 1]):
        board.rate(f"C{i}", "id_verification", v, role="customer")
    html = board.comparison.value
    assert "Staff, customers and survey" in html and "Identity check" in html
    assert "e-" not in html and "nan" not in html.lower()  # p-values as read, no raw floats
