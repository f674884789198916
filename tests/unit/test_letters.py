"""The connection-key letter PDF."""

from __future__ import annotations

import re
import zlib

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
    return streams + b"\n" + b"\n".join(shown)


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


def test_letter_survives_characters_outside_latin1():
    pdf = letters.connection_key_letter(
        practice="Clinic", phone="1", letter_date="d", patient_name="Zoë Łukasz 李",
        address_lines=["a", "b"], key="ABCD-EFGH-JKMN", link="l", expires="e")
    assert b"ABCD-EFGH-JKMN" in page_text(pdf)
