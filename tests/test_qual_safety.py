"""Hostile and damaged files are refused with a clear error naming the part that is wrong.

The attacks are the classic ones: the "billion laughs" entity-expansion bomb and the XML
external entity (XXE, OWASP), zip path traversal ("zip slip", Snyk 2018), and the zip bomb
(a member whose compression ratio is in the thousands).
"""

from __future__ import annotations

import io
import os
import zipfile

import pytest
from qual_fixtures import ALICE_TEXT, hand_qdpx, project_qde, write_zip

from parcours_research.errors import QualDataError, UnsafeFileError
from parcours_research.qual import Limits, read_qdpx
from parcours_research.qual.safety import SafeZip, check_member_name, parse_xml

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE Project [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Project xmlns="urn:QDA-XML:project:1.0" name="&lol9;"/>
"""


def xxe(target: str) -> str:
    return f"""<?xml version="1.0"?>
<!DOCTYPE Project [<!ENTITY xxe SYSTEM "{target}">]>
<Project xmlns="urn:QDA-XML:project:1.0" name="x"><Description>&xxe;</Description></Project>
"""


def test_billion_laughs_is_refused(tmp_path):
    path = write_zip(tmp_path / "bomb.qdpx", {"project.qde": BILLION_LAUGHS})
    with pytest.raises(UnsafeFileError) as ei:
        read_qdpx(path)
    msg = str(ei.value)
    assert "bomb.qdpx: project.qde" in msg
    assert "billion laughs" in msg and "'lol'" in msg


def test_external_entity_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    path = write_zip(tmp_path / "xxe.qdpx", {"project.qde": xxe(secret.as_uri())})
    with pytest.raises(UnsafeFileError) as ei:
        read_qdpx(path)
    msg = str(ei.value)
    assert "external entity 'xxe'" in msg and "XXE" in msg and "xxe.qdpx: project.qde" in msg
    assert "TOP SECRET" not in msg


def test_external_entity_in_bare_qde(tmp_path):
    p = tmp_path / "project.qde"
    p.write_text(xxe("http://example.invalid/x"))
    with pytest.raises(UnsafeFileError, match="external entity"):
        read_qdpx(p)


def test_parse_xml_direct():
    with pytest.raises(UnsafeFileError, match="billion laughs"):
        parse_xml(BILLION_LAUGHS.encode(), "f.xml")
    with pytest.raises(QualDataError, match=r"f\.xml: not well-formed XML at line 1"):
        parse_xml(b"<Project><Users></Project>", "f.xml")
    assert parse_xml(b"<a><b/></a>", "f.xml").tag == "a"


@pytest.mark.parametrize(
    "name, why",
    [
        ("../evil.txt", "'..'"),
        ("sources/../../evil.txt", "'..'"),
        ("..\\..\\evil.txt", "'..'"),
        ("/etc/cron.d/evil", "absolute path"),
        ("\\\\server\\share\\evil", "absolute path"),
        ("C:\\Windows\\evil.dll", "drive letter"),
        ("c:evil", "drive letter"),
    ],
)
def test_path_traversal_is_refused(tmp_path, name, why):
    members = {"project.qde": project_qde(), "sources/alice.txt": ALICE_TEXT, name: b"pwned"}
    path = write_zip(tmp_path / "slip.qdpx", members)
    before = set(os.listdir(tmp_path)) | set(os.listdir(tmp_path.parent))
    with pytest.raises(UnsafeFileError) as ei:
        read_qdpx(path)
    msg = str(ei.value)
    assert "slip.qdpx was refused as unsafe" in msg and why in msg and "path traversal" in msg
    assert ei.value.problems[0].column == name
    # nothing was written anywhere
    assert set(os.listdir(tmp_path)) | set(os.listdir(tmp_path.parent)) == before


def test_member_names():
    assert check_member_name("sources/a..b.txt") is None
    assert check_member_name("sources/abc.txt") is None
    assert check_member_name("a\x00b") == "contains a NUL byte"


def test_zip_bomb_ratio_is_refused(tmp_path):
    # 64 MiB of zeros deflate to ~64 KiB: a ratio near 1000
    bomb = bytes(64 << 20)
    path = write_zip(
        tmp_path / "zbomb.qdpx", {"project.qde": project_qde(), "sources/alice.txt": bomb}
    )
    assert os.path.getsize(path) < 1 << 20
    with pytest.raises(UnsafeFileError) as ei:
        read_qdpx(path)
    msg = str(ei.value)
    assert "zbomb.qdpx was refused" in msg and "sources/alice.txt" in msg
    assert "compresses" in msg and "zip bomb" in msg


def test_total_size_and_member_limits(tmp_path):
    path = hand_qdpx(tmp_path / "ok.qdpx")
    with pytest.raises(UnsafeFileError, match="in total, more than the limit"):
        read_qdpx(path, limits=Limits(max_total_size=1000))
    with pytest.raises(UnsafeFileError, match="more than the limit of 100"):
        read_qdpx(path, limits=Limits(max_member_size=100))
    with pytest.raises(UnsafeFileError, match="2 entries, more than the limit of 1"):
        read_qdpx(path, limits=Limits(max_members=1))
    # and the default limits accept it
    assert len(read_qdpx(path, personas={"C002": "connecte"})) == 6


def test_duplicate_member_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("project.qde", project_qde())
        zf.writestr("project.qde", "<Project/>")
    path = tmp_path / "dup.qdpx"
    path.write_bytes(buf.getvalue())
    with pytest.raises(UnsafeFileError, match="appears twice"):
        read_qdpx(path)


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9, 0.99])
def test_truncated_archive(tmp_path, keep):
    full = hand_qdpx(tmp_path / "full.qdpx").read_bytes()
    path = tmp_path / "cut.qdpx"
    path.write_bytes(full[: int(len(full) * keep)])
    with pytest.raises(QualDataError) as ei:
        read_qdpx(path)
    assert not isinstance(ei.value, UnsafeFileError)
    msg = str(ei.value)
    assert "cut.qdpx" in msg
    assert "truncated" in msg


def test_truncated_xml_inside_archive(tmp_path):
    qde = project_qde()
    path = write_zip(tmp_path / "half.qdpx", {"project.qde": qde[: len(qde) // 2]})
    with pytest.raises(
        QualDataError, match=r"half\.qdpx: project\.qde: not well-formed XML at line \d+"
    ):
        read_qdpx(path)


def test_corrupted_member_is_reported(tmp_path):
    data = bytearray(hand_qdpx(tmp_path / "c.qdpx").read_bytes())
    # flip bytes inside the first member's compressed data (after its 30-byte local header + name)
    with zipfile.ZipFile(tmp_path / "c.qdpx") as z:
        info = z.getinfo("project.qde")
    start = info.header_offset + 30 + len(info.filename) + 20
    for i in range(start, start + 40):
        data[i] ^= 0xFF
    path = tmp_path / "corrupt.qdpx"
    path.write_bytes(bytes(data))
    with pytest.raises(QualDataError, match=r"corrupt\.qdpx.*(cannot be read|not well-formed)"):
        read_qdpx(path)


def test_member_lying_about_its_size(tmp_path):
    # the central directory claims 1,000 bytes for a member that inflates to 4 MiB: the check
    # passes on the claim, and reading stops at the claimed size and fails the CRC
    path = write_zip(
        tmp_path / "liar.qdpx", {"project.qde": project_qde(), "sources/alice.txt": bytes(4 << 20)}
    )
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        real = z.getinfo("sources/alice.txt").file_size
    central = data.index(b"PK\x01\x02")  # the central directory follows the members
    pos = data.index(b"sources/alice.txt", central) - 46  # start of that entry (46-byte header)
    assert int.from_bytes(data[pos + 24 : pos + 28], "little") == real
    data[pos + 24 : pos + 28] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with (
        SafeZip(path) as z,
        pytest.raises(QualDataError, match="liar.qdpx: entry 'sources/alice.txt' cannot be read"),
    ):
        z.read("sources/alice.txt")


def test_plain_text_posing_as_qdpx(tmp_path):
    p = tmp_path / "notes.qdpx"
    p.write_text("juste des notes")
    with pytest.raises(QualDataError, match="notes.qdpx: not a zip archive"):
        read_qdpx(p)


def test_not_a_zip(tmp_path):
    p = tmp_path / "fake.qdpx"
    p.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(QualDataError, match="fake.qdpx: not a readable zip archive"):
        read_qdpx(p)


def test_safezip_reads_in_memory(tmp_path):
    path = hand_qdpx(tmp_path / "m.qdpx")
    with SafeZip(path) as z:
        assert z.find("PROJECT.QDE") == "project.qde"
        assert z.read_text("sources/alice.txt") == ALICE_TEXT  # BOM dropped
        with pytest.raises(QualDataError, match="no entry 'nope'"):
            z.read("nope")
