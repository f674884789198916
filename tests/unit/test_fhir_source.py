"""The FHIR R4 reader: Patient resources from a Bundle or Bulk Data NDJSON, one SourceRow at a time."""

from __future__ import annotations

import builtins
import json
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import select

from portal_app.models import Patient
from portal_app.services import audit, patient_records
from portal_app.services.importing import fhir_source
from portal_app.services.importing.rows import SourceRow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
BUNDLE = str(FIXTURES / "practice_bundle.json")
NDJSON = str(FIXTURES / "bulk_patients.ndjson")
SAMPLES = Path("/work/shared/import-samples")
EPIC = "urn:oid:1.2.840.114350.1.13.861.1.7.5.737384.14"
MR = {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
      "value": "T-1"}


def _rows(path: str, fmt: str = "fhir-bundle", **kw) -> dict[int, SourceRow]:
    rows = list(fhir_source.read(path, fmt=fmt, **kw))
    assert len({row.line for row in rows}) == len(rows), "every row has its own line"
    return {row.line: row for row in rows}


def _one(tmp_path: Path, **resource) -> SourceRow:
    """The single row a one-line NDJSON file of this Patient gives."""
    path = tmp_path / "one.ndjson"
    path.write_text(json.dumps({"resourceType": "Patient", "identifier": [MR], "birthDate": "1970-01-01", **resource}))
    [row] = fhir_source.read(str(path), fmt="ndjson")
    return row


def test_a_bundle_patient_maps_official_name_usual_as_preferred_contacts_home_address_and_consent():
    row = _rows(BUNDLE)[1]
    assert row.error == "" and row.chart_number == "A-10023"
    record = row.record
    assert record is not None
    assert (record.first_name, record.middle_name, record.last_name, record.preferred_name) == (
        "María", "José", "Ramírez-López", "Majo")
    assert (record.sex, record.dob) == ("Female", date(1984, 3, 9))
    # the mobile whose period ended in 2021 is passed over; the work phone has no field of ours
    assert (record.email, record.mobile_phone, record.home_phone) == (
        "majo.ramirez@example.com", "617-555-0188", "617-555-0102")
    assert (record.address, record.city, record.state, record.postal_code) == (
        "42 Calle del Sol, Apt 3B", "Jamaica Plain", "MA", "02130")
    assert (record.allow_email, record.allow_sms) == (True, False)
    assert (record.deceased, record.deceased_on, record.last_visit) == (None, None, None)


def test_what_a_resource_does_not_carry_stays_none_and_a_single_given_name_means_no_middle_name():
    record = _rows(BUNDLE)[2].record
    assert record is not None
    assert (record.first_name, record.middle_name, record.last_name) == ("Seán", "", "O'Brien-Nguyen")
    assert (record.email, record.mobile_phone, record.home_phone) == (None, None, None)  # only a work phone
    assert (record.allow_email, record.allow_sms, record.preferred_name) == (None, None, None)
    assert (record.address, record.city) == ("17 Harbor St", "New Bedford")  # the first address, no use given


def test_non_patient_entries_are_skipped_and_every_entry_keeps_its_bundle_position():
    rows = _rows(BUNDLE)
    assert sorted(rows) == list(range(1, 12))
    assert [line for line, row in rows.items() if row.skipped] == [3, 10, 11]  # Observation, Encounter, DELETE
    assert all(row.record is None and row.error == "" for row in rows.values() if row.skipped)


def test_deceased_date_time_keeps_the_date_as_written_and_deceased_boolean_has_no_date():
    rows = _rows(BUNDLE)
    walter = rows[4].record
    assert walter is not None and (walter.deceased, walter.deceased_on) == (True, date(2024, 8, 14))
    doe = rows[8].record  # family name only, gender unknown, deceasedBoolean
    assert doe is not None
    assert (doe.first_name, doe.last_name, doe.sex) == (None, "Doe", "Unknown")
    assert (doe.deceased, doe.deceased_on) == (True, None)
    alive = _rows(NDJSON, "ndjson")[9].record
    assert alive is not None and (alive.deceased, alive.deceased_on) == (False, None)


def test_a_patient_that_fails_validation_is_refused_with_the_validators_reason_and_where():
    row = _rows(BUNDLE)[5]
    assert row.record is None and row.chart_number == "A-10026"
    assert row.error == "Not a valid FHIR Patient: birthDate: 1971-02-30 is not a real date"
    extra = _rows(NDJSON, "ndjson")[5]
    assert extra.error == "Not a valid FHIR Patient: favouriteColour: is not a field of a FHIR Patient"


def test_a_validation_error_deep_in_the_resource_names_its_path_and_counts_the_others(tmp_path):
    row = _one(tmp_path, name=[{"family": "Ng", "given": ["Ann"]}, {"family": "Ng", "given": "Ann"}])
    assert row.record is None and row.chart_number == "T-1"
    assert row.error == "Not a valid FHIR Patient: name[1].given: should be a list"
    two = _one(tmp_path, name=[{"family": "Ng", "given": "Ann"}], gender=3)
    assert two.error == "Not a valid FHIR Patient: gender: Input should be a valid string (and 1 more)"


def test_a_partial_birth_date_is_refused_not_guessed():
    assert _rows(BUNDLE)[6].error == ("Date of birth 1980-04 is only partly known; the chart needs the day, "
                                      "month and year.")
    year_only = _rows(NDJSON, "ndjson")[7]
    assert year_only.record is None and year_only.chart_number == "B-20005"
    assert year_only.error.startswith("Date of birth 1980 is only partly known")


def test_no_mr_identifier_is_refused_and_an_old_mr_identifier_is_passed_over():
    rows = _rows(BUNDLE)
    assert rows[7].record is None and rows[7].error == "No chart number (MR identifier)."
    zoe = rows[9].record
    assert zoe is not None and zoe.chart_number == "A-10029"  # not the `old` OLD-77


def test_a_configured_identifier_system_gives_the_chart_number(tmp_path):
    rows = _rows(BUNDLE, chart_system=EPIC)
    assert [rows[line].chart_number for line in (1, 2, 4, 7, 9)] == ["E884512", "E884513", "E884514", "E884519",
                                                                     "E884520"]
    assert rows[7].record is not None  # no MR, but the configured system is there
    assert rows[8].error == f"No chart number (identifier with system {EPIC})."


def test_an_ended_name_is_passed_over_for_the_current_official_one():
    zoe = _rows(BUNDLE)[9].record
    assert zoe is not None
    assert (zoe.first_name, zoe.middle_name, zoe.last_name, zoe.sex) == ("Zoë", "Anne-Marie", "van der Berg", "Other")
    assert (zoe.email, zoe.address) == (None, None)


def test_usual_name_is_used_when_there_is_no_official_one(tmp_path):
    row = _one(tmp_path, name=[{"use": "maiden", "family": "Ortiz", "given": ["Lucía"]},
                               {"use": "usual", "family": "Ortiz-Reyes", "given": ["Lucía", "Isabel"]}])
    assert row.record is not None
    assert (row.record.first_name, row.record.middle_name, row.record.last_name, row.record.preferred_name) == (
        "Lucía", "Isabel", "Ortiz-Reyes", None)


@pytest.mark.parametrize(("gender", "sex"), [("female", "Female"), ("male", "Male"), ("other", "Other"),
                                             ("unknown", "Unknown")])
def test_every_fhir_gender_has_its_sex(tmp_path, gender, sex):
    row = _one(tmp_path, gender=gender)
    assert row.record is not None and row.record.sex == sex


def test_a_gender_outside_fhirs_four_codes_is_refused():
    row = _rows(NDJSON, "ndjson")[6]
    assert row.record is None and row.chart_number == "B-20004"
    assert row.error == "Gender 'F' is not a FHIR gender (female, male, other, unknown)."


def test_telecoms_whose_period_ended_are_passed_over_and_the_lowest_rank_wins(tmp_path, frozen_clock):
    row = _one(tmp_path, telecom=[
        {"system": "phone", "value": "111-555-0101", "use": "home", "period": {"end": "2026-10"}},
        {"system": "phone", "value": "222-555-0102", "use": "home", "period": {"end": "2027-01-01T00:00:00Z"}},
        {"system": "email", "value": "gone@example.com", "rank": 1, "period": {"end": "2026-11-22T23:00:00+00:00"}},
        {"system": "email", "value": "second@example.com", "rank": 2},
        {"system": "email", "value": "first@example.com", "rank": 1},
        {"system": "phone", "value": "333-555-0103", "use": "mobile", "period": {"end": "2025"}},
    ])
    assert row.record is not None
    assert (row.record.home_phone, row.record.email, row.record.mobile_phone) == (
        "222-555-0102", "first@example.com", None)


def test_ndjson_lines_are_numbered_as_in_the_file_and_a_cut_short_line_does_not_stop_the_rest():
    rows = _rows(NDJSON, "ndjson")
    assert sorted(rows) == [1, 2, 3, 5, 6, 7, 8, 9]  # line 4 is blank
    assert rows[3].skipped
    assert rows[8].record is None
    assert rows[8].error == "Line 8 is cut short or is not JSON (unterminated string starting at column 53)."
    last = rows[9].record
    assert last is not None and (last.chart_number, last.first_name, last.last_name) == ("B-20006", "Mary-Kate",
                                                                                         "St. John")
    amara = rows[1].record
    assert amara is not None
    assert (amara.preferred_name, amara.mobile_phone, amara.email) == ("Amy", "774-555-0123", "amara.nb@example.org")


def test_a_bundle_of_observations_only_gives_only_skipped_rows():
    rows = _rows(str(FIXTURES / "observations_only.json"))
    assert len(rows) == 3 and all(row.skipped for row in rows.values())


def test_a_file_holding_one_patient_instead_of_a_bundle_is_read_as_entry_one():
    [row] = fhir_source.read(str(FIXTURES / "single_patient.json"), fmt="fhir-bundle")
    assert row.line == 1 and row.record is not None and row.record.chart_number == "A-10024"


def test_a_bundle_is_read_incrementally_so_the_first_row_comes_before_a_broken_tail(tmp_path, monkeypatch):
    entry = json.loads(Path(BUNDLE).read_text())["entry"][0]
    filler = {"resource": {"resourceType": "Observation", "status": "final", "note": [{"text": "x" * 4_000_000}]}}
    path = tmp_path / "cut.json"
    path.write_text('{"resourceType": "Bundle", "type": "collection", "entry": [' + json.dumps(entry) + ", "
                    + json.dumps(filler) + ', {"resource": {"resourceType": "Patient", "id": ')
    size = path.stat().st_size
    read_so_far = []

    class Counting:
        def __init__(self, handle):
            self.handle = handle

        def read(self, n=-1):
            data = self.handle.read(n)
            read_so_far.append(len(data))
            return data

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(fhir_source, "open", lambda p, mode="r": Counting(builtins.open(p, mode)), raising=False)
    rows = fhir_source.read(str(path), fmt="fhir-bundle")
    first = next(rows)
    assert first.line == 1 and first.record is not None and first.record.chart_number == "A-10023"
    assert sum(read_so_far) < size / 4  # the 4 MB entry after it has not been read yet
    assert next(rows).skipped
    broken = next(rows)
    assert broken.line == 3 and broken.record is None
    assert broken.error.startswith("The file stops being valid JSON after entry 2 (")
    assert broken.error.endswith("the entries before that point were read, nothing after it.")
    assert list(rows) == []


def test_a_byte_order_mark_before_a_bundle_or_an_ndjson_file_is_allowed(tmp_path):
    bundle = tmp_path / "bom.json"
    bundle.write_bytes(b"\xef\xbb\xbf" + Path(BUNDLE).read_bytes())
    assert [row.chart_number for row in fhir_source.read(str(bundle), fmt="fhir-bundle")][:2] == ["A-10023", "A-10024"]
    lines = tmp_path / "bom.ndjson"
    lines.write_bytes(b"\xef\xbb\xbf" + Path(NDJSON).read_bytes())
    assert next(fhir_source.read(str(lines), fmt="ndjson")).chart_number == "B-20001"
    single = tmp_path / "one.json"
    single.write_bytes(b"\xef\xbb\xbf" + (FIXTURES / "single_patient.json").read_bytes())
    assert next(fhir_source.read(str(single), fmt="fhir-bundle")).chart_number == "A-10024"


def test_a_file_that_is_not_json_at_all_is_one_refused_row(tmp_path):
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(bytes(range(256)) * 4)
    [row] = fhir_source.read(str(garbage), fmt="fhir-bundle")
    assert row.record is None and row.error.startswith("The file is not valid JSON (")
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    [row] = fhir_source.read(str(empty), fmt="fhir-bundle")
    assert row.error.endswith("nothing in it could be read.")
    not_fhir = tmp_path / "list.json"
    not_fhir.write_text('{"patients": [1, 2]}')
    assert [row.error for row in fhir_source.read(str(not_fhir), fmt="fhir-bundle")] == [
        "This JSON file is not a FHIR Bundle (it has no resourceType)."]


def test_an_ndjson_line_that_is_not_utf8_or_too_long_is_refused_and_the_next_line_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(fhir_source, "MAX_LINE", 2_000)
    good = json.dumps({"resourceType": "Patient", "identifier": [MR], "birthDate": "1970-01-01"})
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(b'{"resourceType": "Patient", "name": [{"family": "M\xfcller"}]}\n'
                     + b'{"resourceType": "Patient", "text": "' + b"y" * 5_000 + b'"}\n' + good.encode() + b"\n")
    rows = _rows(str(path), "ndjson")
    assert rows[1].error == "Line 1 is not UTF-8 text (FHIR JSON always is)."
    assert rows[2].error.startswith("Line 2 is longer than ")
    assert rows[3].record is not None and rows[3].record.chart_number == "T-1"


def test_an_unknown_format_is_refused_at_once():
    with pytest.raises(ValueError, match="Unknown FHIR format"):
        fhir_source.read(BUNDLE, fmt="csv")


def test_bundle_rows_become_charts_through_the_one_upsert(session, frozen_clock):
    actor = audit.Actor.system("test import")
    for row in fhir_source.read(BUNDLE, fmt="fhir-bundle"):
        if row.record is not None and row.record.first_name:  # A-10028 (family name only) is refused there
            patient_records.upsert(session=session, record=row.record, actor=actor, source="fhir")
    session.commit()
    charts = {p.chart_number: p for p in session.exec(select(Patient)).all()}
    assert sorted(charts) == ["A-10023", "A-10024", "A-10025", "A-10029"]
    maria = charts["A-10023"]
    assert (maria.mobile_phone, maria.allow_email, maria.allow_sms) == ("+16175550188", True, False)
    assert charts["A-10025"].deceased and charts["A-10025"].deceased_on == date(2024, 8, 14)
    again = [patient_records.upsert(session=session, record=row.record, actor=actor, source="fhir").kind
             for row in fhir_source.read(BUNDLE, fmt="fhir-bundle") if row.record is not None and row.record.first_name]
    assert again == ["unchanged"] * 4


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="the public import samples are not on this machine")
def test_the_public_synthea_samples_give_sensible_charts():
    bundle = list(fhir_source.read(str(SAMPLES / "fhir_bundle_synthea_mejia.json"), fmt="fhir-bundle"))
    assert [row.skipped for row in bundle] == [False, True, True, True, True]
    gustavo = bundle[0].record
    assert gustavo is not None and gustavo.chart_number == "59a8543c-e24f-4a01-b28b-47ccde6bc11d"
    assert (gustavo.first_name, gustavo.last_name, gustavo.dob, gustavo.sex) == (
        "Gustavo", "Mejía", date(1986, 11, 27), "Male")

    rows = list(fhir_source.read(str(SAMPLES / "fhir_bulk_patient_synthea.ndjson"), fmt="ndjson"))
    assert [row.line for row in rows] == list(range(1, 21))
    records = [row.record for row in rows]
    assert all(record is not None for record in records), [row.error for row in rows if row.error]
    charts = [record.chart_number for record in records if record]
    assert len(set(charts)) == 20 and all(len(chart) == 36 and chart.count("-") == 4 for chart in charts)
    assert all(record and record.first_name and record.last_name and record.dob for record in records)
    deceased = [record for record in records if record and record.deceased]
    assert len(deceased) == 4 and all(record.deceased_on for record in deceased)
    # married women carry an official and a maiden name: the official one is the chart's
    johns = next(record for record in records if record and record.first_name == "Johnetta529")
    assert johns.last_name == "Johns824"


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="the public import samples are not on this machine")
def test_the_public_synthea_patients_are_imported_with_their_uuid_charts_and_phones_as_written(session, frozen_clock):
    # Synthea's MR identifiers are 36-character UUIDs and its phones (555-907-9875) are not real
    # numbers: the charts come in, the numbers kept exactly as the EHR has them.
    actor = audit.Actor.system("test import")
    rows = list(fhir_source.read(str(SAMPLES / "fhir_bulk_patient_synthea.ndjson"), fmt="ndjson"))
    results = patient_records.upsert_many(session=session, records=[row.record for row in rows if row.record],
                                          actor=actor, source="fhir")
    session.commit()
    assert [getattr(result, "kind", result) for result in results] == ["new"] * 20
    phones = [patient.home_phone for patient in session.exec(select(Patient))]
    assert any(phone.startswith("555-") for phone in phones)
