"""The ``parcours`` command, run in-process through ``main([...])`` and once as the installed
entry point."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from parcours_research.cli import main

BROKEN = Path(__file__).resolve().parent / "broken"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_verb(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for verb in ("sample", "validate", "codebook"):
        assert re.search(rf"^\s+{verb}\s+\w", out, re.M), verb


def test_no_verb_prints_help_and_exits_2(capsys):
    code, out, _ = run(capsys)
    assert code == 2 and "usage: parcours" in out


def test_validate_sample(capsys, sample_dir):
    code, out, err = run(capsys, "validate", str(sample_dir))
    assert code == 0, err
    assert (
        "stages (6): Sensibiliser > Acquérir > Intégrer > Engager > Fidéliser > Promouvoir" in out
    )
    assert "touchpoints: 16" in out and "moments of truth: signup, id_verification, claim" in out
    assert "personas (4): connecte" in out
    assert re.search(
        r"respondents: 800 \(connecte \d+, prudent \d+, senior \d+, explorateur \d+\)", out
    )
    n_events = len(pd.read_csv(sample_dir / "traces" / "events.csv.gz", dtype=str))
    assert f"events: {n_events:,} raw rows" in out
    n_excerpts = len(pd.read_csv(sample_dir / "qual" / "excerpts.csv", dtype=str))
    assert f"excerpts: {n_excerpts:,} coded excerpts from 24 participants" in out
    assert out.rstrip().endswith("OK: the study is valid.")


@pytest.mark.parametrize(
    "case",
    ["several_problems_study", "several_problems_responses", "invalid_yaml", "missing_study_yml"],
)
def test_validate_broken_folder_lists_problems_on_stderr(capsys, case):
    code, out, err = run(capsys, "validate", str(BROKEN / case))
    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
    numbered = re.findall(r"^  (\d+)\. (.+)$", err, re.M)
    assert numbered and [int(n) for n, _ in numbered] == list(range(1, len(numbered) + 1))
    for _, line in numbered:
        assert " -> " in line  # every problem says what to do
    if case.startswith("several"):
        assert len(numbered) == 4
    assert "Traceback" not in err


def test_codebook_of_a_study(capsys, sample_dir, tmp_path):
    code, out, _ = run(capsys, "codebook", str(sample_dir), "-o", str(tmp_path))
    assert code == 0
    md = (tmp_path / "codebook_standard_touchpoint.md").read_text(encoding="utf-8")
    cb = pd.read_csv(tmp_path / "codebook_standard_touchpoint.csv")
    assert "sat_id_verification" in cb["column"].tolist()
    assert (
        len(cb) == 1 + 1 + 30
    )  # respondent id, customer id, 30 questions expanded over 16 touchpoints
    table_rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table_rows) == len(cb) + 1  # header + one line per column
    assert "Vérification d'identité" in md


def test_codebook_of_the_bundled_instrument_in_english(capsys, tmp_path):
    code, out, _ = run(capsys, "codebook", "--lang", "en", "-o", str(tmp_path))
    assert code == 0 and "written to" in out
    md = (tmp_path / "codebook_standard_touchpoint.md").read_text(encoding="utf-8")
    assert md.startswith("# Standard touchpoint satisfaction questionnaire")
    assert "One row per column" in md


def test_codebook_of_an_unknown_instrument_exits_1(capsys, tmp_path):
    code, _, err = run(capsys, "codebook", "nope", "-o", str(tmp_path))
    assert code == 1 and "No bundled instrument named 'nope'" in err


def test_sample_verb(capsys, tmp_path):
    args = [
        "sample",
        str(tmp_path / "s"),
        "--seed",
        "4",
        "--customers",
        "80",
        "--prospects",
        "20",
        "--respondents",
        "40",
        "--participants",
        "8",
        "--days",
        "14",
    ]
    code, out, _ = run(capsys, *args)
    assert code == 0 and "truth.json" in out
    assert (tmp_path / "s" / "study.yml").exists()
    code, _, err = run(capsys, *args)  # the folder is not empty now
    assert code == 1 and "--overwrite" in err
    code, _, err = run(capsys, *args, "--overwrite")
    assert code == 0


def test_installed_entry_point(sample_dir):
    exe = shutil.which("parcours", path=str(Path(sys.executable).parent)) or shutil.which(
        "parcours"
    )
    assert exe, "the `parcours` entry point is not installed (pip install -e .)"
    done = subprocess.run(
        [exe, "validate", str(sample_dir)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "OK: the study is valid." in done.stdout
