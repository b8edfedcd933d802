"""Hostile and broken input files: each refused with a clear error, quickly, without showing
a byte of what it refused (issue 15, "files": resource limits, safe paths, study.yml
strictness, a ``validate`` that never says OK over a problem).

Every input is built here, in tmp_path, from a small seeded sample study (``make_sample``):
FIFOs, devices, symlinks leaving the folder, directories where files are expected, gzip
bombs, truncated archives, empty logs, over-long lines, YAML alias bombs, wrong types and
misspelt keys in study.yml, mathtext labels, and broken REFI-QDA projects. The table CASES
names, for each, the call, the exact error class and the words the message must hold.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import re
import shutil
import time
import zipfile
import zlib
from pathlib import Path

import pytest
import yaml

import parcours_research as pr
from parcours_research.errors import (
    QualDataError,
    StudyError,
    SurveyDataError,
    TraceDataError,
    UnsafeFileError,
)

SECRET = "TOPSECRET-7f3a-do-not-print"
HEADER = b"device_id,customer_id,ts,event_name,user_agent,page\n"
ROW = b"d0000003,C000002,2026-01-06T06:27:43,app_session,Mozilla/5.0,/app\n"
#: 5 MB that do not compress (a runaway user agent that is not a decompression bomb)
NOISE_5MB = random.Random(0).randbytes(5 << 19).hex().encode()


# ---- a small study, copied for each case ----------------------------------------------------
@pytest.fixture
def template(small_study_template) -> Path:
    return small_study_template  # (tests/conftest.py)


@pytest.fixture
def study(template, tmp_path) -> Path:
    d = tmp_path / "study"
    shutil.copytree(template, d)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"{SECRET},{SECRET}\n{SECRET},1\n", encoding="utf-8")
    return d


def edit(d: Path, change) -> None:
    """Apply ``change(data)`` to study.yml (read and written back as YAML)."""
    p = d / "study.yml"
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    change(data)
    p.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def replace(path: Path, make) -> None:
    """Replace a file of the study by whatever ``make(path)`` creates there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    make(path)


def secret(d: Path) -> Path:
    return d.parent / "outside" / "secret.txt"


EVENTS = "traces/events.csv.gz"
RESPONSES = "survey/responses.csv"
EXCERPTS = "qual/excerpts.csv"


# ---- builders of hostile files --------------------------------------------------------------
def fifo(path: Path) -> None:
    os.mkfifo(path)


def gzip_bomb(path: Path, mb: int = 24) -> None:
    """A valid gzip CSV whose rows repeat: a few tens of KB that expand ~300 times."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = ROW * ((1 << 20) // len(ROW) + 1)
    with open(path, "wb") as f:
        f.write(c.compress(HEADER))
        for _ in range(mb):
            f.write(c.compress(block))
        f.write(c.flush())


def truncated_gz(path: Path, template: Path) -> None:
    data = (template / EVENTS).read_bytes()
    path.write_bytes(data[: len(data) // 2])


def header_only(path: Path) -> None:
    path.write_bytes(path.read_bytes().splitlines(keepends=True)[0])


def qdpx_zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)


XML_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Project xmlns="urn:QDA-XML:project:1.0" name="x">&lol2;</Project>"""

BILLION_LAUGHS = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
)


def use_qdpx(d: Path, members: dict[str, bytes] | None = None, make=None) -> None:
    path = d / "qual" / "project.qdpx"
    if make is not None:
        make(path)
    else:
        qdpx_zip(path, members)
    edit(d, lambda y: y.__setitem__("qual", {"excerpts": "qual/project.qdpx"}))


def tp0(y, key, value):
    y["touchpoints"][0][key] = value


# ---- the corpus -----------------------------------------------------------------------------
# (id, setup(d, template), call, error class, patterns the message must match)
CASES = [
    # -- not a regular file
    (
        "fifo_events",
        lambda d, t: replace(d / EVENTS, fifo),
        "load",
        StudyError,
        [r"traces\.events: 'traces/events\.csv\.gz' is a named pipe \(FIFO\), not a regular file"],
    ),
    (
        "fifo_responses",
        lambda d, t: replace(d / RESPONSES, fifo),
        "load",
        StudyError,
        [r"survey\.responses: .* named pipe"],
    ),
    (
        "fifo_study_yml",
        lambda d, t: replace(d / "study.yml", fifo),
        "load",
        UnsafeFileError,
        [r"study\.yml: is a named pipe \(FIFO\)"],
    ),
    (
        "fifo_qdpx",
        lambda d, t: use_qdpx(d, make=fifo),
        "load",
        StudyError,
        [r"qual\.excerpts: 'qual/project\.qdpx' is a named pipe"],
    ),
    (
        "dev_zero_symlink",
        lambda d, t: replace(d / EVENTS, lambda p: p.symlink_to("/dev/zero")),
        "load",
        StudyError,
        [r"traces\.events: .*resolves to /dev/zero, outside the study folder"],
    ),
    (
        "dev_zero_symlink_allowed",
        lambda d, t: (
            replace(d / EVENTS, lambda p: p.symlink_to("/dev/zero")),
            edit(d, lambda y: y.__setitem__("allow_outside_paths", True)),
        ),
        "load",
        StudyError,
        [r"traces\.events: .*is a character device, not a regular file"],
    ),
    (
        "directory_for_responses",
        lambda d, t: replace(d / RESPONSES, lambda p: p.mkdir()),
        "load",
        StudyError,
        [r"survey\.responses: 'survey/responses\.csv' is a directory, not a regular file"],
    ),
    (
        "directory_for_events",
        lambda d, t: replace(d / EVENTS, lambda p: p.mkdir()),
        "load",
        StudyError,
        [r"traces\.events: folder 'traces/events\.csv\.gz' holds no event file"],
    ),
    (
        "directory_for_excerpts",
        lambda d, t: replace(d / EXCERPTS, lambda p: p.mkdir()),
        "load",
        StudyError,
        [r"qual\.excerpts: .* is a directory"],
    ),
    (
        "directory_for_study_yml",
        lambda d, t: replace(d / "study.yml", lambda p: p.mkdir()),
        "load",
        UnsafeFileError,
        [r"study\.yml: is a directory"],
    ),
    # -- paths that leave the study folder (the secret's content is never shown)
    (
        "symlink_responses_to_secret",
        lambda d, t: replace(d / RESPONSES, lambda p: p.symlink_to(secret(d))),
        "load",
        StudyError,
        [
            r"survey\.responses: .*resolves to .*secret\.txt, outside the study folder",
            r"allow_outside_paths: true",
        ],
    ),
    (
        "symlink_customers_to_secret",
        lambda d, t: replace(d / "crm/customers.csv", lambda p: p.symlink_to(secret(d))),
        "load",
        StudyError,
        [r"customers: .*outside the study folder"],
    ),
    (
        "symlink_identity_map_to_secret",
        lambda d, t: replace(d / "traces/identity.csv", lambda p: p.symlink_to(secret(d))),
        "load",
        StudyError,
        [r"traces\.identity_map: .*outside the study folder"],
    ),
    (
        "symlink_excerpts_to_secret",
        lambda d, t: replace(d / EXCERPTS, lambda p: p.symlink_to(secret(d))),
        "load",
        StudyError,
        [r"qual\.excerpts: .*outside the study folder"],
    ),
    (
        "symlinked_folder_to_outside",
        lambda d, t: (
            shutil.copy(d / RESPONSES, secret(d).parent / "responses.csv"),
            replace(d / "survey", lambda p: p.symlink_to(secret(d).parent)),
        ),
        "load",
        StudyError,
        [r"survey\.responses: .*outside the study folder"],
    ),
    (
        "fifo_truth_json",
        lambda d, t: replace(d / "truth.json", fifo),
        "load",
        UnsafeFileError,
        [r"truth\.json: is a named pipe \(FIFO\), not a regular file"],
    ),
    (
        "symlink_to_etc_passwd",
        lambda d, t: replace(d / RESPONSES, lambda p: p.symlink_to("/etc/passwd")),
        "load",
        StudyError,
        [r"resolves to /etc/passwd, outside the study folder"],
    ),
    (
        "absolute_path_to_secret",
        lambda d, t: edit(d, lambda y: y["survey"].__setitem__("responses", str(secret(d)))),
        "load",
        StudyError,
        [r"survey\.responses: .*leaves the study folder"],
    ),
    # -- sizes and limits
    (
        "study_yml_over_1_mib",
        lambda d, t: (d / "study.yml").write_text(
            (d / "study.yml").read_text(encoding="utf-8") + "#" * (1 << 20), encoding="utf-8"
        ),
        "load",
        UnsafeFileError,
        [r"study\.yml: is 1\.0 MiB, more than the limit of 1 MiB"],
    ),
    (
        "limits_max_file_mb",
        lambda d, t: edit(d, lambda y: y.__setitem__("limits", {"max_file_mb": 0.001})),
        "load",
        StudyError,
        [r"survey\.responses: .*MiB, more than the limit", r"max_file_mb"],
    ),
    (
        "limits_not_a_number",
        lambda d, t: edit(d, lambda y: y.__setitem__("limits", {"max_ratio": "lots"})),
        "load",
        StudyError,
        [r"limits\.max_ratio: must be a number, not 'lots'"],
    ),
    (
        "limits_misspelt",
        lambda d, t: edit(d, lambda y: y.__setitem__("limits", {"max_file_gb": 2})),
        "load",
        StudyError,
        [r"limits\.max_file_gb: unknown key -> did you mean 'max_file_mb'\?"],
    ),
    (
        "allow_outside_paths_not_bool",
        lambda d, t: edit(d, lambda y: y.__setitem__("allow_outside_paths", "yes")),
        "load",
        StudyError,
        [r"allow_outside_paths: must be true or false, not 'yes'"],
    ),
    # -- compressed files and lines
    (
        "gzip_bomb",
        lambda d, t: replace(d / EVENTS, gzip_bomb),
        "events",
        UnsafeFileError,
        [
            r"traces/events\.csv\.gz: expands more than 100 times",
            r"decompression bomb",
            r"max_ratio",
        ],
    ),
    (
        "truncated_gz",
        lambda d, t: replace(d / EVENTS, lambda p: truncated_gz(p, t)),
        "events",
        TraceDataError,
        [r"events\.csv\.gz: the compressed file is truncated", r"gzip -t"],
    ),
    (
        "garbage_gz",
        lambda d, t: replace(
            d / EVENTS, lambda p: p.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 8)
        ),
        "events",
        TraceDataError,
        [r"events\.csv\.gz: the compressed data is damaged \(not valid gz data\)"],
    ),
    (
        "zero_byte_events",
        lambda d, t: replace(d / EVENTS, lambda p: p.write_bytes(b"")),
        "events",
        TraceDataError,
        [r"events\.csv\.gz: the file is empty \(0 bytes of data\)"],
    ),
    (
        "empty_gzip_events",
        lambda d, t: replace(d / EVENTS, lambda p: p.write_bytes(gzip.compress(b""))),
        "events",
        TraceDataError,
        [r"the file is empty"],
    ),
    (
        "header_only_events",
        lambda d, t: replace(d / EVENTS, lambda p: p.write_bytes(gzip.compress(HEADER))),
        "validate",
        "events",
        [r"the event log holds no event \(an empty, zero-byte or header-only file\)"],
    ),
    (
        "header_only_responses",
        lambda d, t: header_only(d / RESPONSES),
        "validate",
        "survey",
        [r"survey/responses\.csv: the file has a header but no responses"],
    ),
    (
        "header_only_excerpts",
        lambda d, t: header_only(d / EXCERPTS),
        "validate",
        "excerpts",
        [r"qual/excerpts\.csv: the file holds no coded excerpt"],
    ),
    (
        "zero_byte_customers",
        lambda d, t: (d / "crm/customers.csv").write_bytes(b""),
        "validate",
        "customers",
        [r"crm/customers\.csv: the file is empty"],
    ),
    (
        "huge_line_5mb_user_agent",
        lambda d, t: replace(
            d / EVENTS,
            lambda p: p.write_bytes(
                gzip.compress(
                    HEADER
                    + ROW
                    + b'd1,C1,2026-01-06T07:00:00,app_session,"'
                    + NOISE_5MB
                    + b'",/app\n'
                    + ROW,
                    1,
                )
            ),
        ),
        "events",
        TraceDataError,
        [r"events\.csv\.gz, row 3: line 3 is longer than 1024 KiB", r"max_line_kb"],
    ),
    (
        "xlsx_zip_bomb",
        lambda d, t: (
            qdpx_zip(d / "survey/responses.xlsx", {"xl/worksheets/sheet1.xml": b"\0" * (8 << 20)}),
            edit(d, lambda y: y["survey"].__setitem__("responses", "survey/responses.xlsx")),
        ),
        "load",
        UnsafeFileError,
        [r"responses\.xlsx: entry 'xl/worksheets/sheet1\.xml' expands", r"decompression bomb"],
    ),
    # -- study.yml: bounded YAML, types, keys at every level
    (
        "billion_laughs_yaml",
        lambda d, t: (d / "study.yml").write_text(BILLION_LAUGHS),
        "load",
        UnsafeFileError,
        [
            r"study\.yml: refused: its aliases \(\*name\) expand to more than "
            r"100,000 values \(a 'billion laughs' file\)"
        ],
    ),
    (
        "billion_laughs_instrument",
        lambda d, t: (
            (d / "survey/inst.yml").write_text(BILLION_LAUGHS + "\nquestions: *a9\n"),
            edit(d, lambda y: y["survey"].__setitem__("instrument", "survey/inst.yml")),
        ),
        "load",
        StudyError,
        [r"survey/inst\.yml: .*its aliases \(\*name\) expand to more than 100,000 values"],
    ),
    (
        "recursive_alias_yaml",
        lambda d, t: (d / "study.yml").write_text("a: &a [1, *a]\n"),
        "load",
        UnsafeFileError,
        [r"an alias refers to itself"],
    ),
    (
        "touchpoint_events_number",
        lambda d, t: edit(d, lambda y: tp0(y, "events", 3)),
        "load",
        StudyError,
        [r"touchpoints\[0\]\.events: must be a name or a list of names, not 3"],
    ),
    (
        "traces_events_number",
        lambda d, t: edit(d, lambda y: y["traces"].__setitem__("events", 3)),
        "load",
        StudyError,
        [r"traces\.events: must be a file path or a list, not 3"],
    ),
    (
        "touchpoints_a_string",
        lambda d, t: edit(d, lambda y: y.__setitem__("touchpoints", "abc")),
        "load",
        StudyError,
        [r"touchpoints: must be a list, not 'abc'"],
    ),
    (
        "survey_a_list",
        lambda d, t: edit(d, lambda y: y.__setitem__("survey", ["a", "b"])),
        "load",
        StudyError,
        [r"survey: must be a mapping, not a list"],
    ),
    (
        "moment_of_truth_a_list",
        lambda d, t: edit(d, lambda y: tp0(y, "moment_of_truth", [1])),
        "load",
        StudyError,
        [r"touchpoints\[0\]\.moment_of_truth: must be true or false, not a list"],
    ),
    (
        "funnel_a_mapping",
        lambda d, t: edit(d, lambda y: y["traces"].__setitem__("funnel", {"a": 1})),
        "load",
        StudyError,
        [r"traces\.funnel: must be a name or a list of names, not a mapping"],
    ),
    (
        "misspelt_time_zone",
        lambda d, t: edit(d, lambda y: y["traces"].__setitem__("time_zone", "Europe/Paris")),
        "load",
        StudyError,
        [r"traces\.time_zone: unknown key -> did you mean 'timezone'\?"],
    ),
    (
        "misspelt_lable",
        lambda d, t: edit(d, lambda y: tp0(y, "lable", "Pub")),
        "load",
        StudyError,
        [r"touchpoints\[0\]\.lable: unknown key -> did you mean 'label'\?"],
    ),
    (
        "misspelt_persona_description",
        lambda d, t: edit(d, lambda y: y["personas"][1].__setitem__("desciption", "x")),
        "load",
        StudyError,
        [r"personas\[1\]\.desciption: unknown key -> did you mean 'description'\?"],
    ),
    (
        "misspelt_rule_key",
        lambda d, t: edit(d, lambda y: y["persona_assignment"]["rules"][0].__setitem__("wehn", {})),
        "load",
        StudyError,
        [
            r"persona_assignment\.rules\[0\]\.wehn: unknown key -> did you mean "
            r"'when'\?"
        ],
    ),
    (
        "misspelt_period_key",
        lambda d, t: edit(d, lambda y: y["traces"]["period"].__setitem__("stop", "2026-03-01")),
        "load",
        StudyError,
        [r"traces\.period\.stop: unknown key"],
    ),
    (
        "misspelt_label_language",
        lambda d, t: edit(d, lambda y: tp0(y, "label", {"fr": "Pub", "eng": "Ad"})),
        "load",
        StudyError,
        [r"touchpoints\[0\]\.label\.eng: unknown key -> did you mean 'en'\?"],
    ),
    # -- REFI-QDA projects
    (
        "qdpx_zip_without_project",
        lambda d, t: use_qdpx(d, {"readme.txt": b"hello"}),
        "excerpts",
        QualDataError,
        [r"project\.qdpx: no project\.qde in the archive", r"not a REFI-QDA project"],
    ),
    (
        "qdpx_path_traversal",
        lambda d, t: use_qdpx(d, {"../../evil.txt": b"x", "project.qde": b"<Project/>"}),
        "excerpts",
        UnsafeFileError,
        [
            r"project\.qdpx, \.\./\.\./evil\.txt: entry name climbs out "
            r"of the archive with '\.\.': refused \(path traversal\)"
        ],
    ),
    (
        "qdpx_xml_entities",
        lambda d, t: use_qdpx(d, {"project.qde": XML_BOMB}),
        "excerpts",
        UnsafeFileError,
        [r"project\.qdpx: project\.qde", r"entit"],
    ),
    (
        "qdpx_truncated",
        lambda d, t: use_qdpx(
            d,
            make=lambda p: (
                qdpx_zip(p, {"project.qde": b"<Project/>" * 5000}),
                p.write_bytes(p.read_bytes()[:60]),
            ),
        ),
        "excerpts",
        QualDataError,
        [r"project\.qdpx: not a readable zip archive"],
    ),
    (
        "qdpx_not_a_zip",
        lambda d, t: use_qdpx(d, make=lambda p: p.write_bytes(b"%PDF-1.4\n")),
        "excerpts",
        QualDataError,
        [r"project\.qdpx: not a zip archive, so not a \.qdpx project"],
    ),
]


def _call(kind: str, d: Path):
    if kind == "load":
        return pr.load_study(d)
    if kind == "events":
        return pr.traces.read_events(pr.load_study(d, read_responses=False)).count()
    if kind == "excerpts":
        return pr.qual.read_excerpts(pr.load_study(d, read_responses=False))
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "setup, call, expected, patterns", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hostile_input_gives_a_clear_error(study, template, setup, call, expected, patterns):
    setup(study, template)
    start = time.perf_counter()
    if call == "validate":
        v = pr.validate(study)
        text = "\n".join(map(str, v.problems()))
        assert not v.ok and expected in set(v.summary.loc[v.summary.severity == "error", "source"])
    else:
        with pytest.raises(StudyError) as info:
            _call(call, study)
        assert type(info.value) is expected, f"{type(info.value).__name__}: {info.value}"
        text = str(info.value)
    # quickly: no hang (FIFO), no bomb expanded; generous for a loaded CI machine
    assert time.perf_counter() - start < 10, "hostile input must be refused quickly"
    for pattern in patterns:
        assert re.search(pattern, text), f"{pattern!r} not in:\n{text}"
    assert SECRET not in text and "root:x:0:0" not in text  # nothing read from a refused file
    assert "Traceback" not in text


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 25 and len({c[0] for c in CASES}) == len(CASES)


def test_billion_laughs_is_refused_in_under_two_seconds(study):
    (study / "study.yml").write_text(BILLION_LAUGHS)
    start = time.perf_counter()
    with pytest.raises(UnsafeFileError):
        pr.load_study(study)
    assert time.perf_counter() - start < 2


def test_every_problem_of_study_yml_at_once(study):
    def change(y):
        tp0(y, "events", 3)
        tp0(y, "lable", "x")
        y["traces"]["time_zone"] = "Europe/Paris"
        y["survey"]["respondant_id"] = "rid"

    edit(study, change)
    with pytest.raises(StudyError) as info:
        pr.load_study(study)
    cols = [p.column for p in info.value.problems]
    assert {
        "touchpoints[0].events",
        "touchpoints[0].lable",
        "traces.time_zone",
        "survey.respondant_id",
    } <= set(cols)
    assert "did you mean 'respondent_id'?" in str(info.value)


# ---- correct loads next to the refusals ----------------------------------------------------
def test_allow_outside_paths_opts_in(study):
    outside = study.parent / "outside" / "responses.csv"
    shutil.copy(study / RESPONSES, outside)
    replace(study / RESPONSES, lambda p: p.symlink_to(outside))
    with pytest.raises(StudyError, match="outside the study folder"):
        pr.load_study(study)
    edit(study, lambda y: y.__setitem__("allow_outside_paths", True))
    assert len(pr.load_study(study).responses) == 80


def test_raised_limits_let_a_big_ratio_through(study):
    replace(study / EVENTS, lambda p: gzip_bomb(p, mb=3))
    edit(study, lambda y: y.__setitem__("limits", {"max_ratio": 5000}))
    s = pr.load_study(study, read_responses=False)
    assert s.limits.max_ratio == 5000
    assert pr.traces.read_events(s).count() == 3 * ((1 << 20) // len(ROW) + 1)


def test_symlink_inside_the_study_is_fine(study):
    real = study / "survey" / "answers_v2.csv"
    (study / RESPONSES).rename(real)
    (study / RESPONSES).symlink_to("answers_v2.csv")
    assert len(pr.load_study(study).responses) == 80


def test_a_long_line_under_the_limit_loads(study):
    ua = b"M" * 200_000
    replace(
        study / EVENTS,
        lambda p: p.write_bytes(
            gzip.compress(
                HEADER + b'd1,C1,2026-01-06T07:00:00,app_session,"' + ua + b'",/app\n' + ROW
            )
        ),
    )
    log = pr.traces.read_events(pr.load_study(study, read_responses=False))
    assert log.count() == 2


def test_read_events_on_a_path_checks_the_file_too(tmp_path):
    os.mkfifo(tmp_path / "events.csv")
    with pytest.raises(UnsafeFileError, match=r"is a named pipe \(FIFO\)"):
        pr.traces.read_events(str(tmp_path / "events.csv"))


def test_survey_reader_refuses_a_fifo(tmp_path):
    from parcours_research.survey.io import read_table

    os.mkfifo(tmp_path / "answers.csv")
    with pytest.raises(UnsafeFileError, match=r"answers\.csv: is a named pipe"):
        read_table(tmp_path / "answers.csv")
    (tmp_path / "missing.csv").unlink(missing_ok=True)
    with pytest.raises(SurveyDataError, match="file not found"):
        read_table(tmp_path / "missing.csv")


def test_identity_map_reader_refuses_a_device(tmp_path):
    from parcours_research.traces.identity import read_identity_map

    (tmp_path / "idm.csv").symlink_to("/dev/null")
    with pytest.raises(UnsafeFileError, match="character device"):
        read_identity_map(str(tmp_path / "idm.csv"))


# ---- figures: labels are text, never formulas ----------------------------------------------
def test_mathtext_label_does_not_crash_figures(study):
    import matplotlib

    matplotlib.use("Agg")
    label = r"Offre $\frac$ à $5 / mois $x^$"
    edit(study, lambda y: tp0(y, "label", {"fr": label, "en": label}))
    s = pr.load_study(study)
    table = pr.curves.journey_curves(s, by=None, weight=None, qual=False)
    fig = pr.plot.journey_curves(table, journey=s)
    fig.savefig(io.BytesIO(), format="png", dpi=40)
    shown = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert shown[0] == label.replace("$", r"\$")  # drawn as written: "\$" is a literal "$"


def test_every_text_drawn_in_the_kit_style_is_plain():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    with pr.plot.style():
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1], label="$x^$")
        ax.set_xticks([0, 1], ["$\\frac$", "b"])
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, pos: f"${v:.1f}"))
        ax.set_title("Prix $ / mois $")
        ax.legend()
    fig.savefig(io.BytesIO(), format="png", dpi=30)  # no mathtext ParseSyntaxException
    assert ax.get_title() == r"Prix \$ / mois \$"
    assert ax.get_xticklabels()[0].get_text() == r"\$\frac\$"
    plt.close(fig)


def test_plain_is_idempotent():
    from parcours_research.plot._labels import plain

    assert plain("a $x$ b") == r"a \$x\$ b"
    assert plain(plain("a $x$ b")) == plain("a $x$ b")


# ---- validate: every source read, every problem listed, never OK over a problem -----------
def test_validate_reads_every_source_of_the_sample(study):
    v = pr.validate(study)
    assert v.ok and v.n_warnings == 0, v.summary
    assert list(v.sources["source"]) == [
        "study.yml",
        "survey",
        "customers",
        "truth",
        "events",
        "identity_map",
        "excerpts",
    ]
    assert set(v.sources["status"]) == {"ok"}
    assert list(v.summary.columns) == [
        "source",
        "severity",
        "file",
        "row",
        "column",
        "message",
        "fix",
    ]
    assert repr(v).startswith("Validation('study', 0 error(s), 0 warning(s)")


def test_validate_lists_problems_of_several_sources_at_once(study, template):
    replace(study / EVENTS, lambda p: p.write_bytes(gzip.compress(HEADER)))
    use_qdpx(study, {"readme.txt": b"x"})
    (study / "traces/identity.csv").write_bytes(b"\xff\xfe\x00garbage\x00\n\x00")
    v = pr.validate(study)
    errors = v.summary[v.summary.severity == "error"]
    assert {"events", "excerpts"} <= set(errors["source"]), v.summary
    assert (errors["fix"].str.len() > 0).all()
    with pytest.raises(StudyError, match="holds no event"):
        v.raise_for_errors()


def test_validate_warns_about_events_marking_no_touchpoint(study):
    edit(
        study,
        lambda y: [t.__setitem__("events", []) for t in y["touchpoints"] if t["id"] == "app_usage"],
    )
    v = pr.validate(study)
    assert v.ok and v.n_warnings == 1
    assert re.search(
        r"rows \(.*%\) have an event that marks no touchpoint: app_session \(", v.summary.message[0]
    )


class _Done:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run_cli(capsys, *args):
    """``parcours ARGS`` in this process (as tests/test_cli.py does)."""
    from parcours_research.cli import main

    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return _Done(code, out, err)


@pytest.mark.parametrize(
    "break_it, expected",
    [
        (lambda d: use_qdpx(d, {"readme.txt": b"x"}), r"no project\.qde in the archive"),
        (
            lambda d: replace(d / EVENTS, lambda p: p.write_bytes(gzip.compress(HEADER))),
            r"the event log holds no event",
        ),
        (
            lambda d: replace(d / EVENTS, lambda p: p.write_bytes(b"")),
            r"traces/events\.csv\.gz: the file is empty",
        ),
        (lambda d: replace(d / EVENTS, gzip_bomb), r"decompression bomb"),
        (lambda d: replace(d / RESPONSES, fifo), r"named pipe"),
    ],
    ids=["broken_qdpx", "header_only_log", "zero_byte_log", "gzip_bomb", "fifo"],
)
def test_cli_validate_exits_1_and_never_says_ok_over_a_problem(study, break_it, expected, capsys):
    break_it(study)
    done = run_cli(capsys, "validate", study)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "OK" not in done.stdout and "OK" not in done.stderr
    assert done.stderr.startswith("error: The study in")
    assert re.search(expected, done.stderr), done.stderr
    numbered = re.findall(r"^  (\d+)\. (.+)$", done.stderr, re.M)
    assert numbered and all(" -> " in line for _, line in numbered)
    assert "Traceback" not in done.stderr


def test_cli_validate_with_warnings_exits_0_without_ok(study, capsys):
    edit(
        study,
        lambda y: [t.__setitem__("events", []) for t in y["touchpoints"] if t["id"] == "app_usage"],
    )
    done = run_cli(capsys, "validate", study)
    assert done.returncode == 0, done.stderr
    assert "OK: the study is valid." not in done.stdout
    assert "Readable, with 1 warning to read:" in done.stdout
    assert "marks no touchpoint: app_session" in done.stdout


def test_cli_validate_ok_on_a_clean_study(study, capsys):
    done = run_cli(capsys, "validate", study)
    assert done.returncode == 0 and done.stdout.rstrip().endswith("OK: the study is valid.")
