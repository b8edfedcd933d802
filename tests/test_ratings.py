"""Workshop ratings: the append-only file, its reader, and the rating board driven through its widgets."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

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
    log = RatingLog(tmp_path / "r.csv", journey=study.journey, session="atelier 1")
    log.add("P1", "claim", 2, "trop long", persona="senior")
    log.add("P2", "claim", 5)
    log.add("P2", "signup", 4, "ok\nsur deux lignes")
    df = log.read()
    assert list(df.columns) == list(RATING_COLUMNS)
    assert df["score"].tolist() == [2, 5, 4]
    assert df["session"].eq("atelier 1").all()
    assert df.loc[2, "comment"] == "ok sur deux lignes"  # one line per rating in the file
    assert pd.isna(df.loc[1, "persona"])
    text = (tmp_path / "r.csv").read_text(encoding="utf-8")
    assert text.count("\n") == 4  # header + 3 rows, nothing rewritten


def test_invalid_rating_writes_nothing_and_lists_every_problem(tmp_path, study):
    log = RatingLog(tmp_path / "r.csv", journey=study.journey)
    with pytest.raises(StudyError) as e:
        log.add("", "nowhere", 9, persona="alien")
    messages = " | ".join(p.message for p in e.value.problems)
    assert "participant is blank" in messages
    assert "unknown touchpoint 'nowhere'" in messages
    assert "unknown persona 'alien'" in messages
    assert "not on the 1-5 scale" in messages
    assert not (tmp_path / "r.csv").exists()
    with pytest.raises(StudyError):
        log.add("P1", "claim", 3.5)


def test_nothing_lost_when_the_kernel_dies(tmp_path, sample_dir):
    """A process that records ratings and is killed without cleanup keeps every rating on disk."""
    path = tmp_path / "r.csv"
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


def test_truncated_last_line_is_reported_not_hidden(tmp_path, study):
    path = tmp_path / "r.csv"
    log = RatingLog(path, journey=study.journey)
    log.add("P1", "claim", 4)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("2026-01-01T00:00:00+00:00,workshop,P2,,cla")  # cut mid-write
    with pytest.warns(ParcoursWarning, match="cut short"):
        df = read_ratings(path)
    assert len(df) == 1


def test_malformed_middle_line_is_an_error(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(",".join(RATING_COLUMNS) + "\nbad,line\n" + "2026-01-01T00:00:00+00:00,w,P1,,claim,4,\n",
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
    path = tmp_path_factory.mktemp("r") / "r.csv"
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
    log = RatingLog(tmp_path / "r.csv", journey=study.journey)
    log.add("P1", "claim", 2, persona="senior")
    long = ratings_long(log.read(), study.journey)
    assert long.loc[0, "source"] == "workshop"
    assert long.loc[0, "stage"] == "fideliser"
    assert {"respondent_id", "persona", "touchpoint", "score", "order"} <= set(long.columns)


def test_rating_board_through_widget_state(tmp_path, study):
    from parcours_research.widgets.board import RatingBoard

    board = RatingBoard(study, tmp_path / "r.csv", session="s1")
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
    assert "2.00" in board.table.value  # the running mean shown to the room
    board.rate("", "claim", 4)
    assert "participant is blank" in board.status.value
    assert len(board.ratings()) == 2
