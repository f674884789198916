"""The connection-key letter PDF."""

from __future__ import annotations

import io
import re
import zlib

import pypdf
import pytest

from portal_app.notify import letters


def page_text(pdf: bytes) -> bytes:
    """The PDF's bytes with every FlateDecode stream inflated (works compressed or not)."""
    out = [pdf]
    for match in re.finditer(rb"/FlateDecode.*?stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            out.append(zlib.decompress(match.group(1)))
        except zlib.error:
            pass
    streams = b"\n".join(out)
    # Text is shown as (string) Tj, with ( ) and \\ escaped inside the string.
    shown = [re.sub(rb"\\([()\\])", rb"\1", m) for m in re.findall(rb"\((.*?)(?<!\\)\) ?Tj", streams)]
    return streams + b"\n" + b"\n".join(shown) + b"\n" + extracted_text(pdf).encode()


def extracted_text(pdf: bytes) -> str:
    """The text a reader gets from the PDF (the embedded Unicode fonts show glyph ids, read back
    through the PDF's own character maps)."""
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def make() -> bytes:
    return letters.connection_key_letter(
        practice="Riverside Family Practice", phone="(555) 010-0100",
        letter_date="November 23, 2026", patient_name="Maria Lopez",
        address_lines=["12 Elm Street", "Springfield, IL 62701"], key="ABCD-EFGH-JKMN",
        link="https://portal.example.org/setup?p=createAccount", expires="December 14, 2026")


def test_letter_is_a_one_page_pdf_with_everything_the_patient_needs():
    pdf = make()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert b"/Count 1" in pdf  # one page
    text = page_text(pdf)
    for needle in (b"ABCD-EFGH-JKMN", b"Riverside Family Practice", b"(555) 010-0100",
                   b"November 23, 2026", b"Maria Lopez", b"12 Elm Street",
                   b"Springfield, IL 62701", b"setup?p=createAccount", b"December 14, 2026"):
        assert needle in text, needle


NAME = "Zoë Łukasz Ng Nguyễn 王"


def test_letter_prints_every_name_in_an_embedded_unicode_font():
    pdf = letters.connection_key_letter(
        practice="Clínica Ærø", phone="1", letter_date="d", patient_name=NAME,
        address_lines=["Straße 5", "b"], key="ABCD-EFGH-JKMN", link="l", expires="e")
    text = extracted_text(pdf)
    assert "ABCD-EFGH-JKMN" in text and NAME in text and "Clínica Ærø" in text and "Straße 5" in text
    assert "?" not in text.split("Your patient portal connection key")[0]  # the letterhead and address
    assert b"/FontFile2" in pdf  # the fonts travel inside the PDF


def test_credential_sheet_prints_every_name():
    pdf = letters.credential_sheet(
        practice="Clinic", phone="1", sheet_date="d", person_name=NAME, patient_name="Ана Петрова",
        portal_url="https://portal.example.org", user_id="zoë@example.org", password="Pw-1234-abcd",
        must_change=True, expires="Monday")
    text = extracted_text(pdf)
    assert NAME in text and "Ана Петрова" in text and "zoë@example.org" in text and "Pw-1234-abcd" in text
    assert "?" not in text.split("How to sign in")[0]


def test_a_missing_font_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.setitem(letters.FONT_FILES, ("Sans", ""), tmp_path / "DejaVuSans.ttf")
    with pytest.raises(letters.FontMissing, match="fonts-dejavu-core"):
        letters.connection_key_letter(practice="C", phone="1", letter_date="d", patient_name="n",
                                      address_lines=[], key="K", link="l", expires="e")
