"""Shared helpers for the qualitative tests: a small journey and hand-built REFI-QDA files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from parcours_research.journey import JourneyMap, Label, Persona, Stage, Touchpoint

NS = "urn:QDA-XML:project:1.0"


def small_journey() -> JourneyMap:
    stages = (
        Stage("acquerir", Label("Acquérir", "Acquire"), 1),
        Stage("integrer", Label("Intégrer", "Onboard"), 2),
    )
    tps = (
        Touchpoint(
            "signup", Label("Souscription en ligne", "Online signup"), "acquerir", "web", order=1
        ),
        Touchpoint(
            "store_advice",
            Label("Conseil en agence", "Store advice"),
            "acquerir",
            "store",
            nature="tangible",
            order=2,
        ),
        Touchpoint(
            "id_verification",
            Label("Vérification d'identité", "ID check"),
            "integrer",
            "app",
            moment_of_truth=True,
            order=3,
        ),
    )
    personas = (
        Persona("senior", Label("Senior", "Senior")),
        Persona("connecte", Label("Connecté", "Connected")),
    )
    return JourneyMap("test", stages, tps, personas)


def zip_bytes(members: dict[str, bytes | str], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data.encode("utf-8") if isinstance(data, str) else data)
    return buf.getvalue()


def write_zip(
    path: Path, members: dict[str, bytes | str], compression=zipfile.ZIP_DEFLATED
) -> Path:
    path.write_bytes(zip_bytes(members, compression))
    return path


# GUIDs of the hand-written project below
U_ANNE = "11111111-0000-0000-0000-000000000001"
U_BRUNO = "11111111-0000-0000-0000-000000000002"
C_FAM_ID = "22222222-0000-0000-0000-000000000001"  # family "Vérification d'identité"
C_WAIT = "22222222-0000-0000-0000-000000000002"  # "Attente" under it
C_SIGNUP = "22222222-0000-0000-0000-000000000003"  # "signup" (a touchpoint id)
C_VAL = "22222222-0000-0000-0000-000000000010"  # family "Valence"
C_NEG2 = "22222222-0000-0000-0000-000000000011"  # "très négatif"
C_NEG1 = "22222222-0000-0000-0000-000000000012"  # "-1"
C_POS1 = "22222222-0000-0000-0000-000000000013"  # "positif"
C_STAGE = "22222222-0000-0000-0000-000000000020"  # family "Acquérir" (a stage label)
C_PRICE = "22222222-0000-0000-0000-000000000021"  # "Prix" under the stage family
C_FREE = "22222222-0000-0000-0000-000000000030"  # "Méthodologie" (maps to nothing)
V_PERSONA = "33333333-0000-0000-0000-000000000001"
V_CUSTOMER = "33333333-0000-0000-0000-000000000002"
S_ALICE = "44444444-0000-0000-0000-000000000001"
S_BOB = "44444444-0000-0000-0000-000000000002"

ALICE_TEXT = "Bonjour. L'étape d'identité 🙄 a pris trois semaines !\r\nJ'ai adoré l'inscription."
BOB_TEXT = "Le conseiller était top. Le prix, en revanche…"


def span(text: str, part: str) -> tuple[int, int]:
    start = text.index(part)
    return start, start + len(part)


def project_qde(
    alice_path: str = "internal://alice.txt", extra_selection: str = "", extra_codes: str = ""
) -> str:
    """A REFI-QDA project written by hand from Project.xsd (not by write_qdpx)."""
    a1 = span(ALICE_TEXT, "L'étape d'identité 🙄 a pris trois semaines !")
    a2 = span(ALICE_TEXT, "J'ai adoré l'inscription.")
    b1 = span(BOB_TEXT, "Le conseiller était top.")
    b2 = span(BOB_TEXT, "Le prix, en revanche…")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="{NS}" name="Étude test" origin="hand-written">
  <Users>
    <User guid="{U_ANNE}" name="Anne"/>
    <User guid="{U_BRUNO}" name="Bruno"/>
  </Users>
  <CodeBook>
    <Codes>
      <Code guid="{C_FAM_ID}" name="Vérification d'identité" isCodable="false">
        <Code guid="{C_WAIT}" name="Attente" isCodable="true"/>
      </Code>
      <Code guid="{C_SIGNUP}" name="signup" isCodable="true"/>
      <Code guid="{C_VAL}" name="Valence" isCodable="false">
        <Code guid="{C_NEG2}" name="très négatif" isCodable="true"/>
        <Code guid="{C_NEG1}" name="-1" isCodable="true"/>
        <Code guid="{C_POS1}" name="positif" isCodable="true"/>
      </Code>
      <Code guid="{C_STAGE}" name="Acquérir" isCodable="false">
        <Code guid="{C_PRICE}" name="Prix" isCodable="true"/>
      </Code>
      <Code guid="{C_FREE}" name="Méthodologie" isCodable="true"/>{extra_codes}
    </Codes>
  </CodeBook>
  <Variables>
    <Variable guid="{V_PERSONA}" name="persona" typeOfVariable="Text"/>
    <Variable guid="{V_CUSTOMER}" name="customer_id" typeOfVariable="Text"/>
  </Variables>
  <Cases>
    <Case guid="55555555-0000-0000-0000-000000000001" name="Alice">
      <VariableValue><VariableRef targetGUID="{V_PERSONA}"/><TextValue>senior</TextValue></VariableValue>
      <VariableValue><VariableRef targetGUID="{V_CUSTOMER}"/><TextValue>C001</TextValue></VariableValue>
      <SourceRef targetGUID="{S_ALICE}"/>
    </Case>
    <Case guid="55555555-0000-0000-0000-000000000002" name="Bob">
      <VariableValue><VariableRef targetGUID="{V_CUSTOMER}"/><TextValue>C002</TextValue></VariableValue>
      <SourceRef targetGUID="{S_BOB}"/>
    </Case>
  </Cases>
  <Sources>
    <TextSource guid="{S_ALICE}" name="Entretien Alice" plainTextPath="{alice_path}" creatingUser="{U_ANNE}">
      <PlainTextSelection guid="66666666-0000-0000-0000-000000000001" name="s1"
                          startPosition="{a1[0]}" endPosition="{a1[1]}" creatingUser="{U_ANNE}">
        <Coding guid="77777777-0000-0000-0000-000000000001" creatingUser="{U_ANNE}"><CodeRef targetGUID="{C_WAIT}"/></Coding>
        <Coding guid="77777777-0000-0000-0000-000000000002" creatingUser="{U_ANNE}"><CodeRef targetGUID="{C_NEG2}"/></Coding>
        <Coding guid="77777777-0000-0000-0000-000000000003" creatingUser="{U_BRUNO}"><CodeRef targetGUID="{C_WAIT}"/></Coding>
        <Coding guid="77777777-0000-0000-0000-000000000004" creatingUser="{U_BRUNO}"><CodeRef targetGUID="{C_NEG1}"/></Coding>
      </PlainTextSelection>
      <PlainTextSelection guid="66666666-0000-0000-0000-000000000002" name="s2"
                          startPosition="{a2[0]}" endPosition="{a2[1]}" creatingUser="{U_ANNE}">
        <Coding guid="77777777-0000-0000-0000-000000000005"><CodeRef targetGUID="{C_SIGNUP}"/></Coding>
        <Coding guid="77777777-0000-0000-0000-000000000006"><CodeRef targetGUID="{C_POS1}"/></Coding>
        <Coding guid="77777777-0000-0000-0000-000000000007"><CodeRef targetGUID="{C_FREE}"/></Coding>
      </PlainTextSelection>{extra_selection}
    </TextSource>
    <TextSource guid="{S_BOB}" name="Entretien Bob" creatingUser="{U_BRUNO}">
      <PlainTextContent>{BOB_TEXT}</PlainTextContent>
      <PlainTextSelection guid="66666666-0000-0000-0000-000000000003" startPosition="{b1[0]}" endPosition="{b1[1]}">
        <Coding guid="77777777-0000-0000-0000-000000000008" creatingUser="{U_BRUNO}"><CodeRef targetGUID="{C_POS1}"/></Coding>
      </PlainTextSelection>
      <PlainTextSelection guid="66666666-0000-0000-0000-000000000004" startPosition="{b2[0]}" endPosition="{b2[1]}">
        <Coding guid="77777777-0000-0000-0000-000000000009" creatingUser="{U_BRUNO}"><CodeRef targetGUID="{C_PRICE}"/></Coding>
      </PlainTextSelection>
    </TextSource>
  </Sources>
</Project>
"""


def hand_qdpx(path: Path, **kwargs) -> Path:
    return write_zip(
        path,
        {
            "project.qde": project_qde(**kwargs),
            # written with a BOM and CRLF, as Windows tools do: offsets count characters after the BOM
            "sources/alice.txt": "\ufeff" + ALICE_TEXT,
        },
    )
