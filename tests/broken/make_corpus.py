"""Write the corpus of broken study folders and response files (``tests/broken/<case>/``).

Each case is the tiny valid study below with ONE mutation (or a handful, for the cases that
check that several problems are reported at once), plus ``expected.yml``: the error class,
the exact number of problems, and for each expected problem its file, key or column, row,
and words of its message and fix. ``tests/test_study.py`` loads every folder and checks it;
it also checks that this script still writes exactly the committed files.

Run ``python tests/broken/make_corpus.py`` after changing a case, then commit the folders.
Try one by hand: ``parcours validate tests/broken/unknown_channel``.
"""

from __future__ import annotations

import copy
import csv
import io
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
RESPONSES = "survey/responses.csv"

BASE_STUDY: dict = {
    "name": "Mini study",
    "language": "en",
    "journey": {"template": "purchase4"},
    "targets": {"satisfaction": {"default": 4.0}, "conversion": {"achat": 0.3}},
    "touchpoints": [
        {
            "id": "web_search",
            "label": {"fr": "Recherche web", "en": "Web search"},
            "stage": "recherche",
            "channel": "web",
            "events": ["search"],
        },
        {
            "id": "product_page",
            "label": {"fr": "Page produit", "en": "Product page"},
            "stage": "achat",
            "channel": "web",
            "events": ["product_view"],
        },
        {
            "id": "checkout",
            "label": {"fr": "Paiement", "en": "Checkout"},
            "stage": "achat",
            "channel": "web",
            "moment_of_truth": True,
            "events": ["pay"],
        },
        {
            "id": "delivery",
            "label": {"fr": "Livraison", "en": "Delivery"},
            "stage": "usage",
            "channel": "post",
        },
        {
            "id": "support_call",
            "label": {"fr": "Appel au service client", "en": "Support call"},
            "stage": "usage",
            "channel": "call_centre",
        },
        {
            "id": "review",
            "label": {"fr": "Avis", "en": "Review"},
            "stage": "souvenir",
            "channel": "email",
            "events": ["review_post"],
        },
    ],
    "personas": [
        {"id": "digital", "label": {"fr": "Numérique", "en": "Digital"}},
        {"id": "classic", "label": {"fr": "Classique", "en": "Classic"}},
    ],
    "persona_assignment": {
        "rules": [{"persona": "digital", "when": {"channel_pref": ["digital"]}}],
        "default": "classic",
    },
    "survey": {"instrument": "standard_touchpoint", "responses": RESPONSES},
    "margins": {"persona": {"digital": 0.6, "classic": 0.4}},
}

HEADER = [
    "respondent_id",
    "customer_id",
    "overall_sat",
    "nps",
    "age_band",
    "channel_pref",
    "sat_checkout",
    "sat_delivery",
    "comment",
]
BASE_ROWS = [
    ["R1", "C1", "4", "9", "18-34", "digital", "5", "4", ""],
    ["R2", "C2", "2", "3", "55+", "physical", "1", "", "Trop long"],
    ["R3", "", "5", "10", "35-54", "mixed", "", "5", ""],
]


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    return buf.getvalue()


def P(
    file: str,
    message: str,
    column: str | None = None,
    row: int | None = None,
    fix: str | None = None,
) -> dict:
    """One expected problem: ``message`` and ``fix`` are words the real ones must contain."""
    return {
        k: v
        for k, v in {
            "file": file,
            "column": column,
            "row": row,
            "message": message,
            "fix": fix,
        }.items()
        if v is not None
    }


S, R = "study.yml", RESPONSES

# ---------------------------------------------------------------------------------------------
# the cases: name -> (what it shows, mutation of the study dict, mutation of the responses, expect)
# A mutation returns None to leave the file out; a `bytes` value is written as is.
Mut = Callable[[dict], dict | bytes | str | None]
CASES: dict[str, dict] = {}


def case(
    name: str,
    doc: str,
    expect: dict,
    study: Mut | None = None,
    responses: Callable[[list[str], list[list[str]]], bytes | str | None] | None = None,
    extra: dict[str, bytes | str] | None = None,
) -> None:
    CASES[name] = {
        "doc": doc,
        "study": study,
        "responses": responses,
        "extra": extra or {},
        "expect": expect,
    }


def at(path: str, value) -> Mut:
    """Set ``value`` at a dotted path (``touchpoints.1.stage``)."""

    def f(d: dict) -> dict:
        keys = path.split(".")
        node = d
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        last = keys[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        return d

    return f


def chain(*fs: Mut) -> Mut:
    def f(d: dict):
        for g in fs:
            d = g(d)
        return d

    return f


def rows_with(
    changes: dict[tuple[int, str], str],
    add_column: str | None = None,
    extra_rows: list[list[str]] | None = None,
):
    """Responses with cells changed (data row index, column) -> value."""

    def f(header: list[str], rows: list[list[str]]) -> str:
        header = list(header)
        rows = [list(r) for r in rows] + [list(r) for r in extra_rows or []]
        if add_column:
            header.append(add_column)
            rows = [r + ["x"] for r in rows]
        for (i, col), v in changes.items():
            rows[i][header.index(col)] = v
        return csv_text(header, rows)

    return f


def error(n: int, *problems: dict, cls: str = "StudyError", summary: str | None = None) -> dict:
    out = {"error": cls, "n_problems": n, "problems": list(problems)}
    if summary:
        out["summary"] = summary
    return out


# ---- study.yml -------------------------------------------------------------------------------
case(
    "missing_study_yml",
    "The folder holds study.yaml instead of study.yml.",
    error(1, P(S, "no study.yml", fix="rename study.yaml to study.yml")),
    study=lambda d: None,
    extra={"study.yaml": "name: Mini study\n"},
)

INVALID_YAML = yaml.safe_dump(BASE_STUDY, sort_keys=False, allow_unicode=True).replace(
    "  channel: post\n", "  channel: post\n\tnature: tangible\n", 1
)
_TAB_LINE = INVALID_YAML.splitlines().index("\tnature: tangible") + 2  # + the comment line on top
case(
    "invalid_yaml",
    "A tab indents one line of study.yml: the line and column are reported.",
    error(1, P(S, "not valid YAML", column=f"line {_TAB_LINE}, column 1", fix="spaces, not tabs")),
    study=lambda d: INVALID_YAML,
)
DUPLICATE_KEY = yaml.safe_dump(BASE_STUDY, sort_keys=False, allow_unicode=True) + "margins: {}\n"
_LINES = DUPLICATE_KEY.splitlines()
case(
    "duplicate_yaml_key",
    "`margins:` appears twice; plain YAML would keep the second silently.",
    error(
        1,
        P(
            S,
            f"key 'margins' appears again (first on line {_LINES.index('margins:') + 2})",
            column=f"line {len(_LINES) + 1}",  # + the comment line on top
            fix="merge the two",
        ),
    ),
    study=lambda d: DUPLICATE_KEY,
)
PYTHON_TAG = 'name: !!python/object/apply:os.system ["echo pwned > pwned.txt"]\n' + yaml.safe_dump(
    {k: v for k, v in BASE_STUDY.items() if k != "name"}, sort_keys=False, allow_unicode=True
)
case(
    "yaml_python_tag",
    "A YAML tag that would run a command if study.yml were read unsafely: refused, nothing runs.",
    error(
        1,
        P(
            S,
            "could not determine a constructor",
            column="line 2, column 7",
            fix="remove the `!!` tag",
        ),
    ),
    study=lambda d: PYTHON_TAG,
)
case(
    "unknown_top_key",
    "`touchpoint:` (typo) next to `touchpoints:`.",
    error(1, P(S, "unknown key", column="touchpoint", fix="did you mean 'touchpoints'")),
    study=at("touchpoint", [{"id": "extra"}]),
)
case(
    "unknown_template",
    "journey.template names a template that is not shipped.",
    error(
        1,
        P(
            S,
            "unknown template 'purchase5'",
            column="journey.template",
            fix="did you mean 'purchase4'",
        ),
    ),
    study=at("journey", {"template": "purchase5"}),
)
case(
    "stage_listed_twice",
    "An explicit stage list names `achat` twice.",
    error(
        1,
        P(
            S,
            "stage 'achat' is listed twice",
            column="journey.stages[2].id",
            fix="list each stage once",
        ),
    ),
    study=at("journey", {"stages": ["recherche", "achat", "achat", "usage", "souvenir"]}),
)
case(
    "touchpoint_unknown_stage",
    "A touchpoint names the stage `acheter` (the stage is `achat`).",
    error(
        1,
        P(S, "unknown stage 'acheter'", column="touchpoints[1].stage", fix="did you mean 'achat'"),
    ),
    study=at("touchpoints.1.stage", "acheter"),
)
case(
    "unknown_channel",
    "A touchpoint uses the channel `letter` (the channel is `post`).",
    error(
        1,
        P(
            S,
            "unknown channel 'letter'",
            column="touchpoints[3].channel",
            fix="use one of web, app",
        ),
    ),
    study=at("touchpoints.3.channel", "letter"),
)
case(
    "duplicate_touchpoint_id",
    "Two touchpoints have the id `delivery`.",
    error(
        1,
        P(S, "touchpoint 'delivery' is listed twice", column="touchpoints[4].id", fix="its own id"),
    ),
    study=at("touchpoints.4.id", "delivery"),
)
case(
    "event_two_touchpoints",
    "The trace event `pay` marks two touchpoints.",
    error(
        1,
        P(
            S,
            "event 'pay' already marks touchpoint 'product_page'",
            column="touchpoints[2].events",
            fix="only one touchpoint",
        ),
    ),
    study=at("touchpoints.1.events", ["product_view", "pay"]),
)
case(
    "bad_id_characters",
    "A touchpoint id with a hyphen and an accent.",
    error(
        1,
        P(
            S,
            "'web-recherché' is not a valid id",
            column="touchpoints[0].id",
            fix="letters, digits and underscores",
        ),
    ),
    study=at("touchpoints.0.id", "web-recherché"),
)
case(
    "rule_unknown_persona",
    "A persona rule assigns `digitale`, which is not declared.",
    error(
        1,
        P(
            S,
            "unknown persona 'digitale'",
            column="persona_assignment.rules[0].persona",
            fix="did you mean 'digital'",
        ),
    ),
    study=at("persona_assignment.rules.0.persona", "digitale"),
)
case(
    "rule_unknown_operator",
    "A persona rule uses the operator `under` (not `max`).",
    error(
        1,
        P(
            S,
            "unknown operator(s) ['under']",
            column="persona_assignment.rules[0].when.tenure_years",
            fix="use in, not_in, min, max, missing",
        ),
    ),
    study=at(
        "persona_assignment.rules.0.when",
        {"channel_pref": ["digital"], "tenure_years": {"under": 2}},
    ),
)
case(
    "rule_bound_not_a_number",
    "A persona rule bound is text (`max: two`).",
    error(
        1,
        P(
            S,
            "'two' is not a number",
            column="persona_assignment.rules[0].when.tenure_years.max",
            fix="write a number",
        ),
    ),
    study=at("persona_assignment.rules.0.when", {"tenure_years": {"max": "two"}}),
)
case(
    "margins_not_summing",
    "Population shares of the persona margin add up to 1.1.",
    error(1, P(S, "shares sum to 1.1, not 1", column="margins.persona", fix="must add up to 1")),
    study=at("margins.persona.classic", 0.5),
)
case(
    "margin_share_out_of_range",
    "Margins written as percentages (60, 40) instead of shares.",
    error(
        2,
        P(S, "60 is outside [0, 1]", column="margins.persona.digital", fix="0.25 for 25%"),
        P(S, "40 is outside [0, 1]", column="margins.persona.classic", fix="0.25 for 25%"),
    ),
    study=at("margins.persona", {"digital": 60, "classic": 40}),
)
case(
    "margin_column_not_in_responses",
    "A margin names a column the responses do not have.",
    error(
        1,
        P(
            S,
            "margin column 'gender' is not in the responses",
            column="margins.gender",
            fix="must name response columns",
        ),
    ),
    study=at(
        "margins", {"persona": {"digital": 0.6, "classic": 0.4}, "gender": {"f": 0.5, "m": 0.5}}
    ),
)
case(
    "path_leaves_folder",
    "The responses path climbs out of the study folder.",
    error(
        1,
        P(
            S,
            "'../responses.csv' leaves the study folder",
            column="survey.responses",
            fix="copy the file into the study folder",
        ),
    ),
    study=at("survey.responses", "../responses.csv"),
)
case(
    "missing_responses_file",
    "The responses path has a typo (`reponses`).",
    error(
        1,
        P(
            S,
            "file 'survey/reponses.csv' does not exist",
            column="survey.responses",
            fix="did you mean 'survey/responses.csv'",
        ),
    ),
    study=at("survey.responses", "survey/reponses.csv"),
)
case(
    "unknown_instrument",
    "survey.instrument names a questionnaire that is not shipped.",
    error(
        1,
        P(
            S,
            "unknown instrument 'standard_touchpoints'",
            column="survey.instrument",
            fix="did you mean 'standard_touchpoint'",
        ),
    ),
    study=at("survey.instrument", "standard_touchpoints"),
)
case(
    "several_problems_study",
    "Four problems in study.yml, all reported in one error.",
    error(
        4,
        P(S, "unknown key", column="touchpoint"),
        P(S, "unknown channel 'letter'", column="touchpoints[3].channel"),
        P(S, "touchpoint 'delivery' is listed twice", column="touchpoints[4].id"),
        P(S, "shares sum to 1.1", column="margins.persona"),
    ),
    study=chain(
        at("touchpoint", []),
        at("touchpoints.3.channel", "letter"),
        at("touchpoints.4.id", "delivery"),
        at("margins.persona.classic", 0.5),
    ),
)

# ---- responses -------------------------------------------------------------------------------
SV = "SurveyDataError"
case(
    "unknown_column",
    "The responses have a column the questionnaire does not define (typo).",
    error(
        1, P(R, "unknown column", column="sat_chekout", fix="did you mean 'sat_checkout'"), cls=SV
    ),
    responses=rows_with({}, add_column="sat_chekout"),
)
case(
    "missing_required_column",
    "The responses lack the required `nps` column.",
    error(1, P(R, "required column is missing", column="nps", fix="add the column"), cls=SV),
    responses=lambda h, rows: csv_text([c for c in h if c != "nps"], [r[:3] + r[4:] for r in rows]),
)
case(
    "out_of_scale",
    "overall_sat is 6 on a 1..5 scale (data row 2 = spreadsheet row 3).",
    error(
        1,
        P(R, "6 is outside the scale 1..5", column="overall_sat", row=3, fix="check the codebook"),
        cls=SV,
    ),
    responses=rows_with({(1, "overall_sat"): "6"}),
)
case(
    "not_a_point_of_scale",
    "A satisfaction answer of 4.5 on a 1..5 scale.",
    error(1, P(R, "4.5 is not a point of the scale 1..5", column="sat_delivery", row=2), cls=SV),
    responses=rows_with({(0, "sat_delivery"): "4.5"}),
)
case(
    "non_numeric_answer",
    "nps holds the word `dix`.",
    error(1, P(R, "'dix' is not a number", column="nps", row=4, fix="enter a number"), cls=SV),
    responses=rows_with({(2, "nps"): "dix"}),
)
case(
    "sentinel_code",
    "nps holds -99, an SPSS-style missing code: reported, not blanked silently.",
    error(1, P(R, "-99 is outside the scale 0..10", column="nps", row=2), cls=SV),
    responses=rows_with({(0, "nps"): "-99"}),
)
case(
    "duplicate_respondent",
    "Respondent R2 submitted twice.",
    error(
        1,
        P(
            R,
            "respondent id 'R2' appears 2 times (rows 3, 5)",
            column="respondent_id",
            row=3,
            fix="remove duplicate submissions",
        ),
        cls=SV,
    ),
    responses=rows_with({}, extra_rows=[["R2", "C2", "3", "4", "55+", "physical", "", "", ""]]),
)
case(
    "missing_required_answer",
    "age_band (required) is blank on one row.",
    error(
        1,
        P(R, "required answer is missing", column="age_band", row=4, fix="complete the answer"),
        cls=SV,
    ),
    responses=rows_with({(2, "age_band"): ""}),
)
case(
    "blank_respondent_id",
    "A row without a respondent id.",
    error(
        1, P(R, "respondent id is blank", column="respondent_id", row=2, fix="unique id"), cls=SV
    ),
    responses=rows_with({(0, "respondent_id"): " "}),
)
case(
    "option_not_in_list",
    "channel_pref holds `online`, which is not an option.",
    error(
        1,
        P(
            R,
            "'online' is not an option",
            column="channel_pref",
            row=3,
            fix="use one of digital, mixed, physical",
        ),
        cls=SV,
    ),
    responses=rows_with({(1, "channel_pref"): "online"}),
)
case(
    "duplicate_header",
    "The header names nps twice.",
    error(
        1,
        P(R, "appears more than once in the header", column="nps", fix="rename or remove"),
        cls=SV,
    ),
    responses=lambda h, rows: csv_text([*h, "nps"], [[*r, "7"] for r in rows]),
)
case(
    "ragged_row",
    "A row has one more (non-empty) cell than the header.",
    error(
        1,
        P(R, "the row has 10 fields but the header has 9", row=3, fix="remove the extra cells"),
        cls=SV,
    ),
    responses=lambda h, rows: csv_text(h, [rows[0], [*rows[1], "oops"], rows[2]]),
)
case(
    "binary_as_csv",
    "An Excel workbook renamed responses.csv.",
    error(1, P(R, "binary, not CSV text", fix="export the responses as CSV"), cls=SV),
    responses=lambda h, rows: (
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml\x00\x00"
    ),
)
case(
    "excel_workbook",
    "survey.responses names an .xlsx workbook that is damaged (8 bytes of a zip header).",
    error(
        1,
        P(
            "survey/responses.xlsx",
            "not a readable Excel workbook",
            fix="save it again from Excel",
        ),
        cls=SV,
    ),
    study=at("survey.responses", "survey/responses.xlsx"),
    responses=lambda h, rows: None,
    extra={"survey/responses.xlsx": b"PK\x03\x04\x14\x00\x06\x00"},
)
case(
    "empty_file",
    "responses.csv is empty (0 bytes).",
    error(1, P(R, "the file is empty", fix="export the responses again"), cls=SV),
    responses=lambda h, rows: b"",
)
case(
    "header_only",
    "responses.csv has a header but no respondent.",
    error(1, P(R, "header but no responses", fix="at least one respondent"), cls=SV),
    responses=lambda h, rows: csv_text(h, []),
)
case(
    "several_problems_responses",
    "Four problems in the responses, all reported in one error.",
    error(
        4,
        P(R, "unknown column", column="sat_chekout"),
        P(R, "respondent id 'R2' appears 2 times", column="respondent_id", row=3),
        P(R, "6 is outside the scale 1..5", column="overall_sat", row=2),
        P(R, "'online' is not an option", column="channel_pref", row=4),
        cls=SV,
    ),
    responses=rows_with(
        {(0, "overall_sat"): "6", (2, "channel_pref"): "online"},
        add_column="sat_chekout",
        extra_rows=[["R2", "C2", "3", "4", "55+", "physical", "", "", ""]],
    ),
)

# ---- files that must LOAD (a corpus of hard-but-valid files) --------------------------------
CP1252 = (
    csv_text(HEADER, [*BASE_ROWS[:2], [*BASE_ROWS[2][:-1], "Très bien, 10 € de moins"]])
    .replace("\n", "\r\n")
    .encode("cp1252")
)
case(
    "cp1252_loads",
    "A Windows-1252 file (é, €) with CRLF line ends: it loads, nothing lost.",
    {
        "error": None,
        "n_rows": 3,
        "values": {"comment": [None, "Trop long", "Très bien, 10 € de moins"]},
    },
    responses=lambda h, rows: CP1252,
)
case(
    "blank_line_loads",
    "A blank line between respondents: skipped, and row numbers still match.",
    {"error": None, "n_rows": 3, "values": {"respondent_id": ["R1", "R2", "R3"]}},
    responses=lambda h, rows: (
        csv_text(h, rows[:1]) + "\n" + csv_text(h, rows[1:]).split("\n", 1)[1]
    ),
)


def write_case(name: str, spec: dict, out: Path) -> None:
    folder = out / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    study = spec["study"](copy.deepcopy(BASE_STUDY)) if spec["study"] else copy.deepcopy(BASE_STUDY)
    if study is not None:
        text = (
            study
            if isinstance(study, str)
            else yaml.safe_dump(study, sort_keys=False, allow_unicode=True)
        )
        (folder / "study.yml").write_text(f"# {spec['doc']}\n" + text, encoding="utf-8")
    resp = (
        spec["responses"](HEADER, BASE_ROWS) if spec["responses"] else csv_text(HEADER, BASE_ROWS)
    )
    files = dict(spec["extra"])
    if resp is not None:
        files[RESPONSES] = resp
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8"))
    expect = {"doc": spec["doc"], **spec["expect"]}
    (folder / "expected.yml").write_text(
        yaml.safe_dump(expect, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )


def write_corpus(out: Path = HERE) -> list[str]:
    """Write every case under ``out``; returns the case names."""
    for name, spec in CASES.items():
        write_case(name, spec, out)
    return list(CASES)


if __name__ == "__main__":
    names = write_corpus(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(f"{len(names)} cases written")
