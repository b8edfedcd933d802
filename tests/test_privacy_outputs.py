"""Output audit: personal data planted in every input field never reaches an output file.

The bundled sample (data/sample) is copied and personal data planted in it: e-mail addresses
and names used as customer and device ids (on the devices shared by several customers, so they
land in the identity-conflicts table), names, e-mails, phones, IBANs, NIRs, card numbers and
addresses in the customer file, the survey's open answers, the interview excerpts (also a
participant labelled with a full name) and the event log's page URLs. Then ``parcours report``
runs, and the notebooks that show the prepared evidence (05 friction with its quotes, 09
privacy) are executed on it. No planted value, and no raw id of the sample's form
(``C000123``, ``d0001234``, ``R00012``), may appear in any output: HTML, CSV, SVG, PNG metadata,
executed notebooks (their text and the metadata of their images).

Only two notebooks run here to keep CI fast (about 30 s each on two shared cores); 01, 02 and 04
show raw input rows on purpose (``ratings.head()``, ``traces.raw.head()``, ``excerpts.head()`` of
``read_excerpts``) and are left to a later change (see the report of issue 16).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

import parcours_research as pr
from parcours_research.cli import main
from parcours_research.privacy import is_pseudonym

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"

NAMES = ["Gwendoline Kerhervé", "Ambroise Vasseur-Lenoir", "Théodora Quéméner"]
IBAN = "FR14 2004 1010 0505 0001 3M02 606"
NIR = "2 69 05 49 588 157 80"
CARD = "4970 1012 3456 7893"
PHONE = "06 71 23 45 98"
EMAIL = "gwendoline.kerherve@exemple.fr"
ADDRESS = "17 bis rue des Lilas, 44300 Nantes"
SENTENCES = [
    f"Ma conseillère {NAMES[0]} m'a demandé mon IBAN {IBAN} au téléphone, c'était gênant.",
    f"Je suis {NAMES[1]}, mon numéro de sécu {NIR} a été refusé par l'appli.",
    f"Rappelez-moi au {PHONE} ou écrivez à {EMAIL}, la vérification a échoué.",
    f"Le courrier est parti au {ADDRESS} alors que j'ai déménagé, c'est nul.",
    f"Ma carte {CARD} a été débitée deux fois, horrible.",
    f"{NAMES[2]} à l'agence n'a rien pu faire, IBAN {IBAN.replace(' ', '')}.",
]
# what must not appear anywhere (compared case-insensitively, with and without spaces)
PLANTED = [
    *NAMES,
    "Kerhervé",
    "Kerherve",
    "Vasseur",
    "Quéméner",
    IBAN,
    NIR,
    CARD,
    PHONE,
    EMAIL,
    "rue des Lilas",
    "gwendoline",
    "tablette-famille",
]
RAW_IDS = re.compile(r"\b(?:C\d{6}|d\d{7}|R\d{5})\b")


def _plant(folder: Path) -> dict[str, str]:
    """Plant personal data in every input of the copied sample; return the id mapping."""
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    shared = list(truth["events"]["shared_devices"])[:6]
    ident = pd.read_csv(folder / "traces" / "identity.csv", dtype=str)
    owners = sorted(set(ident.loc[ident["device_id"].isin(shared), "customer_id"].dropna()))
    ids = {d: f"tablette-famille-{i}" for i, d in enumerate(shared)}
    ids |= {c: f"gwendoline.kerherve+{i}@exemple.fr" for i, c in enumerate(owners)}

    def swap(df, cols):
        for c in cols:
            if c in df.columns:
                df[c] = df[c].map(lambda v: ids.get(v, v))
        return df

    cust = swap(pd.read_csv(folder / "crm" / "customers.csv", dtype=str), ["customer_id"])
    cust["nom"], cust["email"], cust["iban"] = NAMES[0], EMAIL, IBAN
    cust.to_csv(folder / "crm" / "customers.csv", index=False)
    swap(ident, ["device_id", "customer_id"]).to_csv(
        folder / "traces" / "identity.csv", index=False
    )
    resp = swap(pd.read_csv(folder / "survey" / "responses.csv", dtype=str), ["customer_id"])
    resp.loc[: len(SENTENCES) * 5 - 1, "comment"] = SENTENCES * 5
    resp.to_csv(folder / "survey" / "responses.csv", index=False)
    ex = swap(pd.read_csv(folder / "qual" / "excerpts.csv", dtype=str), ["customer_id"])
    neg = ex.index[ex["valence"].astype(float) < 0]
    ex.loc[neg, "text"] = [
        f"{t} {SENTENCES[i % len(SENTENCES)]}" for i, t in enumerate(ex.loc[neg, "text"])
    ]
    ex.loc[ex["participant"] == ex["participant"].iloc[0], "participant"] = NAMES[1]
    ex.to_csv(folder / "qual" / "excerpts.csv", index=False)
    with gzip.open(folder / "traces" / "events.csv.gz", "rt", encoding="utf-8") as fh:
        ev = pd.read_csv(fh, dtype=str)
    ev = swap(ev, ["device_id", "customer_id", "user_id"])
    ev["page"] = ev["page"].fillna("") + f"?email={EMAIL}"
    with gzip.open(folder / "traces" / "events.csv.gz", "wt", encoding="utf-8") as fh:
        ev.to_csv(fh, index=False)
    return ids


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("planted") / "study"
    shutil.copytree(SAMPLE, folder)
    return folder, _plant(folder)


def _image_texts(data: bytes) -> str:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return " ".join(f"{k}={v}" for k, v in im.info.items() if isinstance(v, str | bytes))


def _leaks(path: Path) -> list[str]:
    """Planted values or raw ids found in one output file (text, and image metadata)."""
    raw = path.read_bytes()
    texts = [raw.decode("utf-8", errors="replace")]
    if path.suffix == ".png":
        texts.append(_image_texts(raw))
    if path.suffix == ".ipynb":
        nb = json.loads(raw)
        # cell ids are random (8 hex digits: papermill's injected cell once drew "d0566194",
        # the shape of a raw device id): the notebook is scanned without them
        for cell in nb["cells"]:
            cell.pop("id", None)
        texts[0] = json.dumps(nb, ensure_ascii=False, indent=1)
        for cell in nb["cells"]:
            for out in cell.get("outputs", []):
                png = out.get("data", {}).get("image/png")
                if png:
                    texts.append(_image_texts(base64.b64decode(png)))
    found = []
    for text in texts:
        low, squeezed = text.casefold(), re.sub(r"\s+", "", text.casefold())
        for v in PLANTED:
            if v.casefold() in low or re.sub(r"\s+", "", v.casefold()) in squeezed:
                found.append(f"{path.name}: {v!r}")
        found += [f"{path.name}: raw id {m}" for m in sorted(set(RAW_IDS.findall(text)))[:3]]
    return found


def _run_notebook(name: str, study: Path, out: Path) -> Path:
    import papermill

    dest = out / name
    papermill.execute_notebook(
        str(ROOT / "notebooks" / name),
        str(dest),
        parameters={"study_dir": str(study)},
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
        kernel_name="python3",
    )
    return dest


@pytest.mark.slow
def test_no_planted_value_in_any_output(planted, tmp_path):
    """The report and the notebooks that show rows of the inputs (ids, texts) on the planted
    study: nothing planted comes out. Slow (report about 15 s, notebooks about 10 s each)."""
    study, ids = planted
    out = tmp_path / "report"
    assert main(["report", str(study), "-o", str(out), "--quiet", "--n-boot", "50"]) == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {".html", ".csv", ".png", ".svg"} <= {p.suffix for p in files}
    conflicts = pd.read_csv(out / "tables" / "identity_conflicts.csv")
    assert len(conflicts) and conflicts[["device_id", "user_id"]].stack().map(is_pseudonym).all()
    for nb in ("01_quickstart.ipynb", "02_traces.ipynb", "04_qualitative.ipynb", "05_friction.ipynb",
               "09_privacy.ipynb"):
        files.append(_run_notebook(nb, study, tmp_path))
    leaks = [x for p in files for x in _leaks(p)]
    assert leaks == [], leaks[:20]


@pytest.mark.slow
def test_conflicts_and_excerpts_are_pseudonymised_consistently(planted):
    """The same customer has the same pseudonym in every table of one study (the study's
    salt), and another one with another salt. Slow: prepares the sample's whole event log."""
    study_dir, ids = planted
    study = pr.load_study(study_dir)
    ev = pr.prepare(study)
    conflicts = ev.traces.conflicts
    assert conflicts[["device_id", "user_id"]].stack().map(is_pseudonym).all()
    planted_customers = [raw for raw in ids if "@" in ids[raw]]
    pseudo = pr.privacy.pseudonymise([ids[c] for c in planted_customers], study.privacy_salt)
    assert set(conflicts["user_id"]) & set(pseudo)  # the planted customers are in the table
    shown = set(ev.excerpts["customer_id"].dropna())
    raw_ex = pr.qual.read_excerpts(study)
    for raw, ps in zip([ids[c] for c in planted_customers], pseudo):
        if raw in set(raw_ex["customer_id"]):
            assert ps in shown  # same pseudonym in the excerpts as in the conflicts table
    assert pr.privacy.pseudonymise(ids[planted_customers[0]], "another-study") not in set(
        conflicts["user_id"]
    )
    text = " ".join(ev.excerpts["text"].dropna())
    for v in (IBAN, NIR, CARD, PHONE, EMAIL, "rue des Lilas", "Kerhervé", "Vasseur"):
        assert v not in text


def test_privacy_cli_lists_fields_and_detectors(planted, capsys):
    study, _ = planted
    assert main(["privacy", str(study)]) == 0
    out = capsys.readouterr().out
    assert "customer_id" in out and "pseudonymised" in out and "scrubbed" in out
    assert "nom" in out and "iban" in out and "never shown" in out  # the planted CRM columns
    assert "stdnum.iban" in out and "IBAN" in out
    for v in (IBAN, EMAIL, NAMES[0]):
        assert v not in out  # counts only, never values


def test_pseudonymise_ids_is_consistent_idempotent_and_salted():
    from parcours_research.privacy import pseudonymise_ids

    conflicts = pd.DataFrame(
        {
            "device_id": ["d0000030", "d0000030"],
            "user_id": ["C000018", "a@b.fr"],
            "n_events": [1, 2],
        }
    )
    excerpts = pd.DataFrame({"customer_id": ["C000018"], "participant": ["P01"], "text": ["ok"]})
    a, b = pseudonymise_ids(conflicts, "s1"), pseudonymise_ids(excerpts, "s1")
    assert a.loc[0, "user_id"] == b.loc[0, "customer_id"]  # same customer, same pseudonym
    assert a[["device_id", "user_id"]].stack().map(is_pseudonym).all() and a[
        "n_events"
    ].tolist() == [1, 2]
    assert pseudonymise_ids(a, "s1").equals(a)  # twice changes nothing
    assert pseudonymise_ids(conflicts, "s2").loc[0, "user_id"] != a.loc[0, "user_id"]
    assert conflicts.loc[0, "user_id"] == "C000018"  # the input is not modified


def test_report_tables_never_hold_raw_ids(tmp_path):
    """Every table the report writes goes through the study's pseudonymisation."""
    from parcours_research.report import _Context

    ctx = _Context.__new__(_Context)  # the output helpers only, without running the study
    ctx.study = pr.load_study(SAMPLE, read_responses=False)
    ctx.out, ctx.tables, ctx.figures, ctx.lang = tmp_path, [], [], "en"
    (tmp_path / "tables").mkdir()
    block = ctx.table(
        "t", pd.DataFrame({"respondent_id": ["R00001"], "session_id": ["s1"], "n": [3]})
    )
    written = (tmp_path / "tables" / "t.csv").read_text(encoding="utf-8")
    assert "R00001" not in written and "R00001" not in block.html and "P-" in written
