"""Reading a practice's export: format, encoding and delimiter from the content; header guessing;
the mapping check; dates, yes/no columns and line numbers of the CSV reader."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest

from portal_app.services.errors import InvalidInput
from portal_app.services.importing import csv_source, detect

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"
TODAY = date(2026, 11, 23)


def _write(tmp_path: Path, data: bytes | str, name: str = "upload.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _rows(path: Path, mapping: dict[str, str] | None = None, **found):
    info = detect.detect(path)
    columns = csv_source.header(path, encoding=info.encoding, delimiter=info.delimiter)
    return list(csv_source.read(path, encoding=info.encoding, delimiter=info.delimiter,
                                mapping=mapping or csv_source.guess_mapping(columns), today=TODAY))


# --- detection -------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "encoding", "delimiter"), [
    ("patients_utf8.csv", "utf-8", ","),
    ("patients_cp1252.csv", "cp1252", ";"),
    ("patients_bom_tab.csv", "utf-8-sig", "\t"),
])
def test_encoding_and_delimiter_come_from_the_content(name, encoding, delimiter):
    found = detect.detect(FIXTURES / name)
    assert (found.fmt, found.encoding, found.delimiter) == ("csv", encoding, delimiter)


def test_the_name_does_not_matter_json_named_csv_is_fhir(tmp_path):
    bundle = _write(tmp_path, json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}, indent=2),
                    "patients.csv")
    ndjson = _write(tmp_path, '{"resourceType": "Patient", "id": "1"}\n{"resourceType": "Patient", "id": "2"}\n',
                    "export.json")
    text = _write(tmp_path, "MRN,First\nA1,Ann\n", "patients.json")
    assert detect.detect(bundle).fmt == detect.BUNDLE
    assert detect.detect(ndjson).fmt == detect.NDJSON
    assert detect.detect(text).fmt == detect.CSV


@pytest.mark.parametrize(("data", "words"), [
    (b"", "The file is empty."),
    (b"\xef\xbb\xbf \r\n\r\n", "The file is empty."),
    (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00binary", "not a text export"),
    (bytes(range(256)) * 4, "not a text export"),
    (b'{"name": "not fhir"}', "not FHIR"),
    (b'[{"resourceType": "Patient"}]', "not FHIR"),
])
def test_unusable_files_are_refused_with_a_sentence(tmp_path, data, words):
    with pytest.raises(InvalidInput, match=words) as refused:
        detect.detect(_write(tmp_path, data))
    assert refused.value.field == "file"


def test_a_header_only_file_says_there_are_no_patients(tmp_path):
    path = _write(tmp_path, "MRN,First Name,Last Name,DOB\r\n\r\n")
    with pytest.raises(InvalidInput, match="header row but no patients"):
        csv_source.header(path, encoding="utf-8", delimiter=",")


# --- header guessing and the mapping check ---------------------------------------------------

@pytest.mark.parametrize(("column", "field"), [
    ("MRN", "chart_number"), ("Patient ID", "chart_number"), ("Chart #", "chart_number"),
    ("chart_no", "chart_number"), ("Medical Record Number", "chart_number"),
    ("First Name", "first_name"), ("given_name", "first_name"), ("Middle Initial", "middle_name"),
    ("LAST NAME", "last_name"), ("Surname", "last_name"), ("Nickname", "preferred_name"),
    ("Gender", "sex"), ("DOB", "dob"), ("Birth Date", "dob"), ("Date of Birth", "dob"), ("birthdate", "dob"),
    ("E-mail", "email"), ("Email Address", "email"), ("Cell", "mobile_phone"), ("Mobile", "mobile_phone"),
    ("Cell Phone", "mobile_phone"), ("Home Phone", "home_phone"), ("Phone", "home_phone"),
    ("Street Address", "address"), ("Address 1", "address"), ("City", "city"), ("State", "state"),
    ("Zip", "postal_code"), ("ZIP Code", "postal_code"), ("Postal Code", "postal_code"),
    ("Allows Email", "allow_email"), ("Email OK", "allow_email"), ("Text OK", "allow_sms"),
    ("SMS Consent", "allow_sms"), ("Deceased", "deceased"), ("Last Visit", "last_visit"),
    ("Last Visit Date", "last_visit"),
])
def test_common_header_names_are_guessed_whatever_their_case_spaces_or_punctuation(column, field):
    assert csv_source.guess_mapping(["Unrelated", column]) == {field: column}


def test_a_column_is_guessed_for_one_field_only_and_unknown_headers_are_left_alone():
    mapping = csv_source.guess_mapping(["Patient ID", "MRN", "Notes", "First", "Last", "Cell", "Phone"])
    assert mapping == {"chart_number": "MRN", "first_name": "First", "last_name": "Last",
                       "mobile_phone": "Cell", "home_phone": "Phone"}


def test_a_column_mapped_twice_names_the_second_field():
    columns = ["MRN", "First", "Last", "Phone"]
    with pytest.raises(InvalidInput, match="“Phone” is already used for Mobile phone") as refused:
        csv_source.check_mapping({"chart_number": "MRN", "mobile_phone": "Phone", "home_phone": "Phone"}, columns)
    assert refused.value.field == "home_phone"


def test_the_chart_number_must_be_mapped_and_columns_must_exist():
    with pytest.raises(InvalidInput) as no_chart:
        csv_source.check_mapping({"first_name": "First"}, ["MRN", "First"])
    assert no_chart.value.field == "chart_number"
    with pytest.raises(InvalidInput, match="no column “Nope”") as unknown:
        csv_source.check_mapping({"chart_number": "MRN", "email": "Nope"}, ["MRN"])
    assert unknown.value.field == "email"
    assert csv_source.check_mapping({"chart_number": "MRN", "email": ""}, ["MRN"]) == {"chart_number": "MRN"}


# --- values ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("02/28/1990", date(1990, 2, 28)), ("2/8/1990", date(1990, 2, 8)), ("1990-02-28", date(1990, 2, 28)),
    ("7/4/62", date(1962, 7, 4)), ("01/05/25", date(2025, 1, 5)), ("12/31/26", date(1926, 12, 31)),
    ("11/23/26", date(2026, 11, 23)), ("  03/04/2001 ", date(2001, 3, 4)), ("", None), ("   ", None),
])
def test_dates_in_the_three_forms_and_two_digit_years_never_in_the_future(text, expected):
    assert csv_source.parse_date(text, label="Date of birth", today=TODAY) == expected


@pytest.mark.parametrize(("text", "words"), [
    ("13/01/1990", "not a real date"), ("02/30/1980", "not a real date"), ("1990-02-30", "not a real date"),
    ("03-04-1970", "without guessing"), ("04.03.1970", "without guessing"), ("March 4 1970", "without guessing"),
    ("19900228", "without guessing"), ("1/2/190", "without guessing"),
])
def test_an_impossible_or_ambiguous_date_is_an_error_not_a_guess(text, words):
    with pytest.raises(InvalidInput, match=words):
        csv_source.parse_date(text, label="Date of birth", today=TODAY)


@pytest.mark.parametrize(("text", "expected"), [
    ("Y", True), ("yes", True), ("TRUE", True), ("1", True), ("n", False), ("No", False), ("false", False),
    ("0", False), ("", None), (" ", None),
])
def test_yes_no_columns(text, expected):
    assert csv_source.parse_bool(text, label="Allows email") is expected


def test_a_yes_no_column_with_another_word_refuses_the_row():
    with pytest.raises(InvalidInput, match="Allows email “maybe” should be Y or N"):
        csv_source.parse_bool("maybe", label="Allows email")


# --- the reader ------------------------------------------------------------------------------

def test_utf8_rows_keep_accents_and_count_lines_across_quoted_line_breaks():
    rows = _rows(FIXTURES / "patients_utf8.csv")
    assert [(row.line, row.chart_number) for row in rows] == [
        (2, "A-1001"), (4, "A-1002"), (5, "A-1003"), (6, "A-1004"), (7, "A-1005"), (8, "A-1006")]
    zoe = rows[0].record
    assert zoe is not None and (zoe.first_name, zoe.last_name, zoe.sex) == ("Zoë", "Nguyễn-Smith", "Female")
    assert zoe.address == "12 Oak St, Apt 4" and zoe.dob == date(1990, 2, 28) and zoe.last_visit == date(2026, 10, 1)
    assert (zoe.allow_email, zoe.allow_sms, zoe.deceased) == (True, True, False)
    jose = rows[1].record
    assert jose is not None and jose.dob == date(1962, 7, 4) and jose.middle_name == "" and jose.deceased is None
    assert (jose.allow_email, jose.allow_sms) == (True, False)
    assert "not a real date" in rows[3].error and "without guessing" in rows[4].error
    assert rows[5].record is not None and rows[5].record.deceased is True


def test_windows_1252_and_bom_tab_files_read_their_accents():
    renee, francois, zeljko = (row.record for row in _rows(FIXTURES / "patients_cp1252.csv"))
    assert renee is not None and (renee.first_name, renee.last_name) == ("Renée", "Lefèvre")
    assert francois is not None and francois.last_name == "Béland-Côté" and francois.email == ""
    assert zeljko is not None and (zeljko.first_name, zeljko.last_name, zeljko.dob) == ("Željko", "Ñúñez",
                                                                                         date(1999, 1, 31))
    asa, moller = (row.record for row in _rows(FIXTURES / "patients_bom_tab.csv"))
    assert asa is not None and (asa.chart_number, asa.first_name, asa.mobile_phone) == ("B-1", "Åsa", "(737) 555-0101")
    assert moller is not None and moller.last_name == "Hansen-Berg"


def test_unmapped_columns_are_none_so_the_chart_keeps_them(tmp_path):
    path = _write(tmp_path, "MRN,First,Last,Email\nA1,Ann,Lee,\n")
    [row] = _rows(path, {"chart_number": "MRN", "email": "Email"})
    assert row.record is not None and row.record.first_name is None and row.record.email == ""


def test_a_ten_megabyte_line_is_a_refused_row_and_the_rows_after_it_are_read(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("MRN,First,Last,DOB\r\nA1,Ann,Lee,01/02/1980\r\n")
        handle.write("A2," + "x" * 10_000_000 + ",Lee,01/02/1980\r\n")
        handle.write("A3,Bo,Lee,01/02/1980\r\n")
    rows = _rows(path)
    assert [row.line for row in rows] == [2, 3, 4]
    assert rows[0].record is not None and rows[2].record is not None and rows[2].chart_number == "A3"
    assert rows[1].record is None and "cannot be read" in rows[1].error


def test_short_and_long_rows_are_refused_and_blank_lines_skipped(tmp_path):
    path = _write(tmp_path, "MRN,First,Last\nA1,Ann\n\nA2,Bo,Lee,extra\nA3,Cy,Lee,\n")
    rows = _rows(path)
    assert [(row.line, row.record is None) for row in rows] == [(2, True), (4, True), (5, False)]
    assert "has 2 values; the header has 3" in rows[0].error


def test_the_reader_streams(tmp_path):
    path = tmp_path / "many.csv"
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["MRN", "First", "Last"])
        out.writerows([f"C{n}", "Ann", "Lee"] for n in range(1000))
    reader = csv_source.read(path, encoding="utf-8", delimiter=",", mapping={"chart_number": "MRN"})
    assert next(reader).chart_number == "C0"  # a generator: nothing is read ahead
